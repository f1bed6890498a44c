"""The type-agnostic IR: Type, Variable, Constant, Apply, SharedVariable.

The graph is bipartite: an ``Apply`` node links input variables to output
variables through an ``Op``.  Variables know their ``owner`` (the Apply that
computed them) and their ``index`` in its outputs.  Nothing here knows about
NumPy; tensor semantics live in :mod:`nettrain.tensor`.
"""

import itertools

from .utils import Scratchpad, user_trace

_ids = itertools.count()


class Type:
    """The kind of value a Variable holds.  Subclasses define ``filter``."""

    variable_type = None  # class used for Variables of this type
    constant_type = None

    def filter(self, value, strict=False, allow_downcast=None):
        """Return ``value`` converted to this type, or raise TypeError."""
        raise NotImplementedError

    def is_valid_value(self, value):
        try:
            self.filter(value, strict=True)
            return True
        except (TypeError, ValueError):
            return False

    def values_eq(self, a, b):
        return a == b

    def make_variable(self, name=None):
        return (self.variable_type or Variable)(self, None, name=name)

    def __call__(self, name=None):
        return self.make_variable(name)

    def convert_variable(self, var):
        """Return ``var`` as a variable of this type, or None if impossible."""
        if var.type == self:
            return var
        return None

    def clone(self, **kwargs):
        return self


class Variable:
    """A value in the graph: an input, a constant or the output of an Apply."""

    def __init__(self, type, owner=None, index=None, name=None):
        self.type = type
        self.owner = owner
        self.index = index
        self.name = name
        self.tag = Scratchpad()
        self.auto_name = "auto_%d" % next(_ids)

    def __str__(self):
        if self.name is not None:
            return self.name
        if self.owner is not None:
            op = self.owner.op
            if len(self.owner.outputs) == 1:
                return "%s.out" % op
            return "%s.%d" % (op, self.index)
        return "<%s>" % self.type

    def __repr__(self):
        return str(self)

    def clone(self, name=None):
        """A new ownerless Variable of the same type (and name)."""
        cp = self.__class__(self.type, None, None, self.name if name is None else name)
        cp.tag = _copy_tag(self.tag)
        return cp

    def get_parents(self):
        return [self.owner] if self.owner is not None else []

    def eval(self, inputs_to_values=None):
        """Compile (and cache) a function of this variable and evaluate it.

        Examples
        --------
        >>> import nettrain.tensor as T
        >>> x = T.dscalar('x')
        >>> float((x * 2).eval({x: 3.0}))
        6.0
        """
        from ..compile.function import function

        inputs_to_values = inputs_to_values or {}
        ins = list(inputs_to_values)
        key = tuple(id(v) for v in ins)
        cache = getattr(self.tag, "_eval_cache", None)
        if cache is None:
            cache = self.tag._eval_cache = {}
        if key not in cache:
            cache[key] = function(ins, self)
        return cache[key](*[inputs_to_values[v] for v in ins])


class Constant(Variable):
    """A Variable with a fixed value ``data``."""

    def __init__(self, type, data, name=None):
        super().__init__(type, None, None, name)
        self.data = type.filter(data)

    def signature(self):
        return (self.type, self.type.constant_key(self.data) if hasattr(self.type, "constant_key") else self.data)

    def clone(self, name=None):
        cp = self.__class__(self.type, self.data, self.name if name is None else name)
        cp.tag = _copy_tag(self.tag)
        return cp

    def __str__(self):
        if self.name is not None:
            return self.name
        return self.type.format_constant(self.data) if hasattr(self.type, "format_constant") else str(self.data)


