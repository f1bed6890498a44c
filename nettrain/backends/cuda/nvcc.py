"""nvcc: find it, and build CUDA source into PTX or cubins through the compile cache.

The cache key covers the source, nvcc's version, the target architecture and
the flags (``cache.get_or_build`` with an nvcc builder), so entries are shared
between processes exactly like the C backend's libraries.
"""

import functools
import os
import shutil
import subprocess

from ...configdefaults import config
from ..c.cache import get_or_build
from ..c.compiler import COMPILE_TIMEOUT, CompileError

#: flags of every device build (part of the cache key)
FLAGS = ("-std=c++17", "-O3", "-lineinfo")
#: architecture used to check code generation where no GPU says which one to target
DEFAULT_ARCH = "sm_90"


@functools.lru_cache(maxsize=None)
def _find(nvcc):
    for cand in (nvcc, os.path.join(os.environ.get("CUDA_HOME", "/usr/local/cuda"), "bin", "nvcc")):
        if cand:
            path = shutil.which(cand)
            if path:
                return path
    return None


def nvcc_path():
    """Path of nvcc (``config.nvcc``, else ``$CUDA_HOME/bin/nvcc``), or None."""
    return _find(config.nvcc)


@functools.lru_cache(maxsize=None)
def _version(path):
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    lines = [ln for ln in out.stdout.splitlines() if "release" in ln or ln.startswith("Build")]
    return " ".join(lines) if out.returncode == 0 else None


def nvcc_version():
    """nvcc's version text, or None when nvcc is missing or broken."""
    path = nvcc_path()
    return _version(path) if path else None


class NvccBuilder:
    """A cache builder: ``kind`` 'ptx' or 'cubin' for architecture ``arch``."""

    suffix = ".cu"

    def __init__(self, arch, kind):
        self.arch, self.kind = arch, kind
        self.artifact = "mod." + kind

    def toolchain(self):
        return {"nvcc": nvcc_version() or "none", "arch": self.arch, "kind": self.kind, "flags": list(FLAGS),
                "format": "nettrain-cuda-1"}  # fmt: skip

    def compile(self, src_path, out_path):
        path = nvcc_path()
        if path is None:
            raise CompileError("nvcc not found (config.nvcc=%r, CUDA_HOME)" % config.nvcc)
        cmd = [path, "--" + self.kind, "-arch=" + self.arch, *FLAGS, src_path, "-o", out_path]
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=COMPILE_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise CompileError("nvcc timed out after %d s: %s" % (COMPILE_TIMEOUT, " ".join(cmd))) from None
        if r.returncode != 0:
            raise CompileError("nvcc failed:\n%s\n%s" % (" ".join(cmd), (r.stderr or r.stdout)[-6000:]))


def build_ptx(source, arch=None):
    """Path of the PTX built from ``source`` (cached); raises CompileError with nvcc's log."""
    return get_or_build(source, NvccBuilder(arch or DEFAULT_ARCH, "ptx"))


def build_cubin(source, arch):
    """Path of the cubin built from ``source`` for ``arch`` (cached)."""
    return get_or_build(source, NvccBuilder(arch, "cubin"))


__all__ = ["nvcc_path", "nvcc_version", "build_ptx", "build_cubin", "NvccBuilder", "DEFAULT_ARCH"]
