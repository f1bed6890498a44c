"""``function``: compile symbolic inputs/outputs/updates into a callable.

The steps (DESIGN.md §3): normalize the arguments, add default updates,
apply ``givens``, clone the graph into a FunctionGraph whose outputs are the
user's outputs followed by the update expressions, rewrite it, link it, and
wrap it in a lean ``Function`` whose call validates inputs, runs the steps,
writes the updates and returns the outputs.
"""

import time
import warnings

import numpy as np

from ..backends.python import instrumented
from ..backends import register_loop_step_compiler, threads
from ..configdefaults import config
from ..graph.basic import Constant, SharedVariable, Variable, ancestors, clone_get_equiv, clone_replace, io_toposort
from ..graph.fg import FunctionGraph, MissingInputError
from ..graph.utils import format_trace, user_trace
from .io import In, Out, wrap_in, wrap_out
from .mode import Mode, get_mode


class UnusedInputError(ValueError):
    """An input of ``function`` is not used to compute any output."""


def _normalize_outputs(outputs):
    """Return ``(kind, keys, [Out])`` for None, one, a list or a dict of outputs."""
    if outputs is None:
        return "list", None, []
    if isinstance(outputs, dict):
        keys = list(outputs)
        return "dict", keys, [wrap_out(outputs[k], repr(k)) for k in keys]
    if isinstance(outputs, (list, tuple)):
        return "list", None, [wrap_out(o, i) for i, o in enumerate(outputs)]
    return "single", None, [wrap_out(outputs, 0)]


def _normalize_pairs(pairs, what):
    if pairs is None:
        return []
    if isinstance(pairs, dict):
        return list(pairs.items())
    if isinstance(pairs, (list, tuple)):
        out = []
        for p in pairs:
            if not (isinstance(p, (list, tuple)) and len(p) == 2):
                raise TypeError(
                    "%s must be a dict or a list of (variable, expression) pairs, got the entry %r" % (what, p)
                )
            out.append(tuple(p))
        return out
    raise TypeError("%s must be a dict or a list of pairs, got %s" % (what, type(pairs).__name__))


def _as_variable_like(target, value, what):
    """``value`` as a Variable compatible with ``target``'s type, or raise."""
    if not isinstance(value, Variable):
        try:
            value = target.type.make_constant_like(value)
        except Exception as e:  # noqa: BLE001 - reported with context below
            raise TypeError("%s for %s: cannot use %r as a value: %s" % (what, _label(target), value, e)) from None
    conv = target.type.convert_variable(value)
    if conv is None:
        hint = ""
        tdt, vdt = getattr(target.type, "dtype", None), getattr(value.type, "dtype", None)
        if tdt and vdt and tdt != vdt:
            hint = " Cast it, e.g. T.cast(expr, %r)." % tdt
        raise TypeError(
            "%s for %s has type %s, but %s has type %s; they must have the same dtype and number of "
            "dimensions.%s" % (what, _label(target), value.type, _label(target), target.type, hint)
        )
    return conv


def _label(v):
    if isinstance(v, SharedVariable):
        return "shared variable %r" % (v.name or v.auto_name)
    return "variable %r" % (v.name or str(v))


