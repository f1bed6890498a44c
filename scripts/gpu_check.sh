#!/usr/bin/env bash
# Everything issue 8 needs a GPU for, in one run that fits a 10-minute device call:
#   bash scripts/gpu_check.sh [OUTDIR]
# 0. installs the carried wheels (.whl, made by scripts/make_device_wheels.sh) for an offline machine,
# 1. prints `python -m nettrain.cuda` (driver, GPU, nvcc, pycuda, cuBLAS, the runtime device=cuda uses),
# 2. runs the seed examples with device=cuda,
# 3. prints the GPU benchmark table (scripts/bench.py --device cuda),
# 4. runs the CUDA tests on the GPU through the driver-API runtime (NETTRAIN_TEST_GPU=driver makes the
#    tests' emulated() use the real device), then again through pycuda where its wheel imports,
# 5. trains the digits MLP and LeNet with device=cuda,
# 6. runs the op test suite with device=cuda in the time left (the same run on the CPU emulator:
#    NETTRAIN_FLAGS=device=cuda,cuda_runtime=emulator python -m pytest tests/tensor ...).
# Each step has its own time limit (seconds), cut to what is left of BUDGET, so one hang cannot eat the device lease;
# the log is $OUT/gpu_check.log and each step's status is summarized at the end.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-${OUT:-/tmp/nettrain-gpu}}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1
# examples/ and scripts/ put their own folder first on sys.path: import nettrain from this checkout
export PYTHONPATH="/tmp/nt-site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
export NETTRAIN_FLAGS="compiledir=${COMPILEDIR:-$PWD/.cubins}"
WORKERS=${WORKERS:-8}
declare -A STATUS
# the whole run ends within BUDGET seconds (a device call may last 600): later steps get what is left
DEADLINE=$((SECONDS + ${BUDGET:-540}))
step() {  # step NAME LIMIT COMMAND...: run with a time limit, record the exit status
  local name=$1 limit=$2
  shift 2
  local left=$((DEADLINE - SECONDS))
  if [ "$left" -lt 15 ]; then
    STATUS[$name]="skipped: out of time"
    return
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  echo "=== $name (limit ${limit}s) ==="
  local t0=$SECONDS
  timeout -k 5 "$limit" "$@"
  local rc=$?
  STATUS[$name]="rc=$rc $((SECONDS - t0))s"
  echo "=== $name: rc=$rc in $((SECONDS - t0))s ==="
}
{
  date
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1
  "$PY" --version
  # wheels of what the machine lacks (cffi, pycparser, tensorboardX, pycuda and its needs), no index needed
  if ls .whl/*.whl >/dev/null 2>&1; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/nt-site \
      .whl/*.whl || echo "installing the carried wheels failed"
  fi
  step doctor 60 "$PY" -m nettrain.cuda
  # the seed examples and the benchmarks through the driver-API runtime (what runs without pycuda); the
  # training runs and the op suite through the default (pycuda where its wheel imports)
  step seed_examples 120 env NETTRAIN_FLAGS="$NETTRAIN_FLAGS,device=cuda,cuda_runtime=driver" "$PY" \
    examples/seed_examples.py
  step bench 200 env NETTRAIN_FLAGS="$NETTRAIN_FLAGS,cuda_runtime=driver" "$PY" scripts/bench.py --device cuda \
    --repeat 20
  step tests_driver 200 env NETTRAIN_TEST_GPU=driver "$PY" -m pytest -q -n "$WORKERS" -p no:cacheprovider \
    tests/backends/cuda
  step train_mlp 90 env NETTRAIN_FLAGS="$NETTRAIN_FLAGS,device=cuda" "$PY" -m nettrain train recipes/digits_mlp.py \
    --out "$OUT/mlp" --set epochs=3 --no-progress
  step train_lenet 90 env NETTRAIN_FLAGS="$NETTRAIN_FLAGS,device=cuda" "$PY" -m nettrain train recipes/lenet.py \
    --out "$OUT/lenet" --set epochs=1 --no-progress
  if "$PY" -c "import pycuda.driver" 2>/dev/null; then
    step tests_pycuda 120 env NETTRAIN_TEST_GPU=pycuda "$PY" -m pytest -q -n "$WORKERS" -p no:cacheprovider \
      tests/backends/cuda
  else
    echo "pycuda does not import here: its runtime was not tested"
  fi
  # the op test suite with device=cuda (every op test's functions on the GPU), in what time is left
  step op_suite 600 env NETTRAIN_FLAGS="$NETTRAIN_FLAGS,device=cuda" "$PY" -m pytest -q -n "$WORKERS" \
    -p no:cacheprovider -W ignore::RuntimeWarning tests/tensor tests/layers tests/test_losses.py
  echo "=== summary ==="
  failed=0
  for k in doctor seed_examples bench tests_driver train_mlp train_lenet tests_pycuda op_suite; do
    echo "$k: ${STATUS[$k]:-not run}"
    case "${STATUS[$k]:-}" in rc=0*|"") ;; *) failed=1 ;; esac
  done
  exit $failed
} 2>&1 | tee "$OUT/gpu_check.log"
