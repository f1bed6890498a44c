"""Scan loops in compiled code: every step of a Scan (and of its BPTT gradient) runs in one C loop.

The inner function of a scan is linked by the C linker like any function,
and each of its kernels gets a *trampoline* (``<name>_tramp(const nt_arg *)``,
see :func:`~nettrain.backends.c.linker.trampoline`).  On the first call with
given input layouts, two steps run through the kernels' Python drivers with
the compiled functions wrapped by a recorder: each call's arguments are
turned into constants (sizes, strides, BLAS routine addresses, layout
arrays) and pointers, each pointer into a known array (a sequence, a state
buffer, a non-sequence, an intermediate result) at a byte offset; comparing
the two steps gives each pointer's move per step.  That *plan* (a table of
calls, pointer patches, copies into the state buffers or gradient
accumulations, the ``until`` flag) then drives :data:`LOOP_SOURCE`, one C
function compiled once for every scan: no Python and no allocation per
step, inner GEMMs on views of preallocated buffers.  Later calls with the
same layouts reuse the plan for every step.

Anything the recorder cannot prove step-invariant (an inner op without a C
kernel, a per-step value read by a driver as a Python number, a pointer into
a temporary array, states that change shape) makes that scan run its
``perform`` (the Python loop), as before.
"""

import functools

import numpy as np

from ...graph.basic import Constant
from ...scan_module.op import Scan, ScanGrad
from ...tensor.blas import Dot, Gemm, Gemv, Ger
from ...tensor.elemwise import Elemwise
from ...tensor.reduction import CAReduce
from ...tensor.shape import Shape, Shape_i
from ...tensor.subtensor import IncSubtensor, SliceLength
from .compiler import build_library
from .linker import param_kinds
from .registry import Kernel, c_kernel

LOOP_SOURCE = r"""
#include <stdint.h>
#include <string.h>
#define NT_EXPORT __attribute__((visibility("default")))
typedef union { int64_t i; double d; void *p; } nt_arg;
typedef void (*nt_tramp)(const nt_arg *);
/* args[slot].p = base[region] + off + t * delta before each step */
typedef struct { int64_t slot, region, off, delta; } nt_ptr;
/* after each step: copy n bytes (kind 0) or add n floats (1) / doubles (2) from src to dst */
typedef struct { int64_t kind, n, dr, doff, dd, sr, soff, sd; } nt_move;

#define NT_AT(r, o, d) ((intptr_t)(base[r] + (o) + t * (d)))

NT_EXPORT int64_t nt_scan_loop(int64_t t0, int64_t count, int64_t dir, const int64_t *base,
                               int64_t n_calls, const int64_t *fns, const int64_t *starts, nt_arg *args,
                               int64_t n_ptrs, const nt_ptr *ptrs, int64_t n_moves, const nt_move *moves,
                               const int64_t *cond)
{
  for (int64_t i = 0; i < count; i++) {
    const int64_t t = t0 + i * dir;
    for (int64_t k = 0; k < n_ptrs; k++)
      args[ptrs[k].slot].p = (void *)NT_AT(ptrs[k].region, ptrs[k].off, ptrs[k].delta);
    for (int64_t c = 0; c < n_calls; c++)
      ((nt_tramp)(intptr_t)fns[c])(args + starts[c]);
    for (int64_t k = 0; k < n_moves; k++) {
      const nt_move *m = moves + k;
      char *d = (char *)NT_AT(m->dr, m->doff, m->dd);
      const char *s = (const char *)NT_AT(m->sr, m->soff, m->sd);
      if (m->kind == 0) {
        memcpy(d, s, (size_t)m->n);
      } else if (m->kind == 1) {
        float *restrict x = (float *)d; const float *restrict y = (const float *)s;
        for (int64_t j = 0; j < m->n; j++) x[j] += y[j];
      } else {
        double *restrict x = (double *)d; const double *restrict y = (const double *)s;
        for (int64_t j = 0; j < m->n; j++) x[j] += y[j];
      }
    }
    if (cond[0] >= 0) {  /* until: stop after a step whose flag has a nonzero byte */
      const unsigned char *c = (const unsigned char *)NT_AT(cond[0], cond[1], cond[2]);
      for (int64_t j = 0; j < cond[3]; j++)
        if (c[j]) return i + 1;
    }
  }
  return count;
}
"""

