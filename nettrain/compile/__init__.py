"""Compilation: ``function``, shared variables, ``In``/``Out`` and modes."""

from .function import Function, FunctionMaker, UnusedInputError, function  # noqa: F401
from .io import In, Out  # noqa: F401
from .mode import FAST_COMPILE, FAST_RUN, Mode, get_default_mode, get_mode  # noqa: F401
from .sharedvalue import SharedVariable, shared, shared_constructor  # noqa: F401
from .debugmode import DebugMode  # noqa: F401,E402 - Theano's names: theano.compile.DebugMode, ...
from .nanguardmode import NanGuardMode  # noqa: F401,E402
from .profiling import ProfileStats  # noqa: F401,E402