def function(inputs, outputs=None, mode=None, updates=None, givens=None, no_default_updates=False,
             accept_inplace=False, name=None, rebuild_strict=True, allow_input_downcast=None, profile=None,
             on_unused_input=None, trust_input=False):  # fmt: skip
    """Compile a callable computing ``outputs`` from ``inputs``.

    Parameters
    ----------
    inputs : list of Variable or In
        The explicit inputs, in call order.
    outputs : Variable, Out, list or dict of them, optional
        What the function returns (a value, a list or a dict).
    updates : dict or list of (SharedVariable, expression)
        New values of shared variables, all computed from the old values and
        written after the call.
    givens : dict or list of (Variable, expression)
        Substitutions made in the graph before compiling.
    no_default_updates : bool or list
        Skip the ``default_update`` of all (True) or the listed shared variables.
    mode : str or Mode
        'FAST_RUN' (default), 'FAST_COMPILE' or a Mode.
    allow_input_downcast : bool, optional
        Accept inputs that need a lossy cast (e.g. float64 data for a float32 input).
    on_unused_input : {'raise', 'warn', 'ignore'}
        What to do with inputs that no output depends on.
    profile : bool or ProfileStats, optional
        Profile the calls into ``f.profile`` (default: ``config.profile``); see
        :mod:`nettrain.compile.profiling`.
    trust_input : bool
        Skip the input checks on each call (also ``f.trust_input = True``):
        arguments must then be NumPy arrays of exactly the inputs' types.

    Returns
    -------
    Function

    Examples
    --------
    >>> import numpy as np
    >>> import nettrain as theano
    >>> import nettrain.tensor as T
    >>> a, b = T.dscalar('a'), T.dscalar('b')
    >>> f = theano.function([a, b], a + b)
    >>> float(f(1.5, 2.5))
    4.0
    >>> acc = theano.shared(0.0, name='acc')
    >>> inc = theano.function([a], acc, updates={acc: acc + a})
    >>> _ = inc(2.0); float(acc.get_value())
    2.0
    """
    trace = user_trace()
    t_start = time.perf_counter()
    if not isinstance(inputs, (list, tuple)):
        raise TypeError(
            "function(inputs, outputs): inputs must be a list of variables, got %s; "
            "write function([x], ...)" % type(inputs).__name__
        )
    specs = [wrap_in(x, i) for i, x in enumerate(inputs)]
    seen = {}
    for i, s in enumerate(specs):
        if s.variable in seen:
            raise ValueError("input %s is given twice (positions %d and %d)" % (s.variable, seen[s.variable], i))
        seen[s.variable] = i
    kind, keys, outs = _normalize_outputs(outputs)
    on_unused_input = on_unused_input or config.on_unused_input
    if on_unused_input not in ("raise", "warn", "ignore"):
        raise ValueError("on_unused_input must be 'raise', 'warn' or 'ignore', got %r" % (on_unused_input,))

    # ---- updates (explicit, from In(update=...), then defaults)
    upd = []
    targets = {}
    for k, v in _normalize_pairs(updates, "updates"):
        if not isinstance(k, SharedVariable):
            raise TypeError(
                "updates: %r is not a shared variable; only shared variables (theano.shared(...)) can be updated" % (k,)
            )
        if k in targets:
            raise ValueError("updates: %s is updated twice" % _label(k))
        v = _as_variable_like(k, v, "the update")
        targets[k] = v
        upd.append((k, v))
    state_inputs = []
    for s in specs:
        if s.update is not None:
            if s.value is None:
                raise ValueError("In(%s, update=...) needs a value= for the initial state" % s.variable)
            state_inputs.append((s, _as_variable_like(s.variable, s.update, "the In update")))

    given_pairs = []
    for k, v in _normalize_pairs(givens, "givens"):
        if not isinstance(k, Variable):
            raise TypeError("givens: keys must be symbolic variables, got %r" % (k,))
        given_pairs.append((k, _as_variable_like(k, v, "the givens value") if rebuild_strict else v))
    given_map = dict(given_pairs)

    out_vars = [o.variable for o in outs]

    def _graph_vars():
        return out_vars + [v for _, v in upd] + [v for _, v in state_inputs]

    if no_default_updates is not True:
        skip = set(no_default_updates or ())
        changed = True
        while changed:
            changed = False
            graph = clone_replace(_graph_vars(), given_map, strict=False) if given_map else _graph_vars()
            # not above an input that cuts the graph: what is computed there is never run
            for v in ancestors(graph, blockers=[s.variable for s in specs]):
                if (
                    isinstance(v, SharedVariable)
                    and v.default_update is not None
                    and v not in targets
                    and v not in skip
                ):
                    du = _as_variable_like(v, v.default_update, "the default_update")
                    targets[v] = du
                    upd.append((v, du))
                    changed = True

    # ---- givens
    all_vars = _graph_vars()
    if given_map:
        all_vars = clone_replace(all_vars, given_map, strict=False)
    n_out, n_upd = len(out_vars), len(upd)

    # ---- inputs used / missing
    in_vars = [s.variable for s in specs]
    in_set = set(in_vars)
    anc = ancestors(all_vars, blockers=in_set)
    anc_set = set(anc)
    for v in anc:
        if v.owner is None and v not in in_set and not isinstance(v, (Constant, SharedVariable)):
            raise MissingInputError(v)
    for i, s in enumerate(specs):
        if s.variable not in anc_set and s.update is None:
            msg = (
                "input %d (%s) is not used to compute any output; remove it, or pass "
                "on_unused_input='ignore' (or 'warn')" % (i, s.variable)
            )
            if on_unused_input == "raise":
                raise UnusedInputError(msg)
            if on_unused_input == "warn":
                warnings.warn(msg, stacklevel=2)

    # ---- clone into a FunctionGraph
    memo = clone_get_equiv(in_vars, all_vars, copy_inputs=True)
    f_outputs = [memo[v] for v in all_vars]
    shared_vars = []
    for v in ancestors(f_outputs):
        if isinstance(v, SharedVariable) and v not in shared_vars:
            shared_vars.append(v)
    for k, _ in upd:
        if k not in shared_vars:
            shared_vars.append(k)
    f_inputs = [memo[v] for v in in_vars] + shared_vars
    fgraph = FunctionGraph(f_inputs, f_outputs)
    mode_obj = get_mode(mode)
    _prepare_linker(mode_obj, name)
    with config.change_flags(compute_test_value="off"):  # rewrites build nodes without test values
        mode_obj.optimize(fgraph)

    maker = FunctionMaker(
        specs=specs, outs=outs, kind=kind, keys=keys, fgraph=fgraph, mode=mode_obj, shared_vars=shared_vars,
        updates=upd, state_inputs=state_inputs, n_out=n_out, n_upd=n_upd, name=name, trace=trace,
        allow_input_downcast=allow_input_downcast, on_unused_input=on_unused_input, trust_input=trust_input,
        # what pickling needs to rebuild the function
        spec_graph=(io_toposort(in_vars, all_vars), in_vars, all_vars),
        profile=_profile_stats(profile, name, trace),
    )  # fmt: skip
    fn = maker.create()
    from .profiling import note_compile

    note_compile(time.perf_counter() - t_start)
    if fn.profile is not None:
        fn.profile.compile_time += time.perf_counter() - t_start
    return fn


