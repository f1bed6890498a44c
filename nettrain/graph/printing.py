"""Readable graph printing: ``debugprint`` (a tree with ids and types) and ``pp`` (infix);
``Print``, an identity op that prints the value flowing through it at run time.

Both walk the graph iteratively, so graphs thousands of nodes deep print fine.
"""

import io
import string
import sys

from .basic import Apply, Constant, Variable, io_toposort
from .op import Op


def _ids():
    """A, B, ..., Z, BA, BB, ... as Theano prints them."""
    letters = string.ascii_uppercase
    n = 0
    while True:
        s = ""
        k = n
        while True:
            s = letters[k % 26] + s
            k //= 26
            if k == 0:
                break
        yield s
        n += 1


def _roots(obj):
    """Output variables to print, and the FunctionGraph (if any) for topo order."""
    fgraph = None
    maker = getattr(obj, "maker", None)
    if maker is not None:
        fgraph = maker.fgraph
        return list(fgraph.outputs), fgraph
    if hasattr(obj, "apply_nodes") and hasattr(obj, "outputs"):
        return list(obj.outputs), obj
    if isinstance(obj, Variable):
        return [obj], None
    if hasattr(obj, "op") and hasattr(obj, "outputs"):
        return list(obj.outputs), None
    if isinstance(obj, (list, tuple)):
        outs = []
        for o in obj:
            outs.extend(_roots(o)[0])
        return outs, None
    raise TypeError("debugprint: cannot print a %s" % type(obj).__name__)


def _var_label(v, print_type, print_shape):
    if v.owner is not None:
        node = v.owner
        text = str(node.op)
        if len(node.outputs) > 1:
            text += ".%d" % v.index
    elif isinstance(v, Constant):
        text = str(v)
    else:
        text = v.name if v.name is not None else "<%s>" % type(v).__name__
    extra = ""
    if v.owner is not None and v.name:
        extra += " '%s'" % v.name
    if print_type:
        extra += " <%s>" % v.type
    elif print_shape and hasattr(v.type, "shape"):
        dims = ", ".join("?" if s is None else str(s) for s in v.type.shape)
        extra += " <%s (%s%s)>" % (getattr(v.type, "dtype", ""), dims, "," if len(v.type.shape) == 1 else "")
    return text, extra


def debugprint(obj, depth=-1, print_type=False, file=None, ids="CHAR", stop_on_name=False, print_shape=True,
               print_trace=False):  # fmt: skip
    """Print a graph (Variable, list, Function or FunctionGraph) as an indented tree.

    Each node gets an id (``[id A]``); a node seen before is printed once and
    then referred to by id.  ``print_type`` shows full types, ``print_shape``
    (default) the dtype and static shape, ``print_trace`` the user line that
    built each node.  ``file='str'`` returns the text instead of printing.

    Examples
    --------
    >>> import nettrain.tensor as T
    >>> from nettrain.printing import debugprint
    >>> x = T.dvector('x')
    >>> print(debugprint(T.exp(x) + 1, file='str'))
    Elemwise{Add} [id A] <float64 (?,)>
     |Elemwise{Exp} [id B] <float64 (?,)>
     | |x [id C] <float64 (?,)>
     |DimShuffle{x} [id D] <float64 (1,)>
       |1.0 [id E] <float64 ()>
    """
    roots, fgraph = _roots(obj)
    out = io.StringIO()
    gen = _ids()
    done = {}
    for root in roots:
        # stack of (variable, prefix_for_this_line, prefix_for_children, level)
        stack = [(root, "", "", 0)]
        while stack:
            v, prefix, child_prefix, level = stack.pop()
            key = v.owner if v.owner is not None else v
            text, extra = _var_label(v, print_type, print_shape)
            seen = key in done
            if not seen:
                done[key] = next(gen) if ids == "CHAR" else str(id(key)) if ids == "id" else ""
            id_text = " [id %s]" % done[key] if done[key] else ""
            line = "%s%s%s%s" % (prefix, text, id_text, extra)
            if print_trace and v.owner is not None and not seen:
                tr = getattr(v.owner.tag, "trace", None)
                if tr:
                    line += "  # %s:%d" % (tr[0], tr[1])
            out.write(line + "\n")
            if seen or v.owner is None or (depth != -1 and level >= depth):
                continue
            if stop_on_name and v.name is not None and level > 0:
                continue
            ins = v.owner.inputs
            for i in range(len(ins) - 1, -1, -1):
                last = i == len(ins) - 1
                p = child_prefix + " |"
                cp = child_prefix + ("  " if last else " |")
                stack.append((ins[i], p, cp, level + 1))
    text = out.getvalue().rstrip("\n")
    if file == "str":
        return text
    f = file if file is not None else sys.stdout
    f.write(text + "\n")
    return f


