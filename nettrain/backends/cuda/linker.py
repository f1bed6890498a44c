"""The CUDA linker: nodes with CUDA kernels run on the device, the rest on the host.

Placement is decided per node when the function is linked (:func:`placement`):
a node runs on the device when ``cuda_kernel`` gives it a kernel, otherwise on
the host through the C linker's kernels (or ``perform``), with one warning per
op class.  Graphs stay device-agnostic: there are no GPU copies of op classes;
the transfers sit only at the edges between host and device nodes, where a
runner moves its operands (and counts the copies in ``rt.counters``):

* constants read by device nodes are uploaded once, when the function is built;
* shared variables read by device nodes are uploaded on first use and stay on
  the device (their container then holds the device array; ``get_value()``
  still returns NumPy);
* returned outputs are downloaded by ``function`` (``Out(..., borrow=True)``
  returns the device array), updates stay on the device.

All kernels of a function go into one CUDA source, built once by nvcc (cubin)
through the compile cache, or by the host compiler for the emulator.
"""

import warnings

from ...graph.basic import Constant
from ..python import PythonLinker, make_runner, storage_plan
from . import blas as _blas  # noqa: F401 - registers Dot, MatMul, Gemm, Gemv, Ger (cuBLAS / emulated GEMM)
from . import conv as _conv  # noqa: F401 - registers conv2d forward / gradient kernels (im2col + GEMM)
from . import elemwise as _elemwise  # noqa: F401 - registers Elemwise kernels
from . import pool as _pool  # noqa: F401 - registers 2-d pooling kernels and their gradients
from . import memory_ops as _memory_ops  # noqa: F401 - registers Alloc, ARange (host), Join, Split
from . import random as _random  # noqa: F401 - registers RandomVariable (Philox uniform, normal, binomial)
from . import subtensor as _subtensor  # noqa: F401 - registers basic indexing, row gathers/scatters, inc/set_subtensor
from . import adv_indexing as _adv_indexing  # noqa: F401 - registers general integer-array indexing and its inc/set
from . import nnet as _nnet  # noqa: F401 - registers softmax and fused crossentropy kernels
from . import reduction as _reduction  # noqa: F401 - registers CAReduce and Argmax kernels
from . import shape_ops as _shape_ops  # noqa: F401 - registers shape queries, views, reshape
from .registry import NAME, cuda_kernel
from .runtime import get_runtime, to_device, to_host, why_no_runtime

_warned = set()


def _warn_once(key, msg):
    if key not in _warned:
        _warned.add(key)
        warnings.warn(msg, RuntimeWarning, stacklevel=5)


def _kernel(node):
    try:
        return cuda_kernel(node.op, node)
    except NotImplementedError:
        return None


def placement(fgraph):
    """``{node: kernel or None}`` for the nodes of ``fgraph`` in execution order (None: host)."""
    return {node: _kernel(node) for node in fgraph.toposort()}


def transfers(fgraph, plan=None, per_call=True):
    """The host->device and device->host edges of ``fgraph``: ``[(variable, 'htod' | 'dtoh', node)]``.

    Function inputs count as host values.  With ``per_call`` (the default) the
    edges copied by every call are listed; constants (uploaded when the function
    is built) and shared variables (uploaded on first use, then resident) are not.
    """
    plan = placement(fgraph) if plan is None else plan
    where = {}
    for node, k in plan.items():
        for o in node.outputs:
            where[o] = "device" if k is not None and k.source else "host"
    edges = []
    for node, k in plan.items():
        if k is not None and not k.source:
            continue  # a host-side kernel reading metadata only (shapes)
        host_in = set(k.host_inputs) if k is not None else set()
        on_dev = k is not None
        for i, v in enumerate(node.inputs):
            src = where.get(v, "host")
            want = "host" if (not on_dev or i in host_in) else "device"
            if per_call and want == "device" and (isinstance(v, Constant) or hasattr(v, "container")):
                continue
            if src != want:
                edges.append((v, "htod" if want == "device" else "dtoh", node))
    return edges


def function_source(kernels):
    """``(source, names)``: one CUDA source for all kernels; equal kernels share one copy."""
    seen, bodies, names = {}, [], []
    for k in kernels:
        if not k.source:
            names.append(None)
            continue
        name = seen.get(k.source)
        if name is None:
            name = seen[k.source] = "nt_k%d" % len(seen)
            bodies.append(k.source.replace(NAME, name))
        names.append(name)
    return "\n".join(bodies), names


