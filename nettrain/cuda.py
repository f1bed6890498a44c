"""``python -m nettrain.cuda``: report driver, GPU, nvcc, pycuda and cuBLAS status for the CUDA backend."""

import sys

from .backends.cuda.doctor import main, report

__all__ = ["main", "report"]

if __name__ == "__main__":
    sys.exit(main())
