"""Random numbers: generator-state type, the ``RandomVariable`` op and ``RandomStreams``.

Importing this package registers the shared-variable constructor for
``numpy.random.Generator`` values, so ``nettrain.shared(np.random.default_rng(0))``
gives a shared generator state.
"""

from ...compile.sharedvalue import shared_constructor
from .op import RandomVariable, random_variable  # noqa: F401
from .streams import RandomStreams  # noqa: F401
from .type import (  # noqa: F401
    RandomGeneratorSharedVariable,
    RandomGeneratorType,
    RandomGeneratorVariable,
    copy_generator,
    generator_state_from_arrays,
    generator_state_to_arrays,
    random_generator_constructor,
)

shared_constructor(random_generator_constructor)

__all__ = [
    "RandomStreams", "RandomVariable", "random_variable", "RandomGeneratorType", "RandomGeneratorVariable",
    "RandomGeneratorSharedVariable", "copy_generator", "generator_state_to_arrays", "generator_state_from_arrays",
]  # fmt: skip
