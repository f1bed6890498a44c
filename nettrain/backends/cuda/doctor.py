"""What the CUDA backend can use on this machine, in words a user can act on.

``report()`` returns ``[(item, ok, detail)]`` for the driver, the GPU, nvcc,
pycuda (optional), cuBLAS, the runtime device=cuda would use and the emulator; ``python -m nettrain.cuda`` and
``nettrain doctor`` print it.  Nothing here fails: every probe catches its own
errors and says what is missing and how to get it.
"""

import importlib.util


def _driver():
    from .driver import load_driver

    try:
        ffi, lib = load_driver()
    except OSError:
        return False, "libcuda (the NVIDIA driver) not found: install the NVIDIA driver for your GPU"
    v = ffi.new("int *")
    if lib.cuDriverGetVersion(v) == 0:
        return True, "driver API %d.%d (libcuda.so.1)" % (v[0] // 1000, v[0] % 1000 // 10)
    return True, "found libcuda.so.1"


def _gpus():
    from .driver import error_text, load_driver

    try:
        ffi, lib = load_driver()
    except OSError:
        return False, "no driver, so no GPU can be listed"
    st = lib.cuInit(0)
    if st != 0:
        return False, "cuInit failed (%s): no GPU visible (check nvidia-smi, CUDA_VISIBLE_DEVICES)" % (
            error_text(ffi, lib, st))
    n, dev, buf = ffi.new("int *"), ffi.new("CUdevice *"), ffi.new("char[256]")
    lib.cuDeviceGetCount(n)
    names = []
    for i in range(n[0]):
        lib.cuDeviceGet(dev, i)
        lib.cuDeviceGetName(buf, 256, dev[0])
        names.append("%d: %s" % (i, ffi.string(buf).decode(errors="replace")))
    return bool(names), "; ".join(names) or "no GPU found"


def _nvcc():
    from .nvcc import nvcc_path, nvcc_version

    p = nvcc_path()
    if p is None:
        return False, "nvcc not found: install the CUDA toolkit or set NETTRAIN_FLAGS=nvcc=/path/to/nvcc"
    return True, "%s (%s)" % (nvcc_version() or "version unknown", p)


def _pycuda():
    if importlib.util.find_spec("pycuda") is None:
        return False, ("pycuda is not installed (optional: without it nettrain calls the CUDA driver API through cffi; "
                       "pip install 'nettrain[cuda]' builds it against your CUDA toolkit)")
    try:
        import pycuda
        import pycuda.driver  # noqa: F401 - the compiled part, which needs libcuda.so.1

        return True, "pycuda %s" % getattr(pycuda, "VERSION_TEXT", "?")
    except Exception as e:  # noqa: BLE001 - report, never fail
        return False, "pycuda fails to import: %s" % e


def _cublas():
    try:
        from .blas import cublas_status
    except ImportError:
        return False, "the cuBLAS binding is not part of this build"
    try:
        return cublas_status()
    except Exception as e:  # noqa: BLE001
        return False, "cuBLAS probe failed: %s" % e


def _emulator():
    from ..c.compiler import available

    return available(), ("kernels can be checked on the CPU (NETTRAIN_FLAGS=device=cuda,cuda_runtime=emulator)"
                         if available() else "no C compiler: the emulator cannot run")  # fmt: skip


def _runtime():
    from ...configdefaults import config
    from .runtime import get_runtime, why_no_runtime

    with config.change_flags(device="cuda", cuda_runtime="auto"):
        rt = get_runtime()
        if rt is None:
            return False, "device=cuda would run on the CPU: " + why_no_runtime()
        return True, "device=cuda runs on %s (%s) through %s" % (getattr(rt, "device_name", rt.name), rt.arch,
                                                                 getattr(rt, "via", rt.name))


PROBES = (("NVIDIA driver", _driver), ("GPU", _gpus), ("nvcc", _nvcc), ("pycuda", _pycuda), ("cuBLAS", _cublas),
          ("device=cuda", _runtime), ("emulator", _emulator))  # fmt: skip


def report():
    """``[(item, ok, detail)]`` for every probe."""
    out = []
    for name, probe in PROBES:
        try:
            ok, detail = probe()
        except Exception as e:  # noqa: BLE001 - a probe must never break the report
            ok, detail = False, "%s: %s" % (type(e).__name__, e)
        out.append((name, bool(ok), detail))
    return out


def main():
    """Print the report; exit status 0 when a GPU can run nettrain's kernels, 1 otherwise."""
    rows = report()
    for name, ok, detail in rows:
        print("%-14s %-7s %s" % (name, "ok" if ok else "MISSING", detail))
    ready = dict((n, ok) for n, ok, _ in rows).get("device=cuda", False)
    print("\nnettrain can %s on a GPU here." % ("run" if ready else "NOT run"))
    return 0 if ready else 1


__all__ = ["report", "main"]
