"""``In`` and ``Out``: per-input and per-output options of ``function``."""

from ..graph.basic import Constant, SharedVariable, Variable


class In:
    """A function input with options.

    Parameters
    ----------
    variable : Variable
        The symbolic input.
    name : str, optional
        Keyword name for the argument (defaults to ``variable.name``).
    value : optional
        Default value used when the argument is not given.
    update : Variable, optional
        With ``value``: the input becomes internal state, replaced by
        ``update`` after each call (Theano's stateful inputs).
    strict : bool
        Only accept values of exactly the input's type.
    allow_downcast : bool or None
        Allow lossy conversion of the value (None: only Python floats).
    borrow : bool
        The function may keep a reference to the argument.

    Examples
    --------
    >>> import nettrain as theano
    >>> import nettrain.tensor as T
    >>> x, y = T.dscalars('x', 'y')
    >>> f = theano.function([x, theano.In(y, value=1.0)], x + y)
    >>> float(f(2.0)), float(f(2.0, y=3.0))
    (3.0, 5.0)
    """

    def __init__(self, variable, name=None, value=None, update=None, mutable=False, strict=False,
                 allow_downcast=None, autoname=True, implicit=False, borrow=False, shared=False):  # fmt: skip
        if not isinstance(variable, Variable):
            raise TypeError("In() needs a symbolic Variable, got %r" % (variable,))
        self.variable = variable
        self.name = name if name is not None else (variable.name if autoname else None)
        self.value = value
        self.update = update
        self.mutable = mutable
        self.strict = strict
        self.allow_downcast = allow_downcast
        self.implicit = implicit
        self.borrow = borrow
        self.has_default = value is not None

    def __repr__(self):
        return "In(%s)" % self.variable


class Out:
    """A function output; ``borrow=True`` returns internal storage without a copy."""

    def __init__(self, variable, borrow=False):
        if not isinstance(variable, Variable):
            raise TypeError("Out() needs a symbolic Variable, got %r" % (variable,))
        self.variable = variable
        self.borrow = borrow

    def __repr__(self):
        return "Out(%s)" % self.variable


def wrap_in(x, position):
    """Check one entry of ``function``'s ``inputs`` and return it as an In."""
    if isinstance(x, In):
        v = x.variable
        spec = x
    elif isinstance(x, Variable):
        v = x
        spec = In(x)
    else:
        raise TypeError(
            "function inputs must be symbolic Variables (e.g. T.dmatrix('x')) or In(...); "
            "input %d is %s %r" % (position, type(x).__name__, x)
        )
    if isinstance(v, SharedVariable):
        raise TypeError(
            "input %d (%s) is a shared variable: shared variables are implicit inputs and cannot be "
            "listed in `inputs`; use them in the graph directly, or replace them with `givens`" % (position, v)
        )
    if isinstance(v, Constant):
        raise TypeError("input %d (%s) is a constant; a function input must be a free variable" % (position, v))
    # An input computed by other ops (Theano allowed it) cuts the graph there:
    # its value is fed, and what it is computed from is not evaluated.
    return spec


def wrap_out(x, position):
    """Check one output and return it as an Out."""
    if isinstance(x, Out):
        return x
    if isinstance(x, Variable):
        return Out(x)
    raise TypeError(
        "function outputs must be symbolic Variables or Out(...); output %s is %s %r" % (position, type(x).__name__, x)
    )