def _profile_stats(profile, name, trace):
    """The ProfileStats of a new function (``profile`` True, a ProfileStats, or None: config.profile)."""
    if profile is None:
        profile = config.profile
    if not profile:
        return None
    from .profiling import ProfileStats

    stats = profile if isinstance(profile, ProfileStats) else ProfileStats(name=name)
    stats.trace = stats.trace or trace
    return stats


class FunctionMaker:
    """Everything ``function`` decided; ``create()`` links it into a Function."""

    def __init__(self, **kw):
        self.__dict__.update(kw)
        self.inputs = self.specs
        self.outputs = self.outs

    def create(self):
        if getattr(self, "profile", None) is not None:
            from .profiling import ProfiledFunction

            return ProfiledFunction(self)
        return Function(self)


def _prepare_linker(mode, name):
    """Let the mode's linker start what its build will need (compiler runs) while the graph is rewritten."""
    prepare = getattr(mode.get_linker(), "prepare", None)
    if prepare is not None:
        from ..backends.c.cache import labelled

        with labelled(name or "<unnamed>"):  # background builds record the function as a user
            prepare()


def _copy_needed(fgraph, out_vars):
    """Which outputs may alias an input, a constant or shared storage."""
    roots = set(fgraph.inputs)
    res = []
    for v in out_vars:
        cur = v
        alias = False
        while True:
            if cur in roots or isinstance(cur, (Constant, SharedVariable)):
                alias = True
                break
            node = cur.owner
            if node is None:
                break
            vm = getattr(node.op, "view_map", None) or {}
            src = vm.get(node.outputs.index(cur))
            if not src:
                break
            cur = node.inputs[src[0]]
        res.append(alias)
    return res