LOOP_CDEF = """
typedef union { int64_t i; double d; void *p; } nt_arg;
typedef struct { int64_t slot, region, off, delta; } nt_ptr;
typedef struct { int64_t kind, n, dr, doff, dd, sr, soff, sd; } nt_move;
int64_t nt_scan_loop(int64_t, int64_t, int64_t, const int64_t *, int64_t, const int64_t *, const int64_t *,
                     nt_arg *, int64_t, const nt_ptr *, int64_t, const nt_move *, const int64_t *);
"""

#: kernels whose Python drivers do all their work through the compiled call (checked by reading them)
_LOOP_SAFE = (Elemwise, Dot, Gemm, Gemv, Ger, CAReduce, IncSubtensor)
#: pointer arguments that are the kernel's own scratch memory (a fresh buffer of that size will do)
_SCRATCH = {CAReduce: (5,)}
#: ops without C code whose outputs depend only on shapes (fixed for a plan)
_SHAPE_OPS = (Shape, Shape_i, SliceLength)


@functools.lru_cache(maxsize=None)
def _loop_lib():
    return build_library(LOOP_SOURCE, LOOP_CDEF)


class Unsupported(Exception):
    """This scan cannot run as a compiled loop (the reason is the message); it runs ``perform``."""


def _data(a):
    return a.__array_interface__["data"][0]


def _extent(a):
    """``(lowest, one past the highest)`` byte address of the non-empty array ``a``."""
    d = _data(a)
    lo = d + sum((n - 1) * s for n, s in zip(a.shape, a.strides) if s < 0)
    hi = d + sum((n - 1) * s for n, s in zip(a.shape, a.strides) if s > 0) + a.itemsize
    return lo, hi


class _Regions:
    """Arrays known at one recorded step: an address -> (region id, offset from the array's data)."""

    def __init__(self):
        self.items = []

    def add(self, rid, a):
        if isinstance(a, np.ndarray) and a.size:
            lo, hi = _extent(a)
            self.items.append((lo, hi, rid, _data(a), a))

    def find(self, addr):
        for lo, hi, rid, data, _ in self.items:
            if lo <= addr < hi:
                return rid, addr - data
        return None

    def inside(self, a):
        """True when the memory of ``a`` lies in a known array (``a`` is a view)."""
        lo, hi = _extent(a)
        return any(l0 <= lo and hi <= h0 for l0, h0, _, _, _ in self.items)


class _Recorder:
    """Stands for a compiled kernel: records each call's arguments, then makes it."""

    def __init__(self, fn):
        self.fn, self.calls = fn, []

    def __call__(self, *args):
        self.calls.append(args)
        return self.fn(*args)


def _loop_function(inputs, outputs, mode):
    """The step compiled for a loop: C-linked, with a trampoline per kernel.

    The mode's rewrites are the scan's (the default's when it named none); its
    linker is C, since the loop runs inside a C-linked function.
    """
    from ...compile.function import function
    from ...compile.mode import Mode, get_mode
    from .linker import with_trampolines

    if mode is not None and get_mode(mode).linker not in ("c", "auto"):
        raise Unsupported("the scan asked for the %r linker" % get_mode(mode).linker)
    with with_trampolines():
        return function(inputs, outputs, mode=Mode(linker="c", optimizer=get_mode(mode).optimizer),
                        on_unused_input="ignore")  # fmt: skip