class SharedVariable(Variable):
    """A Variable whose value lives in a container shared by every function.

    ``container`` is a one-element list holding the current value, so functions
    that use the variable read and write the same storage.
    """

    def __init__(self, type, value, name=None, strict=False, allow_downcast=None, borrow=False):
        super().__init__(type, None, None, name)
        v = type.filter(value, strict=strict, allow_downcast=allow_downcast)
        if not borrow and v is value:
            v = _copy_value(v)
        self.container = [v]
        self.default_update = None

    def get_value(self, borrow=False, return_internal_type=False):
        """The current value (a copy unless ``borrow=True``)."""
        v = self.container[0]
        return v if borrow else _copy_value(v)

    def set_value(self, new_value, borrow=False):
        """Replace the value; it must fit the variable's type."""
        try:
            v = self.type.filter(new_value, strict=False, allow_downcast=None)
        except TypeError as e:
            raise TypeError("set_value of shared variable %r: %s" % (self.name or self.auto_name, e)) from None
        if not borrow and v is new_value:
            v = _copy_value(v)
        self.container[0] = v

    @property
    def value(self):
        return self.get_value()

    def clone(self, name=None):
        cp = Variable.__new__(self.__class__)
        Variable.__init__(cp, self.type, None, None, self.name if name is None else name)
        cp.container = self.container
        cp.default_update = self.default_update
        cp.tag = _copy_tag(self.tag)
        return cp

    def __str__(self):
        return self.name if self.name is not None else "<shared %s>" % self.type


def _copy_value(v):
    cp = getattr(v, "copy", None)
    return cp() if cp is not None else v


def _copy_tag(tag):
    t = Scratchpad()
    t.__dict__.update({k: v for k, v in tag.__dict__.items() if not k.startswith("_")})
    return t


class Apply:
    """One application of ``op`` to ``inputs``, producing ``outputs``."""

    def __init__(self, op, inputs, outputs):
        self.op = op
        self.inputs = list(inputs)
        for i, v in enumerate(self.inputs):
            if not isinstance(v, Variable):
                raise TypeError("input %d of %s is not a Variable: %r" % (i, op, v))
        self.tag = Scratchpad()
        self.tag.trace = user_trace()
        self.outputs = []
        for i, out in enumerate(outputs):
            if out.owner is not None and out.owner is not self:
                raise ValueError("output %d of %s already has an owner" % (i, op))
            out.owner = self
            out.index = i
            if getattr(out.tag, "trace", None) is None:
                out.tag.trace = self.tag.trace
            self.outputs.append(out)

    @property
    def out(self):
        if len(self.outputs) != 1:
            raise AttributeError("%s has %d outputs" % (self.op, len(self.outputs)))
        return self.outputs[0]

    @property
    def nin(self):
        return len(self.inputs)

    @property
    def nout(self):
        return len(self.outputs)

    def clone_with_new_inputs(self, inputs, strict=True):
        """Rebuild this node on ``inputs`` through ``op.make_node``.

        The new node keeps the original user trace so errors survive rewrites.
        """
        node = self.op.make_node(*inputs)
        if strict:
            for o, n in zip(self.outputs, node.outputs):
                if o.type != n.type and o.type.convert_variable(n) is None:
                    raise TypeError("cloning %s changed output type %s -> %s" % (self.op, o.type, n.type))
        node.tag.trace = self.tag.trace
        for o, n in zip(self.outputs, node.outputs):
            n.tag.trace = o.tag.trace
        return node

    def __str__(self):
        return "%s(%s)" % (self.op, ", ".join(str(i) for i in self.inputs))

    __repr__ = __str__


# ---------------------------------------------------------------- traversal


def ancestors(outputs, blockers=None):
    """All variables that ``outputs`` depend on (iterative, no recursion)."""
    blockers = set(blockers or ())
    seen = set()
    order = []
    stack = list(outputs)[::-1]
    while stack:
        v = stack.pop()
        if id(v) in seen:
            continue
        seen.add(id(v))
        order.append(v)
        if v.owner is not None and v not in blockers:
            stack.extend(reversed(v.owner.inputs))
    return order


def graph_inputs(outputs, blockers=None):
    """The ownerless variables (or blockers) that ``outputs`` depend on."""
    blockers = set(blockers or ())
    return [v for v in ancestors(outputs, blockers) if v.owner is None or v in blockers]


