"""Helpers for testing CUDA kernels without a GPU: the emulator and nvcc's PTX check.

``emulated()`` switches ``config.device`` to ``cuda`` on the emulated runtime;
``compare(...)`` compiles a graph on the (emulated or real) device and on the
Python linker, checks that the expected ops got CUDA kernels and compares
every output; every CUDA source built is recorded, and ``ptx_check()``
compiles it all with ``nvcc --ptx`` for the real target.
"""

import contextlib

import numpy as np

from ...configdefaults import config
from .nvcc import DEFAULT_ARCH, build_ptx, nvcc_path

#: every CUDA source linked through compare(), for ptx_check
SOURCES = []


@contextlib.contextmanager
def emulated(threads=False):
    """``config.device='cuda'`` on the emulator for the duration (the real GPU if NETTRAIN_TEST_GPU is set:
    ``1`` for the default runtime, or ``pycuda`` / ``driver``).

    ``threads=True`` runs real block sizes (one OS thread per CUDA thread, warps of 32).
    """
    import os

    gpu = os.environ.get("NETTRAIN_TEST_GPU", "").strip().lower()
    # NETTRAIN_TEST_GPU=1 runs on the GPU through the default runtime; =pycuda or =driver picks one
    if gpu in ("", "0", "false", "no", "off"):
        runtime = "emulator-threads" if threads else "emulator"
    elif gpu in ("1", "true", "yes", "on", "auto"):
        runtime = "auto"
    elif gpu in ("pycuda", "driver"):
        runtime = gpu
    else:
        raise ValueError("NETTRAIN_TEST_GPU=%r: use 1 (the default runtime), pycuda, driver, or 0" % gpu)
    with config.change_flags(device="cuda", cuda_runtime=runtime):
        yield


def compare(inputs, outputs, values, kernel_ops=(), rtol=None, optimizer="default", threads=False):
    """Run on the device and on the Python linker; return the device results (NumPy).

    Fails when a node whose op is one of ``kernel_ops`` has no CUDA kernel.
    """
    import nettrain
    from .linker import CudaLinker
    from .registry import cuda_kernel

    with emulated(threads):
        fd = nettrain.function(inputs, outputs, mode=nettrain.Mode(linker="cuda", optimizer=optimizer),
                               on_unused_input="ignore")  # fmt: skip
        nodes = [n for n in fd.maker.fgraph.toposort() if isinstance(n.op, tuple(kernel_ops))]
        missing = [n for n in nodes if cuda_kernel(n.op, n) is None]
        assert not missing, "no CUDA kernel for %s" % missing
        if kernel_ops:
            assert nodes, "none of %s in the compiled graph" % (kernel_ops,)
        rd = fd(*values)
    linker = getattr(fd, "_linker", None)
    src = getattr(linker, "last_source", None) if isinstance(linker, CudaLinker) else None
    if src:
        SOURCES.append(src)
    fp = nettrain.function(inputs, outputs, mode=nettrain.Mode(linker="py", optimizer=optimizer),
                           on_unused_input="ignore")  # fmt: skip
    rp = fp(*values)
    single = not isinstance(outputs, (list, tuple))
    for a, b in zip([rd] if single else rd, [rp] if single else rp):
        a, b = np.asarray(a), np.asarray(b)
        assert a.dtype == b.dtype and a.shape == b.shape, (a.dtype, a.shape, b.dtype, b.shape)
        tol = rtol if rtol is not None else (1e-5 if a.dtype == np.float32 else 1e-12)
        if a.dtype.kind == "f":
            np.testing.assert_allclose(a, b, rtol=tol, atol=tol, equal_nan=True)
        else:
            np.testing.assert_array_equal(a, b)
    return rd


def ptx_check(sources=None, arch=DEFAULT_ARCH):
    """Compile ``sources`` (default: everything recorded) with ``nvcc --ptx`` in one call; return the PTX path."""
    from .table import PRELUDE

    sources = SOURCES if sources is None else sources
    parts = [PRELUDE]
    for i, s in enumerate(sources):
        parts.append(s.replace("nt_k", "f%d_nt_k" % i))  # one translation unit: names must differ
    return build_ptx("\n".join(parts), arch)


def have_nvcc():
    return nvcc_path() is not None


__all__ = ["emulated", "compare", "ptx_check", "have_nvcc", "SOURCES"]
