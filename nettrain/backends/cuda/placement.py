"""Where shared values live: float32 arrays (not scalars) on the device when ``config.device`` is a GPU."""

import numpy as np

from ...configdefaults import config
from .darray import DeviceArray


def place_value(v):
    """``v`` uploaded to the device when ``config.device`` asks for it and a GPU is usable, else ``v``."""
    if str(config.device) == "cpu" or type(v) is not np.ndarray or v.dtype != np.float32 or v.ndim == 0:
        return v  # scalars (learning rates, counters) stay on the host: kernels take them by value
    from .runtime import get_runtime

    rt = get_runtime()
    if rt is None:
        return v
    return DeviceArray.from_host(rt, v)


__all__ = ["place_value"]
