"""The CUDA expression table and prelude: the C ones with a few entries overridden.

CUDA device code has the same libm names as C (``expf``, ``log1p``, ...), so
the C table serves almost unchanged; entries that CUDA does better or that C
lacks are overridden here.  The prelude is the C prelude's helpers (floor
division, NaN-propagating min/max, ...) as ``__device__`` functions.
"""

import re

from ...tensor import scalar_op as ps
from ..c.table import C_TABLE, OUT
from ..c.table import PRELUDE as _C_PRELUDE

CUDA_TABLE = C_TABLE.copy()


def _erfinv(a, c):
    return "%s(%s)" % (c.fn("erfinv"), a[0]) if c.kind == "f" else None


def _erfcinv(a, c):
    return "%s(%s)" % (c.fn("erfcinv"), a[0]) if c.kind == "f" else None


# CUDA's math library has the inverse error functions that C's lacks
for _cls, _entry in ((getattr(ps, "Erfinv", None), _erfinv), (getattr(ps, "Erfcinv", None), _erfcinv)):
    if _cls is not None:
        CUDA_TABLE[_cls] = (_entry, OUT)


def _device_helpers():
    """The C prelude's helper functions, without host-only parts, as device functions."""
    src = _C_PRELUDE
    # the glibc vector-math declarations are host-only
    src = re.sub(r"#if defined\(__x86_64__\).*?\n#endif\n", "", src, flags=re.S)
    src = "\n".join(ln for ln in src.splitlines() if not ln.startswith(("#include", "#define NT_EXPORT",
                                                                          "#define NT_PAR_MIN")))  # fmt: skip
    return src.replace("static inline", "NT_DEV")


#: defines shared by the real CUDA build and the emulator (which defines NT_EMULATE first)
PRELUDE = (
    "#include <stdint.h>\n#include <math.h>\n"
    "#ifndef NT_EMULATE\n"
    "#define NT_DEV static __device__ __forceinline__\n"
    "#define NT_DYNAMIC_SHARED(T, name) extern __shared__ T name[]\n"
    "#endif\n"
    "/* index of the first element of this thread and the grid-stride step */\n"
    "#define NT_TID ((int64_t)blockIdx.x * blockDim.x + threadIdx.x)\n"
    "#define NT_STEP ((int64_t)gridDim.x * blockDim.x)\n"
    + _device_helpers()
)

__all__ = ["CUDA_TABLE", "PRELUDE"]
