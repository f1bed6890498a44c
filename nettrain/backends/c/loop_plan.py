"""Loop plans: a compiled step function's kernel calls, recorded from Python and replayed from C.

Two steps of the step function run through the kernels' Python drivers,
each compiled function wrapped by a :class:`_Recorder`.  Each call's
arguments become constants (sizes, strides, BLAS routine addresses, layout
arrays) or pointers into known arrays (regions: per-call arrays such as a
sequence or a state buffer, or fixed ones such as intermediates) at a byte
offset; the two steps give each pointer's move per step.  A :class:`Plan`
holds the resulting tables, and :data:`LOOP_SOURCE` (one C function,
compiled once for every loop) runs them for any number of steps, calling
each kernel through its trampoline.  ``scan_loop.py`` uses this for Scan and
ScanGrad.
"""

import functools

import numpy as np

from ...graph.basic import Constant
from ...tensor.blas import Dot, Gemm, Gemv, Ger
from ...tensor.elemwise import Elemwise
from ...tensor.reduction import CAReduce
from ...tensor.shape import Shape, Shape_i
from ...tensor.subtensor import IncSubtensor, SliceLength
from .compiler import build_library
from .linker import param_kinds
from .registry import c_kernel

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
#: kernels that can add their product into their output (slots of beta, z and the output in the gemm
#: kernel's arguments; ``z == out`` with ``beta == 1`` accumulates): see :meth:`Plan.fold_adds`
_ACCUMULATES = {Dot: (5, 12, 15), Gemm: (5, 12, 15)}
#: the gemm kernel's argument count, and the slots of its output's rows and columns (``m``, ``n``)
_GEMM_ARGS, _GEMM_M, _GEMM_N = 16, 1, 2
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
    linker is C, since the loop runs inside a C-linked function.  The compiling
    is ``nettrain.compile``'s, lent through ``backends.loop_step_compiler``.
    """
    from .. import loop_step_compiler
    from .linker import with_trampolines

    compile_step = loop_step_compiler()
    if compile_step is None:
        raise Unsupported("nettrain.compile is not loaded")
    with with_trampolines():
        fn, why_not = compile_step(inputs, outputs, mode)
    if fn is None:
        raise Unsupported(why_not)
    return fn

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
                acc = _ACCUMULATES.get(type(node.op)) if len(kinds) == _GEMM_ARGS else None
                self.entries.append(("c", k.bind(rec, ffi), rec, kinds, int(ffi.cast("intptr_t", tramp)), ffi,
                                     by_value, _SCRATCH.get(type(node.op), ()), acc))  # fmt: skip
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
                _, _, rec, kinds, tramp, ffi, by_value, scratch, acc = e
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
                calls.append((tramp, raw, acc))
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
        self.accumulating = []  # (first argument slot, (beta, z, out) slots) of calls that can accumulate

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
        for (tramp, raw_a, acc), (_, raw_b, _) in zip(calls_a, calls_b):
            for ca, cb in zip(raw_a, raw_b):
                if acc is not None:
                    self.accumulating.append((len(self.args), acc))
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

    def fold_adds(self):
        """Let products that a step only adds into a gradient accumulate there themselves.

        A step's ``dot(x.T, dz)`` (a weight's gradient) is written to an
        intermediate that a move then adds to the accumulator: two passes
        over the matrix per step.  When the intermediate is read by nothing
        else and the accumulator by no call, the product's kernel gets the
        accumulator as its output and as its ``z`` with ``beta = 1``
        (``c += a b`` in BLAS), and the move goes.  Returns how many folded.
        """
        ptr_at = {p[0]: k for k, p in enumerate(self.ptrs)}
        read = {p[1] for p in self.ptrs}  # regions some call points into, before folding
        folded = 0
        for start, (beta, z, out) in self.accumulating:
            k = ptr_at.get(start + out)
            if k is None or start + z in ptr_at or self.args[start + z] != ("p", 0):
                continue  # no known output, or a z to add (a region's pointer, or a fixed address)
            _, region, off, delta = self.ptrs[k]
            if region < self.n_call or sum(p[1] == region for p in self.ptrs) != 1:
                continue  # a per-call array, or an intermediate some other call reads
            hits = [j for j, m in enumerate(self.moves) if m[5:] == (region, off, delta)]
            if len(hits) != 1 or any(m[5] == region for j, m in enumerate(self.moves) if j != hits[0]):
                continue
            move = self.moves[hits[0]]
            if move[0] == 0 or move[2] in read:  # a copy, or a destination the step's calls read
                continue
            (km, m), (kn, n) = self.args[start + _GEMM_M], self.args[start + _GEMM_N]
            if km != "i" or kn != "i" or m * n != move[1]:
                continue  # the move adds part of the product (a view of it): the product would not fit
            dst = move[2:5]
            self.ptrs[k] = (start + out,) + dst
            self.ptrs.append((start + z,) + dst)
            self.args[start + beta] = ("d", 1.0)
            del self.moves[hits[0]]
            folded += 1
        return folded

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


__all__ = ["Body", "LOOP_SOURCE", "Plan", "Unsupported"]