class Body:
    """The steps of a compiled inner function, with what it takes to record and replay them."""

    def __init__(self, fn, static_inputs):
        run = getattr(fn, "_run", None)
        if getattr(run, "c_kernels", None) is None:
            raise Unsupported("the inner function is not linked by the C linker")
        fg = fn.maker.fgraph
        self.fn = fn  # keeps its kernel library loaded while the loop calls into it
        self.fgraph, self.steps = fg, run.steps
        if len(fg.inputs) != len(fn.maker.specs):
            raise Unsupported("the inner function reads shared variables")
        static = set(static_inputs)  # values fixed for a plan: constants, shapes, keyed 0-d inputs
        self.entries = []
        for i, s in enumerate(self.steps):
            node = s.node
            ins_static = all(isinstance(v, Constant) or v in static for v in node.inputs)
            if isinstance(node.op, _SHAPE_OPS) or (ins_static and i not in run.c_kernels):
                static.update(node.outputs)
            hit = run.c_kernels.get(i)
            if hit is not None:
                k, name, ffi, lib = hit
                if not isinstance(node.op, _LOOP_SAFE):
                    raise Unsupported("no loop support for %s" % node.op)
                kinds = param_kinds(k.cdef)
                tramp = getattr(lib, name + "_tramp", None)
                if kinds is None or tramp is None:
                    raise Unsupported("no trampoline for %s" % node.op)
                rec = _Recorder(getattr(lib, name))
                by_value = [j for j, v in enumerate(node.inputs) if v.type.ndim == 0 and v not in static
                            and not isinstance(v, Constant)]  # fmt: skip
                self.entries.append(("c", k.bind(rec, ffi), rec, kinds, int(ffi.cast("intptr_t", tramp)), ffi,
                                     by_value, _SCRATCH.get(type(node.op), ())))  # fmt: skip
                continue
            k = c_kernel(node.op, node)
            runner = k.bind(None, None) if k is not None and not k.source else node.op.perform
            if node.outputs[0] in static:
                self.entries.append(("static", runner))
                continue
            vm, dm = getattr(node.op, "view_map", {}) or {}, getattr(node.op, "destroy_map", {}) or {}
            pure_view = not dm and all(o in vm for o in range(len(node.outputs)))
            rest_static = all(isinstance(v, Constant) or v in static for v in node.inputs[1:])
            if not (pure_view and rest_static):
                raise Unsupported("%s has no C kernel" % node.op)
            self.entries.append(("view", runner))

    def record(self, in_vals, regions):
        """Run one step through the drivers: ``(values, calls)``, each call translated against ``regions``."""
        vals = dict(zip(self.fgraph.inputs, in_vals))
        calls = []
        for s, e in zip(self.steps, self.entries):
            node = s.node
            args = [vals[v] if v in vals else c[0] for v, c in zip(node.inputs, s.inputs)]
            for v, a in zip(node.inputs, args):
                if isinstance(v, Constant):
                    regions.add(("const", id(v)), a)
            outs = [[None] for _ in node.outputs]
            if e[0] == "c":
                rec = e[2]
                rec.calls = []
                e[1](node, args, outs)
            else:
                e[1](node, args, outs)
            for o, c in zip(node.outputs, outs):
                vals[o] = c[0]
                if isinstance(c[0], np.ndarray) and c[0].size and not regions.inside(c[0]):
                    if e[0] == "view":
                        raise Unsupported("%s returned new memory" % node.op)
                    regions.add(("var", o), c[0])
            if e[0] == "c":
                _, _, rec, kinds, tramp, ffi, by_value, scratch = e
                if not rec.calls and any(isinstance(o, np.ndarray) and o.size for o in vals_of(node, vals)):
                    raise Unsupported("%s computed its result without its kernel" % node.op)
                raw = []
                for args_c in rec.calls:
                    if len(args_c) != len(kinds):
                        raise Unsupported("a call to %s does not match its declaration" % node.op)
                    try:
                        raw.append(_translate(ffi, args_c, kinds, regions, scratch))
                    except Unsupported as e:
                        raise Unsupported("%s: %s" % (node.op, e)) from None
                # a per-step scalar must reach the kernel through a pointer, not as a baked number
                seen = {int(ffi.cast("intptr_t", a)) for c in rec.calls for a, k in zip(c, kinds)
                        if k == "p" and isinstance(a, ffi.CData)}  # fmt: skip
                for j in by_value:
                    if not isinstance(args[j], np.ndarray) or _data(args[j]) not in seen:
                        raise Unsupported("%s reads a per-step scalar by value" % node.op)
                calls.append((tramp, raw))
        for v in self.fgraph.outputs:
            if v not in vals:
                vals[v] = v.data if isinstance(v, Constant) else None
                if isinstance(v, Constant):
                    regions.add(("const", id(v)), vals[v])
        return vals, calls


def vals_of(node, vals):
    return [vals[o] for o in node.outputs]