class Function:
    """A compiled function.  Call it with the input values.

    ``f.maker.fgraph`` is the rewritten graph (``f.maker.fgraph.toposort()``
    lists its nodes in execution order).
    """

    def __init__(self, maker):
        self.maker = maker
        self.name = maker.name
        fg = maker.fgraph
        specs = maker.specs
        n_in = len(specs)
        self._n_in = n_in
        in_cells = {}
        self._cells = []
        self._state = {}
        for s, v in zip(specs, fg.inputs[:n_in]):
            if s.update is not None:
                cell = [v.type.filter(s.value, strict=False, allow_downcast=s.allow_downcast)]
                self._state[s] = cell
            else:
                cell = [None]
            in_cells[v] = cell
            self._cells.append(cell)
        for v in fg.inputs[n_in:]:
            in_cells[v] = v.container
        self._types = [v.type for v in fg.inputs[:n_in]]
        self._names = {}
        for i, s in enumerate(specs):
            if s.name is not None:
                self._names.setdefault(s.name, i)
        self._defaults = {}
        for i, (s, v) in enumerate(zip(specs, fg.inputs[:n_in])):
            if s.has_default and s.update is None:
                try:
                    self._defaults[i] = v.type.filter(s.value, strict=False, allow_downcast=s.allow_downcast)
                except TypeError as e:
                    raise TypeError("default value of input %d (%s): %s" % (i, s.variable, e)) from None
        allow = maker.allow_input_downcast
        self._strict = [s.strict for s in specs]
        self._downcast = [s.allow_downcast if s.allow_downcast is not None else allow for s in specs]
        # per input: (dtype, ndim, no static lengths, NumPy scalar type accepted as is) for the
        # checks that let most arguments skip Type.filter
        self._fast = []
        for t, strict in zip(self._types, self._strict):
            dt, nd = getattr(t, "numpy_dtype", None), getattr(t, "ndim", None)
            free = all(d is None for d in getattr(t, "shape", ()))
            self._fast.append((dt, nd, free, dt.type if dt is not None and nd == 0 and not strict else None))
        linker = maker.mode.get_linker()
        # profiling and inspecting modes (NanGuardMode, DebugMode) wrap each node's runner
        self.profile = prof = getattr(maker, "profile", None)
        wrap = maker.mode.node_wrapper(fg, linker)
        if prof is not None:
            prof.linker = getattr(linker, "name", "?")
            wrap = prof.node_wrapper(wrap)
        from ..backends.c.cache import labelled

        # which output replaces which shared variable after a call: a linker may compute it in place
        n_out, n_upd = maker.n_out, maker.n_upd
        fg.update_targets = {v: k for (k, _), v in zip(maker.updates, fg.outputs[n_out : n_out + n_upd])}
        # `nettrain cache list` shows which functions use an entry
        with instrumented(wrap), labelled(self.name or "<unnamed>"):
            self._run, cells = linker.make_thunk(fg, in_cells, allow_gc=config.allow_gc)
        threads.apply()  # BLAS threads: config.blas_threads or the cores available (cheap once set)
        if prof is not None:
            self._run = prof.wrap_run(self._run)
        self._run = maker.mode.wrap_run(self, self._run)
        self._linker = linker  # for tests and debugging (e.g. its last_source)
        self.storage_map = cells  # variable -> one-element cell, for introspection
        outs = fg.outputs
        self._out_cells = [cells[v] for v in outs[:n_out]]
        alias = _copy_needed(fg, outs)  # outputs, then update values
        self._copy = [c and not o.borrow for c, o in zip(alias[:n_out], maker.outs)]
        self._any_copy = any(self._copy)
        if getattr(linker, "returns_device_arrays", False):
            # device results come back as NumPy unless the output is borrowed (Out(v, borrow=True))
            self._download = [not o.borrow for o in maker.outs]
            self._any_copy = True
        else:
            self._download = None
        self._upd = [(k.container, cells[v]) for (k, _), v in zip(maker.updates, outs[n_out : n_out + n_upd])]
        self._upd += [(self._state[s], cells[v]) for (s, _), v in zip(maker.state_inputs, outs[n_out + n_upd :])]
        # an update whose value is an input, a constant or a shared variable (or a view of one), e.g.
        # W_target <- W, gets a copy: sharing W's buffer, it would follow W's in-place updates
        self._upd_copy = alias[n_out:] if any(alias[n_out:]) else None
        self._kind = maker.kind
        self._keys = maker.keys
        # precomputed for __call__: the cells emptied after a call, the fast-path input checks
        self._clear_in = tuple(c for c, s in zip(self._cells, specs) if s.update is None)
        self._fast_in = tuple(zip(self._cells, self._fast))
        self._single = self._out_cells[0] if maker.kind == "single" and not self._any_copy else None
        # the common case of __call__ in C (compiled functions only: the Python linker stays pure Python)
        self._call_c = None
        if getattr(linker, "name", None) == "c" and not self._any_copy and maker.kind != "dict" \
                and self._upd_copy is None:  # fmt: skip
            from ..backends.c import fastcall

            spec = fastcall.call_spec(
                [(c, dt, nd or 0, free, sc, s.update is None) for c, (dt, nd, free, sc), s in
                 zip(self._cells, self._fast, specs)], self._run, self._out_cells, maker.kind == "single",
                self._upd)  # fmt: skip
            self._call_c = spec
        self._fastcall = self._call_c.call if self._call_c is not None else None
        self.trust_input = getattr(maker, "trust_input", False)

    @property
    def trust_input(self):
        """Skip the input checks (Theano's ``f.trust_input``): arguments must then be exactly right.

        With it, every argument must be given by position as a NumPy array of
        the input's dtype and rank; anything else gives wrong results or
        errors from inside the kernels.  It saves the checks' cost (a fraction
        of a microsecond per input).
        """
        return self._trust

    @trust_input.setter
    def trust_input(self, value):
        self._trust = bool(value)
        if self._call_c is not None:
            self._call_c.set_trust(self._trust)

    # ------------------------------------------------------------------ call
    def _bad_input(self, i, arg, exc):
        s = self.maker.specs[i]
        where = " (function built at %s)" % format_trace(self.maker.trace).split("\n")[0] if self.maker.trace else ""
        return TypeError(
            "bad input argument %d (%s) to %s%s: expected %s; %s"
            % (i, "'%s'" % s.name if s.name else s.variable, "function %r" % self.name if self.name else "the function",
               where, self._types[i].describe() if hasattr(self._types[i], "describe") else self._types[i], exc)
        )  # fmt: skip

    def _filter(self, i, arg):
        dt, nd, free, scalar = self._fast[i]
        if type(arg) is np.ndarray and arg.dtype == dt and arg.ndim == nd and free:
            return arg
        if type(arg) is scalar:
            return np.asarray(arg)
        try:
            return self._types[i].filter(arg, strict=self._strict[i], allow_downcast=self._downcast[i])
        except (TypeError, ValueError) as e:
            raise self._bad_input(i, arg, e) from None

    def __call__(self, *args, **kwargs):
        fast = self._fastcall
        if fast is not None and not kwargs:
            out = fast(args)  # NotImplemented (with nothing done) when some input needs the checks below
            if out is not NotImplemented:
                return out
        if kwargs or len(args) != self._n_in:
            return self._call_general(args, kwargs)
        if self._trust:
            for arg, (cell, _) in zip(args, self._fast_in):
                cell[0] = arg
        else:
            # every input given by position: inline the common checks of _filter
            ndarray, i = np.ndarray, 0
            for arg, (cell, (dt, nd, free, scalar)) in zip(args, self._fast_in):
                t = type(arg)
                if t is ndarray and free and (arg.dtype is dt or arg.dtype == dt) and arg.ndim == nd:
                    cell[0] = arg
                elif t is scalar:
                    cell[0] = np.asarray(arg)
                else:
                    cell[0] = self._filter(i, arg)
                i += 1
        self._run()
        single = self._single
        if single is not None and not self._upd:
            out = single[0]
            for c in self._clear_in:
                c[0] = None
            return out
        return self._finish()

    def _call_general(self, args, kwargs):
        cells = self._cells
        n = len(args)
        if n > self._n_in:
            raise TypeError(
                "%s takes %d argument(s) (%s), got %d"
                % (self.name or "the function", self._n_in, ", ".join(str(s.variable) for s in self.maker.specs), n)
            )
        filt = self._filter
        for i in range(n):
            cells[i][0] = filt(i, args[i])
        if n < self._n_in or kwargs:
            given = set(range(n))
            for k, v in kwargs.items():
                i = self._names.get(k)
                if i is None:
                    raise TypeError("unknown keyword argument %r; the inputs are named %s" % (k, sorted(self._names)))
                if i in given:
                    raise TypeError("argument %r given twice" % k)
                cells[i][0] = filt(i, v)
                given.add(i)
            for i in range(self._n_in):
                if i in given:
                    continue
                if i in self._defaults:
                    cells[i][0] = self._defaults[i]
                elif self.maker.specs[i].update is None:
                    s = self.maker.specs[i]
                    raise TypeError("missing argument %d (%s) and it has no default value" % (i, s.name or s.variable))
        self._run()
        return self._finish()

    def _finish(self):
        """Outputs of the run just done: copy where needed, write the updates, empty the input cells."""
        outs = [c[0] for c in self._out_cells]
        if self._any_copy:
            if self._download is not None:
                outs = [o.get() if d and getattr(o, "is_device_array", False) else o
                        for o, d in zip(outs, self._download)]  # fmt: skip
            outs = [np.array(o, copy=True) if c else o for o, c in zip(outs, self._copy)]
        upd = self._upd
        if upd:
            # read every new value before writing any: an update may be another
            # shared variable's container (e.g. a swap)
            vals = [cell[0] for _, cell in upd]
            if self._upd_copy is not None:
                vals = [v.copy() if c and hasattr(v, "copy") else v for v, c in zip(vals, self._upd_copy)]
            for (container, _), v in zip(upd, vals):
                container[0] = v
        for c in self._clear_in:
            c[0] = None
        kind = self._kind
        if kind == "single":
            return outs[0]
        if kind == "dict":
            return dict(zip(self._keys, outs))
        return outs

    # ------------------------------------------------------------- helpers
    def __getitem__(self, name):
        i = self._names[name]
        s = self.maker.specs[i]
        if s in self._state:
            return self._state[s][0]
        return self._defaults.get(i)

    def __setitem__(self, name, value):
        i = self._names[name]
        s = self.maker.specs[i]
        v = self._filter(i, value)
        if s in self._state:
            self._state[s][0] = v
        else:
            self._defaults[i] = v

    def get_shared(self):
        """The shared variables this function reads or updates."""
        return list(self.maker.shared_vars)

    def __reduce__(self):
        m = self.maker
        state = {
            "graph": m.spec_graph,
            "specs": m.specs,
            "n_out": m.n_out,
            "outs_borrow": [o.borrow for o in m.outs],
            "kind": m.kind,
            "keys": m.keys,
            "update_keys": [k for k, _ in m.updates],
            "mode": m.mode,
            "name": m.name,
            "allow_input_downcast": m.allow_input_downcast,
            "profile": self.profile is not None,  # a fresh profile (the counts are this process's)
            "trust_input": self.trust_input,
        }
        return (_restore_function, (state,))

    def __repr__(self):
        return "<nettrain.Function %s>" % (self.name or "")