_INFIX = {"Add": "+", "Sub": "-", "Mul": "*", "TrueDiv": "/", "IntDiv": "//", "Mod": "%", "Pow": "**",
          "LT": "<", "GT": ">", "LE": "<=", "GE": ">=", "EQ": "==", "NEQ": "!=", "AND": "&", "OR": "|",
          "XOR": "^"}  # fmt: skip


def pp(var):
    """Infix pretty-print of a variable's expression (``(x + (y * 2))``).

    Examples
    --------
    >>> import nettrain.tensor as T
    >>> from nettrain.printing import pp
    >>> x, y = T.dscalars('x', 'y')
    >>> pp(x * y + x)
    '((x * y) + x)'
    """
    outs, fgraph = _roots(var)
    text = {}
    for node in io_toposort([], outs):
        args = []
        for v in node.inputs:
            args.append(text.get(v) or _leaf(v))
        op = node.op
        sop = getattr(op, "scalar_op", None)
        name = type(sop).__name__ if sop is not None else None
        if name in _INFIX and len(args) >= 2:
            s = "(" + (" %s " % _INFIX[name]).join(args) + ")"
        elif name == "Neg":
            s = "-%s" % args[0]
        elif sop is not None:
            s = "%s(%s)" % (name.lower(), ", ".join(args))
        elif type(op).__name__ == "DimShuffle":
            s = (
                args[0]
                if all(d == "x" or isinstance(d, int) for d in op.new_order)
                and "x" in op.new_order
                and sorted(d for d in op.new_order if d != "x") == list(op.new_order[op.new_order.count("x") :])
                else "%s.dimshuffle(%s)" % (args[0], ", ".join(repr(d) for d in op.new_order))
            )
        else:
            s = "%s(%s)" % (op, ", ".join(args))
        for i, o in enumerate(node.outputs):
            text[o] = o.name if o.name else (s if len(node.outputs) == 1 else "%s[%d]" % (s, i))
    res = [text.get(o) or _leaf(o) for o in outs]
    return res[0] if len(res) == 1 else res


def _leaf(v):
    if v.name is not None:
        return v.name
    if isinstance(v, Constant):
        return str(v)
    return "<%s>" % v.type


class Print(Op):
    """Identity op that prints ``message`` and attributes of its input's value each time it runs.

    ``attrs`` names attributes (called when callable) of the value, as in
    Theano's ``theano.printing.Print``.  Gradients pass through unchanged; the
    op is never folded away at compile time, so it prints on every call.

    Examples
    --------
    >>> import numpy as np
    >>> import nettrain
    >>> import nettrain.tensor as T
    >>> x = T.dvector('x')
    >>> f = nettrain.function([x], Print('x is', attrs=('shape', 'sum'))(x) * 2)
    >>> f(np.array([1.0, 2.0]))
    x is shape = (2,)
    x is sum = 3.0
    array([2., 4.])
    """

    __props__ = ("message", "attrs")
    view_map = {0: [0]}

    def __init__(self, message="", attrs=("__str__",)):
        self.message = str(message)
        self.attrs = (attrs,) if isinstance(attrs, str) else tuple(attrs)

    def make_node(self, x):
        if not isinstance(x, Variable):
            raise TypeError("Print needs a symbolic variable, got %r" % (x,))
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs, output_storage):
        (x,) = inputs
        for attr in self.attrs:
            value = getattr(x, attr)
            print(self.message, attr, "=", value() if callable(value) else value)
        output_storage[0][0] = x

    def infer_shape(self, node, input_shapes):
        return [input_shapes[0]]

    def grad(self, inputs, output_grads):
        return [output_grads[0]]

    def R_op(self, inputs, eval_points):
        return [eval_points[0]]

    def do_constant_folding(self, node):
        return False


__all__ = ["debugprint", "pp", "Print"]