def _translate(ffi, args, kinds, regions, scratch):
    """One call's arguments as ('c', kind, value) / ('r', region, offset) / ('blob', bytes) / ('scratch', n)."""
    out = []
    for j, (a, kind) in enumerate(zip(args, kinds)):
        if kind != "p":
            if isinstance(a, ffi.CData):
                raise Unsupported("a C value passed as a number")
            out.append(("c", kind, float(a) if kind in "df" else int(a)))
            continue
        if a is None:
            out.append(("c", "p", 0))
            continue
        if not isinstance(a, ffi.CData):
            raise Unsupported("a pointer argument that is not C data")
        t = ffi.typeof(a)
        addr = int(ffi.cast("intptr_t", a))
        if addr == 0 or (t.kind == "pointer" and t.item.cname == "void"):
            out.append(("c", "p", addr))  # NULL or a routine's address (BLAS)
            continue
        if t.kind == "array" and t.item.cname != "char":
            out.append(("blob", bytes(ffi.buffer(a))))  # sizes and strides made for the call
            continue
        hit = regions.find(addr)
        if hit is not None:
            out.append(("r",) + hit)
        elif j in scratch and t.kind == "array":
            out.append(("scratch", ffi.sizeof(a)))
        else:
            raise Unsupported("a pointer into a temporary array")
    return out


class Plan:
    """A recorded loop: the C tables ``nt_scan_loop`` runs, and the arrays they point into.

    ``n_call`` regions (the per-call arrays, in the caller's order) come first
    in the base table; fixed ones (intermediates, constants, scratch) follow.
    """

    def __init__(self, n_call):
        self.n_call = n_call
        self.fixed = {}  # region id -> index in the base table
        self.keep = []  # arrays the plan points into
        self.bases = [0] * n_call
        self.calls, self.ptrs, self.moves, self.args = [], [], [], []
        self.cond = [-1, 0, 0, 0]

    def region(self, rid, regions):
        """Index of the region ``rid`` (registering a fixed one from ``regions``)."""
        if isinstance(rid, int):
            return rid
        i = self.fixed.get(rid)
        if i is None:
            hit = next((item for item in regions.items if item[2] == rid), None)
            if hit is None:
                raise Unsupported("lost region %r" % (rid,))
            i = self.fixed[rid] = len(self.bases)
            self.bases.append(hit[3])
            self.keep.append(hit[4])
        return i

    def locate(self, spec_a, spec_b, ta, tb, regions):
        """``(region index, offset at t = 0, bytes per step)`` of a pointer seen at steps ``ta`` and ``tb``."""
        (ra, oa), (rb, ob) = spec_a, spec_b
        if ra != rb:
            raise Unsupported("a pointer that changes arrays between steps")
        if not isinstance(ra, int):
            if oa != ob:
                raise Unsupported("a pointer that moves in a fixed array")
            return self.region(ra, regions), oa, 0
        delta = (ob - oa) * (tb - ta)  # tb - ta is +1 or -1
        return ra, oa - ta * delta, delta

    def add_calls(self, calls_a, calls_b, ta, tb, regions):
        if len(calls_a) != len(calls_b) or any(len(x[1]) != len(y[1]) for x, y in zip(calls_a, calls_b)):
            raise Unsupported("the steps make different calls")
        for (tramp, raw_a), (_, raw_b) in zip(calls_a, calls_b):
            for ca, cb in zip(raw_a, raw_b):
                self.calls.append((tramp, len(self.args)))
                for xa, xb in zip(ca, cb):
                    slot = len(self.args)
                    if xa[0] != xb[0]:
                        raise Unsupported("an argument changes kind between steps")
                    if xa[0] == "r":
                        self.ptrs.append((slot,) + self.locate(xa[1:], xb[1:], ta, tb, regions))
                        self.args.append(("p", 0))
                    elif xa != xb:
                        raise Unsupported("a kernel argument changes between steps")
                    elif xa[0] == "c":
                        self.args.append((xa[1], xa[2]))
                    else:  # a blob or scratch: memory owned by the plan
                        buf = np.frombuffer(xa[1], np.uint8).copy() if xa[0] == "blob" else np.empty(xa[1], np.uint8)
                        self.keep.append(buf)
                        self.args.append(("p", _data(buf)))

    def where(self, v, vals_a, vals_b, ta, tb, regions_a, regions_b, shape, dtype):
        """Location of the step result ``v`` (C-contiguous, of ``shape`` and ``dtype``)."""
        la, lb = [], []
        for vals, regions, loc in ((vals_a, regions_a, la), (vals_b, regions_b, lb)):
            a = vals.get(v)
            if not isinstance(a, np.ndarray) or a.dtype != dtype or a.shape != tuple(shape) or not a.size \
                    or not a.flags.c_contiguous:  # fmt: skip
                raise Unsupported("a step result of unexpected layout")
            hit = regions.find(_data(a))
            if hit is None:
                raise Unsupported("a step result outside known arrays")
            loc.extend(hit)
        return self.locate(la, lb, ta, tb, regions_a)

    def finish(self):
        """Build the C tables."""
        ffi, lib = _loop_lib()
        self.lib, self.ffi = lib, ffi
        self.c_base = ffi.new("int64_t[]", self.bases)
        self.c_fns = ffi.new("int64_t[]", [f for f, _ in self.calls] or [0])
        self.c_starts = ffi.new("int64_t[]", [s for _, s in self.calls] or [0])
        self.c_args = ffi.new("nt_arg[]", max(1, len(self.args)))
        for j, (kind, v) in enumerate(self.args):
            if kind == "i":
                self.c_args[j].i = v
            elif kind in "df":
                self.c_args[j].d = v
            else:
                self.c_args[j].p = ffi.cast("void *", v)
        self.c_ptrs = ffi.new("nt_ptr[]", [list(p) for p in self.ptrs] or [[0, 0, 0, 0]])
        self.c_moves = ffi.new("nt_move[]", [list(m) for m in self.moves] or [[0] * 8])
        self.c_cond = ffi.new("int64_t[]", self.cond)

    def run(self, call_bases, t0, count, direction):
        """Run steps ``t0, t0 + direction, ...`` (``count`` of them); the number run (``until`` stops early)."""
        base = self.c_base
        for i, b in enumerate(call_bases):
            base[i] = b
        if count <= 0:
            return 0
        return self.lib.nt_scan_loop(t0, count, direction, base, len(self.calls), self.c_fns, self.c_starts,
                                     self.c_args, len(self.ptrs), self.c_ptrs, len(self.moves), self.c_moves,
                                     self.c_cond)  # fmt: skip


