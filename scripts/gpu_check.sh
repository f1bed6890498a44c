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
{
  python -m pip install -q -e '.[test]'
  if ! python -c "import pycuda.driver" 2>/dev/null; then
    python -m pip download -q --no-binary :all: --no-deps pycuda -d "$OUT/src" &&
      tar -xzf "$OUT"/src/pycuda-*.tar.gz -C "$OUT/src" &&
      (cd "$OUT"/src/pycuda-*/ && python configure.py --cuda-root="$CUDA_ROOT" && python -m pip install -q .)
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