def _restore_function(state):
    """Rebuild a pickled Function from its (pre-rewrite) graph."""
    _nodes, in_vars, all_vars = state["graph"]
    n_out = state["n_out"]
    outs = [Out(v, borrow=b) for v, b in zip(all_vars[:n_out], state["outs_borrow"])]
    keys = state["update_keys"]
    upd = list(zip(keys, all_vars[n_out : n_out + len(keys)]))
    specs = state["specs"]
    if state["kind"] == "single":
        outputs = outs[0]
    elif state["kind"] == "dict":
        outputs = dict(zip(state["keys"], outs))
    else:
        outputs = outs
    specs2 = []
    for s, v in zip(specs, in_vars):
        s.variable = v
        specs2.append(s)
    return function(specs2, outputs, mode=state["mode"], updates=upd, no_default_updates=True, name=state["name"],
                    allow_input_downcast=state["allow_input_downcast"], on_unused_input="ignore",
                    profile=state.get("profile") or None, trust_input=state.get("trust_input", False))  # fmt: skip


def _compile_loop_step(inputs, outputs, mode):
    """The step of a loop compiled for the C backend's compiled loops: ``(function, None)``, or ``(None, why)``.

    C-linked under the loop's rewrites (the default's when it named none); never profiled, since a
    profiled step could not be replayed from C.  A mode that checks every node (NanGuardMode,
    DebugMode) cannot be kept by a replayed plan, so such a loop runs through ``perform``.
    """
    m = get_mode(mode)
    if mode is not None and m.linker not in ("c", "auto"):
        return None, "the scan asked for the %r linker" % m.linker
    if type(m).node_wrapper is not Mode.node_wrapper or type(m).wrap_run is not Mode.wrap_run:
        return None, "the scan's mode (%s) checks every node: its steps run through perform" % type(m).__name__
    fn = function(inputs, outputs, mode=Mode(linker="c", optimizer=m.optimizer), on_unused_input="ignore",
                  profile=False)  # fmt: skip
    return fn, None


register_loop_step_compiler(_compile_loop_step)

__all__ = ["function", "Function", "FunctionMaker", "In", "Out", "UnusedInputError"]