def _add_kind(dtype):
    kind = {np.dtype("float32"): 1, np.dtype("float64"): 2}.get(np.dtype(dtype))
    if kind is None:
        raise Unsupported("gradients of dtype %s" % dtype)
    return kind


def _layout_key(arrays):
    """What the recorded constants depend on: per array its dtype, strides and shape (values of 0-d ones)."""
    key = []
    for a in arrays:
        if not isinstance(a, np.ndarray):
            raise Unsupported("a loop input that is not an array")
        key.append((a.dtype.str, a.strides, a.shape[1:] if a.ndim else a.tobytes()))
    return tuple(key)


class _Runner:
    """Shared by both loops: the plan cache and the fallback to ``perform``."""

    def __init__(self, op):
        self.op = op
        self.plans = {}
        self.broken = None  # why this loop cannot be compiled, once known
        self.compiled_calls = 0  # calls that ran their steps in C (for tests)

    def __call__(self, node, args, outs):
        if self.broken is None:
            try:
                if self.try_compiled(node, args, outs):
                    self.compiled_calls += 1
                    return
            except Unsupported as e:
                self.broken = str(e)
            except Exception:  # noqa: BLE001 - bad input: perform raises the reference's error, with context
                pass
        self.op.perform(node, args, outs)


class ScanRunner(_Runner):
    """Runs a Scan node's steps in C."""

    def body(self):
        b = self.__dict__.get("_body")
        if b is None:
            op = self.op
            info = op.info
            n_var = sum(map(len, info.seq_taps)) + sum(map(len, info.state_taps))
            fn = _loop_function(op.inner_inputs, op.inner_outputs, op.mode)
            ins = fn.maker.fgraph.inputs
            static = [v for v in ins[n_var:] if v.type.ndim == 0]
            b = self._body = Body(fn, static)
        return b

    def try_compiled(self, node, args, outs):
        op = self.op
        info = op.info
        n, seqs, inits, nonseqs = op.prepare(args)
        if n < 2:
            return False
        body = self.body()
        fg_out = body.fgraph.outputs
        inits_a = []
        for i, init in enumerate(inits):
            init = np.asarray(init) if not isinstance(init, np.ndarray) else init
            if info.single_init[i]:
                init = init[None]
            if init.shape[0] < info.span(i):
                return False  # perform raises the error
            inits_a.append(init)
        # the state buffers are allocated here (contiguous): their dtype and step shape decide their layout
        key = (_layout_key(seqs + nonseqs), tuple((a.dtype.str, a.shape[1:]) for a in inits_a))
        plan = self.plans.get(key)
        if key in self.plans and plan is None:
            return False
        bufs = []
        for i, init in enumerate(inits_a):
            span, dt = info.span(i), fg_out[i].type.numpy_dtype
            b = np.empty((span + n,) + init.shape[1:], dt)
            b[:span] = init[init.shape[0] - span :]
            bufs.append(b)
        t0, nits = 0, None
        if plan is None:
            try:
                plan, nits, t0, stop = self.record(seqs, bufs, nonseqs, n)
            except Unsupported:
                self.plans[key] = None
                raise
            if stop is not None:  # until stopped the loop while it was being recorded
                return self.finish(node, outs, inits, bufs, nits, stop)
            self.plans[key] = plan
        if nits is None:
            nits = [np.empty((n,) + shape, dt) for shape, dt in plan.nit_layout]
        done = t0 + plan.run([_data(a) for a in seqs + bufs + nits + nonseqs], t0, n - t0, 1)
        return self.finish(node, outs, inits, bufs, nits, done)

    def step_inputs(self, seqs, bufs, nonseqs, t):
        info = self.op.info
        vals = []
        for s, taps in zip(seqs, info.seq_taps):
            vals.extend(s[t - min(taps) + tap, ...] for tap in taps)  # views, also of 0-d steps
        for i, taps in enumerate(info.state_taps):
            vals.extend(bufs[i][info.span(i) + t + tap, ...] for tap in taps)
        return vals + list(nonseqs)

    def record(self, seqs, bufs, nonseqs, n):
        """Steps 0 and 1 through the drivers; ``(plan, nit buffers, next step, steps done if until stopped)``."""
        info = self.op.info
        body = self.body()
        fg_out = body.fgraph.outputs
        n_st, n_nit = info.n_state, info.n_nit
        n_call = len(seqs) + len(bufs) + n_nit + len(nonseqs)
        nits, rec = [], []
        for t in (0, 1):
            regions = _Regions()
            for j, a in enumerate(seqs + bufs):
                regions.add(j, a)
            for j, a in enumerate(nonseqs):
                regions.add(len(seqs) + len(bufs) + n_nit + j, a)
            vals, calls = body.record(self.step_inputs(seqs, bufs, nonseqs, t), regions)
            rec.append((vals, calls, regions))
            for i in range(n_st):
                v = np.asarray(vals[fg_out[i]])
                if v.shape != bufs[i].shape[1:]:
                    raise Unsupported("state %d changes shape" % i)
                bufs[i][info.span(i) + t] = v
            for j in range(n_nit):
                v = np.asarray(vals[fg_out[n_st + j]])
                if t == 0:
                    nits.append(np.empty((n,) + v.shape, fg_out[n_st + j].type.numpy_dtype))
                nits[j][t] = v
            if info.has_until and bool(vals[fg_out[-1]]):
                return None, nits, t + 1, t + 1
        (va, ca, ra), (vb, cb, rb) = rec
        plan = Plan(n_call)
        plan.add_calls(ca, cb, 0, 1, ra)
        for i in range(n_st):
            src = plan.where(fg_out[i], va, vb, 0, 1, ra, rb, bufs[i].shape[1:], bufs[i].dtype)
            row = bufs[i][0].nbytes
            plan.moves.append((0, row, len(seqs) + i, info.span(i) * row, row) + src)
        for j in range(n_nit):
            src = plan.where(fg_out[n_st + j], va, vb, 0, 1, ra, rb, nits[j].shape[1:], nits[j].dtype)
            row = nits[j][0].nbytes
            plan.moves.append((0, row, len(seqs) + len(bufs) + j, 0, row) + src)
        if info.has_until:
            c = va[fg_out[-1]]
            if not isinstance(c, np.ndarray) or c.dtype.kind not in "biu":
                raise Unsupported("an until condition that is not an integer array")
            la, lb = ra.find(_data(c)), rb.find(_data(vb[fg_out[-1]]))
            if la is None or lb is None:
                raise Unsupported("an until condition outside known arrays")
            plan.cond = list(plan.locate(la, lb, 0, 1, ra)) + [c.nbytes]
        plan.nit_layout = [(a.shape[1:], a.dtype) for a in nits]
        plan.finish()
        return plan, nits, 2, None

    def finish(self, node, outs, inits, bufs, nits, done):
        info = self.op.info
        n_traj = info.n_state - info.n_shared
        trajs = [bufs[i][info.span(i) : info.span(i) + done] for i in range(n_traj)]
        # a copy: the final value must not keep the whole trajectory buffer alive
        finals = [bufs[i][info.span(i) + done - 1].copy() for i in range(n_traj, info.n_state)]
        self.op.store_outputs(node, outs, inits, trajs, [a[:done] for a in nits], finals, done)
        return True