def _device_runner(rt, run, host_in, shared_in):
    """Wrap a kernel's ``run``: operands moved where the kernel wants them."""

    def runner(node, args, outs):
        args = list(args)
        for i, a in enumerate(args):
            if i in host_in:
                args[i] = to_host(a)
            elif not getattr(a, "is_device_array", False):
                args[i] = to_device(rt, a)
                cell = shared_in.get(i)
                if cell is not None:
                    cell[0] = args[i]  # a shared variable stays on the device from now on
        run(node, args, outs)

    runner.impl = "cuda"
    return runner


def _host_runner(perform):
    def runner(node, args, outs):
        for a in args:
            if getattr(a, "is_device_array", False):
                args = [to_host(x) for x in args]
                break
        perform(node, args, outs)

    return runner


class CudaLinker:
    """Runs nodes with CUDA kernels on the device and the others on the host."""

    name = "cuda"
    #: ``function`` downloads the returned outputs that are device arrays (unless borrowed)
    returns_device_arrays = True

    def __init__(self, host="auto"):
        self.host = host
        #: the CUDA source of the last function linked, for tests and debugging
        self.last_source = None
        self.last_placement = None

    @staticmethod
    def available():
        return get_runtime() is not None

    def _host_linker(self):
        from .. import _LINKERS

        c = _LINKERS.get("c")
        if self.host != "py" and c is not None and c.available():
            return c()
        return PythonLinker()

    def make_thunk(self, fgraph, input_cells, allow_gc=True):
        """Return ``(run, cells)``; ``run()`` computes every output cell."""
        rt = get_runtime()
        host = self._host_linker()
        if rt is None:
            _warn_once("no-runtime", "config.device=%s but no CUDA device can be used (%s); running on the CPU. "
                       "`python -m nettrain.cuda` says what is missing." % (_device(), why_no_runtime()))
            return host.make_thunk(fgraph, input_cells, allow_gc)
        steps, cells = storage_plan(fgraph, input_cells, allow_gc)
        kernels = [_kernel(s.node) for s in steps]
        self.last_placement = {s.node: k for s, k in zip(steps, kernels)}
        for s, k in zip(steps, kernels):
            if k is None and any(hasattr(v.type, "dtype") for v in s.node.inputs + s.node.outputs):
                name = type(s.node.op).__name__
                _warn_once(name, "%s has no CUDA kernel: it runs on the host (its operands are copied there "
                           "and back)" % name)  # fmt: skip
        host_steps = [s for s, k in zip(steps, kernels) if k is None]
        host_runners, keep_host = self._host_runners(host, host_steps)
        host_runners = iter(host_runners)
        source, names = function_source([k for k in kernels if k is not None])
        self.last_source = source
        module = rt.load(source) if source else None
        names = iter(names)
        shared_cells = {id(v.container): v.container for v in fgraph.inputs if hasattr(v, "container")}
        runners = []
        for s, k in zip(steps, kernels):
            if k is None:
                h = next(host_runners)
                runners.append(_host_runner(h))
                runners[-1].impl = "py" if h == s.perform else "c"  # for the profiler's table
                continue
            name = next(names)
            if not k.source:  # runs on the host and reads only what it needs (e.g. a shape)
                runners.append(k.bind(None, rt))
                continue
            prefix = name

            def get(suffix, _p=prefix, _m=module):
                return _m.get(suffix.replace(NAME, _p))

            host_in = set(k.host_inputs)
            for i, v in enumerate(s.node.inputs):
                if isinstance(v, Constant) and i not in host_in:
                    s.inputs[i] = [to_device(rt, v.data)]  # uploaded once, here
            shared_in = {i: c for i, c in enumerate(s.inputs) if id(c) in shared_cells}
            runners.append(_device_runner(rt, k.bind(get, rt), host_in, shared_in))
        steps_run = make_runner(steps, runners)

        def run():
            pushed = rt.activate()
            rt.upload_cache = {}
            try:
                steps_run()
            finally:
                rt.upload_cache = None
                if pushed:
                    rt.deactivate()

        run.library = (module, keep_host)
        run.runtime = rt
        return run, cells

    @staticmethod
    def _host_runners(host, steps):
        if not steps:
            return [], None
        build = getattr(host, "runners", None)
        if build is None:
            return [s.perform for s in steps], None
        from ..c.compiler import CompileError

        try:
            return build(steps)
        except CompileError as e:
            warnings.warn("C kernels failed to compile; host nodes use perform.\n%s" % e, RuntimeWarning)
            return [s.perform for s in steps], None


def _device():
    from ...configdefaults import config

    return config.device


__all__ = ["CudaLinker", "placement", "transfers", "function_source", "PythonLinker"]