def io_toposort(inputs, outputs):
    """Apply nodes between ``inputs`` and ``outputs`` in topological order.

    Iterative depth-first post-order, so graphs thousands of nodes deep do not
    hit Python's recursion limit.
    """
    stop = set(inputs)
    done = set()
    order = []
    for out in outputs:
        if out in stop or out.owner is None or out.owner in done:
            continue
        stack = [(out.owner, 0)]
        on_stack = {out.owner}
        while stack:
            node, i = stack[-1]
            if i < len(node.inputs):
                stack[-1] = (node, i + 1)
                inp = node.inputs[i]
                parent = inp.owner
                if inp in stop or parent is None or parent in done:
                    continue
                if parent in on_stack:
                    raise ValueError("the graph has a cycle through %s" % parent)
                stack.append((parent, 0))
                on_stack.add(parent)
            else:
                stack.pop()
                on_stack.discard(node)
                done.add(node)
                order.append(node)
    return order


def variables_between(inputs, outputs):
    nodes = io_toposort(inputs, outputs)
    vs = list(inputs)
    for n in nodes:
        vs.extend(n.outputs)
    return vs


def clone_get_equiv(inputs, outputs, copy_inputs=True, memo=None, copy_orphans=True):
    """Clone the graph between ``inputs`` and ``outputs``.

    Returns a dict mapping every old variable and Apply to its clone.  Shared
    variables and constants are kept (not copied) unless ``copy_orphans``.
    """
    memo = {} if memo is None else memo
    for v in inputs:
        if v not in memo:
            memo[v] = v.clone() if copy_inputs else v
    for node in io_toposort(inputs, outputs):
        new_inputs = []
        for v in node.inputs:
            if v not in memo:
                if isinstance(v, (Constant, SharedVariable)) or not copy_orphans:
                    memo[v] = v
                else:
                    memo[v] = v.clone()
            new_inputs.append(memo[v])
        new_outputs = [o.clone() for o in node.outputs]
        new_node = Apply.__new__(Apply)
        new_node.op = node.op
        new_node.inputs = new_inputs
        new_node.tag = _copy_tag(node.tag)
        new_node.tag.trace = node.tag.trace
        new_node.outputs = []
        for i, o in enumerate(new_outputs):
            o.owner = new_node
            o.index = i
            new_node.outputs.append(o)
        memo[node] = new_node
        for o, n in zip(node.outputs, new_outputs):
            memo[o] = n
    for v in outputs:
        if v not in memo:
            memo[v] = v if isinstance(v, (Constant, SharedVariable)) else v.clone()
    return memo


def clone_replace(outputs, replace=None, strict=True, share_inputs=True):
    """Copy ``outputs`` with the variables in ``replace`` (old -> new) swapped.

    Nodes whose inputs change are rebuilt through ``make_node`` so output types
    follow the replacements.  With ``share_inputs=False`` every input of the
    graph that is not replaced (constants aside) is copied too: a copied
    shared variable is a new variable over the same storage, with its own
    ``default_update``.

    Examples
    --------
    >>> import nettrain
    >>> w = nettrain.shared(1.0, name='w')
    >>> w2 = nettrain.clone(w, share_inputs=False)
    >>> w2 is w, w2.container is w.container
    (False, True)
    """
    single = isinstance(outputs, Variable)
    outs = [outputs] if single else list(outputs)
    replace = dict(replace or {})
    if isinstance(replace, (list, tuple)):
        replace = dict(replace)
    for old, new in replace.items():
        if not isinstance(old, Variable) or not isinstance(new, Variable):
            raise TypeError("replace/givens must map Variables to Variables, got %r -> %r" % (old, new))
        if strict and old.type != new.type:
            conv = old.type.convert_variable(new)
            if conv is None:
                raise TypeError(
                    "cannot replace %s (type %s) by %s (type %s): types differ" % (old, old.type, new, new.type)
                )
            replace[old] = conv
    memo = dict(replace)
    if not share_inputs:
        for v in graph_inputs(outs):
            if v not in memo and not isinstance(v, Constant):
                memo[v] = v.clone()
    # Walk from outputs, stopping at replaced variables.
    for node in io_toposort(list(replace), outs):
        new_inputs = [memo.get(v, v) for v in node.inputs]
        if all(a is b for a, b in zip(new_inputs, node.inputs)):
            for o in node.outputs:
                memo.setdefault(o, o)
            continue
        new_node = node.clone_with_new_inputs(new_inputs, strict=False)
        for o, n in zip(node.outputs, new_node.outputs):
            memo[o] = n
    res = [memo.get(v, v) for v in outs]
    return res[0] if single else res
