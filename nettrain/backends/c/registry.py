"""C kernels registered by op class (DESIGN.md §2: backends own the code).

``c_kernel(op, node)`` returns a :class:`Kernel` for ``node`` or None, in
which case the linker runs the node's ``perform``.  Op families register
their code generator with ``@c_kernel.register(OpClass)``.
"""

import functools

#: placeholder for the function name in a kernel's source and cdef; the
#: linker replaces it, so equal kernels have equal text and are built once
NAME = "NT_KERNEL"


class Kernel:
    """C source of one exported function and how to call it for a node.

    ``source`` and ``cdef`` use :data:`NAME` for the function name.
    ``bind(fn, ffi)`` returns ``run(node, args, output_cells)``, the same
    contract as ``Op.perform``, calling the compiled function ``fn``.
    An empty ``source`` marks a Python-only runner (e.g. for view ops, where
    a call to ``perform`` costs more than the work): nothing is compiled and
    the linker calls ``bind(None, None)``.  ``bind_inplace`` (optional, same
    contract) writes the result into the node's first input where it can: the
    linker uses it for shared-variable updates that ``inplace.py`` allows.
    """

    __slots__ = ("source", "cdef", "bind", "bind_inplace")

    def __init__(self, source, cdef, bind, bind_inplace=None):
        self.source = source
        self.cdef = cdef
        self.bind = bind
        self.bind_inplace = bind_inplace


def fast_from_buffer(ffi):
    """``ffi.from_buffer`` without its Python wrapper (half the cost per call).

    Falls back to the public method where cffi's internals differ.
    """
    backend, char_array = getattr(ffi, "_backend", None), getattr(ffi, "BCharA", None)
    if backend is None or char_array is None or not hasattr(backend, "from_buffer"):
        return ffi.from_buffer
    return functools.partial(backend.from_buffer, char_array)


@functools.singledispatch
def c_kernel(op, node):
    """The C kernel of ``node`` (whose op is ``op``), or None to use ``perform``."""
    return None


__all__ = ["Kernel", "NAME", "c_kernel", "fast_from_buffer"]
