"""GPU benchmarks for ``python scripts/bench.py --device cuda`` (issue 8's table).

Rows: device copy bandwidth (the roofline), fused elementwise GB/s against it,
GEMM TFLOP/s (nettrain's ``dot`` against PyTorch's ``matmul``, i.e. cuBLAS),
the MLP 784-512-512-10 training step at batch 1024 and 4096 and the LeNet step at
batch 256 against PyTorch eager on the same GPU, plus the host<->device copies
of one training step (from the runtime's transfer counters).

With ``NETTRAIN_FLAGS=cuda_runtime=emulator`` it runs tiny sizes on the CPU
emulator: a smoke test of this script, not a measurement.
"""

import time

import numpy as np

import nettrain as theano
import nettrain.tensor as T
from nettrain.configdefaults import config


def _sync_time(fn, sync, repeat):
    fn()
    sync()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def _torch_cuda():
    try:
        import torch
    except Exception:  # noqa: BLE001
        return None
    return torch if torch.cuda.is_available() else None


def run(table, repeat, mlp_step, lenet_parts):
    """Fill ``table`` (bench.Table) with the GPU rows; ``mlp_step``/``lenet_parts`` come from bench.py."""
    from nettrain.backends.cuda.darray import DeviceArray
    from nettrain.backends.cuda.runtime import get_runtime, why_no_runtime

    with config.change_flags(device="cuda"):
        rt = get_runtime()
        if rt is None:
            raise SystemExit("no CUDA runtime: %s (python -m nettrain.cuda explains)" % why_no_runtime())
        small = rt.name == "emulator"
        torch = None if small else _torch_cuda()
        sync = rt.synchronize
        tsync = torch.cuda.synchronize if torch is not None else (lambda: None)
        dev = getattr(rt, "device_name", rt.name)

        # -- roofline: device-to-device copy
        n = (1 << 16) if small else (1 << 28)  # 1 GiB of float32 on a GPU
        a, b = DeviceArray.empty(rt, (n,), "float32"), DeviceArray.empty(rt, (n,), "float32")
        t = _sync_time(lambda: rt.dtod(b.ptr, a.ptr, a.nbytes), sync, repeat)
        copy_bw = 2 * a.nbytes / t
        table.add("device copy %d MiB (%s)" % (a.nbytes >> 20, dev), "cuMemcpyDtoD", t, None,
                  "%.0f GB/s (read+write)" % (copy_bw / 1e9))  # fmt: skip

        # -- fused elementwise
        x, y = T.fvector("x"), T.fvector("y")
        f = theano.function([x, y], theano.Out(T.exp(-x * x) * T.sin(y) + T.tanh(x * y), borrow=True))
        xv = DeviceArray.from_host(rt, np.random.default_rng(0).random(n, dtype=np.float32))
        yv = DeviceArray.from_host(rt, np.random.default_rng(1).random(n, dtype=np.float32))
        t = _sync_time(lambda: f(xv, yv), sync, repeat)
        bw = 3 * 4 * n / t
        table.add("fused exp(-x*x)*sin(y)+tanh(x*y), %dM float32" % (n >> 20), "nettrain (cuda)", t, None,
                  "%.0f GB/s = %.0f%% of copy" % (bw / 1e9, 100 * bw / copy_bw))  # fmt: skip
        if torch is not None:
            tx, ty = (torch.rand(n, device="cuda") for _ in range(2))
            tt = _sync_time(lambda: torch.exp(-tx * tx) * torch.sin(ty) + torch.tanh(tx * ty), tsync, repeat)
            table.add("fused exp(-x*x)*sin(y)+tanh(x*y), %dM float32" % (n >> 20), "PyTorch eager", tt, None,
                      "%.0f GB/s" % (3 * 4 * n / tt / 1e9))  # fmt: skip

        # -- GEMM
        m = 64 if small else 8192
        A, B = T.fmatrix("A"), T.fmatrix("B")
        g = theano.function([A, B], theano.Out(T.dot(A, B), borrow=True))
        av = DeviceArray.from_host(rt, np.random.default_rng(2).random((m, m), dtype=np.float32))
        t = _sync_time(lambda: g(av, av), sync, repeat)
        table.add("GEMM %d² float32" % m, "nettrain (cuda, cuBLAS)", t, None, "%.1f TFLOP/s" % (2 * m**3 / t / 1e12))
        if torch is not None:
            ta = torch.rand(m, m, device="cuda")
            tt = _sync_time(lambda: ta @ ta, tsync, repeat)
            table.add("GEMM %d² float32" % m, "PyTorch matmul (cuBLAS)", tt, None,
                      "%.1f TFLOP/s" % (2 * m**3 / tt / 1e12))  # fmt: skip

        # -- MLP training step and its transfers
        for batch in ((32,) if small else (1024, 4096)):
            step, xb, yb, torch_step = mlp_step(batch, torch)
            t = _sync_time(step, sync, repeat)
            rt.reset_counters()
            step()
            c = dict(rt.counters)
            w = "MLP 784-512-512-10 train step, batch %d" % batch
            table.add(w, "nettrain (cuda)", t, None, "per step: %d host->device (%d B), %d device->host (%d B)"
                      % (c["htod"], c["htod_bytes"], c["dtoh"], c["dtoh_bytes"]))  # fmt: skip
            if torch_step is not None:
                tt = _sync_time(torch_step, tsync, repeat)
                table.add(w, "PyTorch eager", tt, None, "nettrain %.2fx PyTorch" % (t / tt))

        # -- LeNet
        batch = 4 if small else 256
        step, torch_step = lenet_parts(batch, torch)
        t = _sync_time(step, sync, repeat)
        table.add("LeNet train step, batch %d" % batch, "nettrain (cuda)", t, None, "")
        if torch_step is not None:
            tt = _sync_time(torch_step, tsync, repeat)
            table.add("LeNet train step, batch %d" % batch, "PyTorch eager", tt, None,
                      "nettrain %.2fx PyTorch" % (t / tt))  # fmt: skip
