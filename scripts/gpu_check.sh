#!/usr/bin/env bash
# Everything issue 8 needs a GPU for, in one run (for the `device` tool or any CUDA machine):
#   bash scripts/gpu_check.sh [OUTDIR]
# 1. builds pycuda from its source distribution against the local CUDA toolkit,
# 2. prints `python -m nettrain.cuda`,
# 3. runs the CUDA tests on the real GPU (NETTRAIN_TEST_GPU=1: testing.emulated() then uses pycuda),
# 4. runs the seed examples and an MLP and a LeNet training run with device=cuda,
# 5. prints the GPU benchmark table (scripts/bench.py --device cuda).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-${OUT:-/tmp/nettrain-gpu}}
mkdir -p "$OUT"
CUDA_ROOT=${CUDA_ROOT:-$(dirname "$(dirname "$(command -v nvcc)")")}
export NETTRAIN_FLAGS="compiledir=$OUT/compiledir"
# examples/ and scripts/ put their own folder first on sys.path: import nettrain from this checkout even
# where `pip install -e` cannot run (the device machine reaches no package index)
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
# offline machines: carry a folder (default .whl) holding pycuda's sdist (pycuda-*.tar.gz) and wheels of its
# pure-Python needs (pytools, platformdirs, siphash24, mako...): pip then installs from it with --no-index
WHEELS=$(cd "${WHEELS:-.whl}" 2>/dev/null && pwd)
{
  python -m pip install -q -e '.[test]' || echo "pip install -e failed (offline?): nettrain runs from PYTHONPATH"
  if ! python -c "import pycuda.driver" 2>/dev/null; then
    mkdir -p "$OUT/src"
    PIP_SRC=()
    if [ -n "$WHEELS" ] && ls "$WHEELS"/pycuda-*.tar.gz >/dev/null 2>&1; then
      PIP_SRC=(--no-index --find-links "$WHEELS")
      cp "$WHEELS"/pycuda-*.tar.gz "$OUT/src/"
    else
      python -m pip download -q --no-binary :all: --no-deps pycuda -d "$OUT/src"
    fi
    # --cudadrv-lib-dir: libcuda.so to link may be only the toolkit's stub (the real one comes from the driver
    # at run time); --no-build-isolation: build against the installed NumPy (pycuda's build requirements
    # can pin an older NumPy ABI, and an isolated build needs the package index)
    tar -xzf "$(ls "$OUT"/src/pycuda-*.tar.gz | head -1)" -C "$OUT/src" &&
      (cd "$(ls -d "$OUT"/src/pycuda-*/ | head -1)" &&
        python configure.py --cuda-root="$CUDA_ROOT" \
          --cudadrv-lib-dir="$CUDA_ROOT/lib64,$CUDA_ROOT/lib64/stubs,$CUDA_ROOT/lib" &&
        python -m pip install -q --no-build-isolation "${PIP_SRC[@]}" .)
  fi
  # cuBLAS: the toolkit's libcublas when present, else the nvidia-cublas wheel
  ls "$CUDA_ROOT"/lib64/libcublas.so* >/dev/null 2>&1 || python -m pip install -q nvidia-cublas
  python -m nettrain.cuda
  NETTRAIN_TEST_GPU=1 python -m pytest -q -p no:randomly tests/backends/cuda
  NETTRAIN_FLAGS="$NETTRAIN_FLAGS,device=cuda" python examples/seed_examples.py
  NETTRAIN_FLAGS="$NETTRAIN_FLAGS,device=cuda" python -m nettrain train recipes/digits_mlp.py --out "$OUT/mlp" --set epochs=3
  NETTRAIN_FLAGS="$NETTRAIN_FLAGS,device=cuda" python -m nettrain train recipes/lenet.py --out "$OUT/lenet" --set epochs=1
  python scripts/bench.py --device cuda --repeat 20
} 2>&1 | tee "$OUT/gpu_check.log"