class ScanGradRunner(_Runner):
    """Runs a ScanGrad node's reverse steps in C (loops without shared-variable updates)."""

    def body(self):
        b = self.__dict__.get("_body")
        if b is None:
            op = self.op
            info = op.scan.info
            if info.n_shared:
                raise Unsupported("gradients through loops that update shared variables")
            graph = op.vjp_graph()
            if graph is None:
                raise Unsupported("no gradient to propagate")
            fn = _loop_function(*graph, op.scan.mode)
            n_var = sum(map(len, info.seq_taps)) + sum(map(len, info.state_taps))
            n_in = len(op.scan.inner_inputs)
            ins = fn.maker.fgraph.inputs
            b = self._body = Body(fn, [v for v in ins[n_var:n_in] if v.type.ndim == 0])
        return b

    def try_compiled(self, node, args, outs):
        op = self.op
        info = op.scan.info
        self.body()  # the reasons not to compile that are known before looking at the inputs
        n, seqs, inits, nonseqs, trajs, g_trajs = op.unpack(args)
        stop = 0 if info.truncate_gradient < 0 else max(0, n - info.truncate_gradient)
        if n - stop < 2:
            return False
        n_st = info.n_state
        cot_types = [op.scan.inner_outputs[k].type.numpy_dtype for k in op._cot_idx]
        bufs, adjs, spans = [], [], []
        for i in range(n_st):
            span = info.span(i)
            spans.append(span)
            init = np.asarray(inits[i])
            if info.single_init[i]:
                init = init[None]
            traj = trajs[i]
            b = np.empty((span + n,) + traj.shape[1:], traj.dtype)
            b[:span] = init[init.shape[0] - span :]
            b[span:] = traj[:n]
            bufs.append(b)
            adj = np.zeros_like(b)
            adj[span:] = g_trajs[i][:n]
            adjs.append(adj)
        g_nit = []
        for j in range(info.n_nit):
            k = n_st + j
            dt = cot_types[op._cot_idx.index(k)] if k in op._cot_idx else g_trajs[k].dtype
            g_nit.append(np.ascontiguousarray(g_trajs[k][:n], dtype=dt))
        g_seqs = [np.zeros(s.shape, s.dtype) for s in seqs]
        g_non = [np.zeros(np.shape(v), np.asarray(v).dtype) for v in nonseqs]
        call = seqs + bufs + nonseqs + adjs + g_nit + g_seqs + g_non
        key = _layout_key(call)
        if key in self.plans and self.plans[key] is None:
            return False
        plan = self.plans.get(key)
        t0 = n - 1
        if plan is None:
            try:
                plan = self.plans[key] = self.record(call, n, stop)
            except Unsupported:
                self.plans[key] = None
                raise
            t0 = n - 3
        plan.run([_data(a) for a in call], t0, t0 - stop + 1, -1)
        op.store_outputs(node, outs, inits, g_seqs, adjs, spans, g_non)
        return True

    def step(self, call, t):
        """Inputs of reverse step ``t`` and where each gradient goes: ``(values, [(region, row or None)])``."""
        op = self.op
        info = op.scan.info
        n_seq, n_st, n_non = info.n_seq, info.n_state, info.n_nonseq
        seqs, bufs = call[:n_seq], call[n_seq : n_seq + n_st]
        nonseqs = call[n_seq + n_st : n_seq + n_st + n_non]
        adjs = call[n_seq + n_st + n_non : n_seq + 2 * n_st + n_non]
        g_nit = call[n_seq + 2 * n_st + n_non : n_seq + 2 * n_st + n_non + info.n_nit]
        o_gseq = n_seq + 2 * n_st + n_non + info.n_nit
        vals, slots = [], []
        for k, (s, taps) in enumerate(zip(seqs, info.seq_taps)):
            for tap in taps:
                vals.append(s[t - min(taps) + tap, ...])
                slots.append((o_gseq + k, tap - min(taps)))
        for i, taps in enumerate(info.state_taps):
            for tap in taps:
                vals.append(bufs[i][info.span(i) + t + tap, ...])
                slots.append((n_seq + n_st + n_non + i, info.span(i) + tap))
        for k, v in enumerate(nonseqs):
            vals.append(v)
            slots.append((o_gseq + n_seq + k, None))
        for k in op._cot_idx:
            vals.append(adjs[k][info.span(k) + t, ...] if k < n_st else g_nit[k - n_st][t, ...])
        vals += [bufs[i][info.span(i) + t, ...] for i in range(op._n_saved)]  # states after step t
        return vals, slots

    def record(self, call, n, stop):
        """Reverse steps ``n - 1`` and ``n - 2`` through the drivers (accumulating), then the plan."""
        op = self.op
        body = self.body()
        fg_out = body.fgraph.outputs
        rec = []
        for t in (n - 1, n - 2):
            regions = _Regions()
            for j, a in enumerate(call):
                regions.add(j, a)
            in_vals, slots = self.step(call, t)
            vals, calls = body.record(in_vals, regions)
            rec.append((vals, calls, regions))
            for v, idx in zip(fg_out, op._float_idx):
                r, row = slots[idx]
                dst = call[r] if row is None else call[r][row + t, ...]
                g = vals[v]
                if np.shape(g) != dst.shape:
                    raise Unsupported("a step gradient of unexpected shape")
                dst += g
        (va, ca, ra), (vb, cb, rb) = rec
        plan = Plan(len(call))
        plan.add_calls(ca, cb, n - 1, n - 2, ra)
        _, slots = self.step(call, 0)
        for v, idx in zip(fg_out, op._float_idx):
            r, row = slots[idx]
            dst = call[r]
            rowshape = dst.shape if row is None else dst.shape[1:]
            src = plan.where(v, va, vb, n - 1, n - 2, ra, rb, rowshape, dst.dtype)
            nbytes = dst.nbytes if row is None else dst[0].nbytes
            if row is None:
                plan.moves.append((_add_kind(dst.dtype), dst.size, r, 0, 0) + src)
            else:
                plan.moves.append((_add_kind(dst.dtype), nbytes // dst.itemsize, r, row * nbytes, nbytes) + src)
        plan.finish()
        return plan


def loop_runners(f):
    """The compiled-loop runner of each Scan / ScanGrad node of the compiled function ``f`` (C linker).

    Each has ``compiled_calls`` (calls whose steps ran in C) and ``broken``
    (why the loop runs ``perform`` instead, or None).

    Examples
    --------
    >>> import numpy as np
    >>> import nettrain as theano
    >>> import nettrain.tensor as T
    >>> x = T.dvector('x')
    >>> s, _ = theano.scan(lambda v, acc: acc + v, sequences=x, outputs_info=T.constant(0.0))
    >>> f = theano.function([x], s, mode=theano.Mode(linker='c'))
    >>> f(np.array([1., 2., 3.]))
    array([1., 3., 6.])
    >>> all(r.broken is None and r.compiled_calls == 1 for r in loop_runners(f))  # [] without a C compiler
    True
    """
    run = getattr(f, "_run", None)
    return [r for r in getattr(run, "runners", ()) if isinstance(r, _Runner)]


@c_kernel.register(Scan)
def scan_kernel(op, node):
    """The Scan's steps in one C loop when its inner function allows (else ``perform``)."""
    return Kernel("", "", lambda fn, ffi: ScanRunner(op))


@c_kernel.register(ScanGrad)
def scan_grad_kernel(op, node):
    """The BPTT steps in one C loop when the step's gradient function allows (else ``perform``)."""
    return Kernel("", "", lambda fn, ffi: ScanGradRunner(op))


__all__ = ["LOOP_SOURCE", "Plan", "ScanGradRunner", "ScanRunner", "Unsupported", "loop_runners"]
