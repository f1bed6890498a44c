"""FunctionGraph: a graph with fixed inputs/outputs, client lists and replace.

Rewriters work on a FunctionGraph: they look up a variable's ``clients``
(the ``(node, input_index)`` pairs that read it) and call ``replace`` to swap
a variable for an equivalent one.  Features attached with ``attach_feature``
are told about every import, prune and input change.
"""

from .basic import Constant, Variable, io_toposort
from .utils import user_trace  # noqa: F401  (re-exported for rewriters)


class InconsistencyError(Exception):
    """A replacement would make the graph invalid."""


class FunctionGraph:
    """A mutable graph between ``inputs`` and ``outputs``.

    The variables given are used as they are (not cloned); callers clone first
    when the user's graph must stay untouched (``function`` does).
    """

    def __init__(self, inputs, outputs, features=()):
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self.apply_nodes = set()
        self.variables = set()
        self.clients = {}
        self._features = []
        for v in self.inputs:
            if v.owner is not None:
                raise ValueError("FunctionGraph input %s has an owner" % v)
            self._add_var(v)
        for node in io_toposort(self.inputs, self.outputs):
            self._import_node(node, check=True)
        for i, out in enumerate(self.outputs):
            self._import_var(out)
            self.clients[out][("output", i)] = None
        for f in features:
            self.attach_feature(f)

    # --------------------------------------------------------------- building
    def _add_var(self, v):
        if v not in self.clients:
            # an insertion-ordered dict used as a set: O(1) removal on deep graphs
            self.clients[v] = {}
            self.variables.add(v)

    def _import_var(self, v):
        if v in self.clients:
            return
        if v.owner is not None:
            for node in io_toposort(self.inputs, [v]):
                self._import_node(node, check=True)
        else:
            if not isinstance(v, Constant) and not getattr(v, "container", None) and v not in self.inputs:
                raise MissingInputError(v)
            self._add_var(v)

    def _import_node(self, node, check=True):
        if node in self.apply_nodes:
            return
        for i, v in enumerate(node.inputs):
            if v not in self.clients:
                if v.owner is None:
                    if check and not isinstance(v, Constant) and not hasattr(v, "container"):
                        raise MissingInputError(v)
                    self._add_var(v)
                else:
                    self._import_node(v.owner, check)
            self.clients[v][(node, i)] = None
        self.apply_nodes.add(node)
        for o in node.outputs:
            self._add_var(o)
        for f in self._features:
            cb = getattr(f, "on_import", None)
            if cb:
                cb(self, node)

    def _prune(self, v):
        """Remove ``v``'s producer if nothing reads it any more."""
        stack = [v]
        while stack:
            v = stack.pop()
            node = v.owner
            if node is None or node not in self.apply_nodes:
                if v.owner is None and not self.clients.get(v) and v not in self.inputs:
                    self.clients.pop(v, None)
                    self.variables.discard(v)
                continue
            if any(self.clients.get(o) for o in node.outputs):
                continue
            self.apply_nodes.discard(node)
            for o in node.outputs:
                self.clients.pop(o, None)
                self.variables.discard(o)
            for f in self._features:
                cb = getattr(f, "on_prune", None)
                if cb:
                    cb(self, node)
            for i, inp in enumerate(node.inputs):
                cl = self.clients.get(inp)
                if cl is not None:
                    cl.pop((node, i), None)
                    if not cl:
                        stack.append(inp)

    # ------------------------------------------------------------- replacing
    def change_input(self, node, i, new_var, reason=None):
        """Make ``node`` (or output slot ``i`` when node == 'output') read ``new_var``."""
        if node == "output":
            old = self.outputs[i]
            if old is new_var:
                return
            self.outputs[i] = new_var
        else:
            old = node.inputs[i]
            if old is new_var:
                return
            node.inputs[i] = new_var
        self._import_var(new_var)
        self.clients[new_var][(node, i)] = None
        self.clients[old].pop((node, i), None)
        for f in self._features:
            cb = getattr(f, "on_change_input", None)
            if cb:
                cb(self, node, i, old, new_var, reason)
        if not self.clients[old]:
            self._prune(old)

    def replace(self, var, new_var, reason=None):
        """Replace every use of ``var`` by ``new_var`` (types must agree)."""
        if var is new_var:
            return
        if var.type != new_var.type:
            conv = var.type.convert_variable(new_var)
            if conv is None:
                raise TypeError("replacement by %s changes type %s -> %s (%s)" % (reason, var.type, new_var.type, var))
            new_var = conv
        if var not in self.clients:
            return
        # Keep the user's source line on the variable that takes over.
        if getattr(new_var.tag, "trace", None) is None:
            new_var.tag.trace = getattr(var.tag, "trace", None)
        for node, i in list(self.clients[var]):
            self.change_input(node, i, new_var, reason)

    def replace_all(self, pairs, reason=None):
        for var, new_var in pairs:
            self.replace(var, new_var, reason)

    # ---------------------------------------------------------------- queries
    def toposort(self):
        """The Apply nodes in an order where producers come before consumers."""
        return io_toposort(self.inputs, self.outputs)

    def attach_feature(self, feature):
        self._features.append(feature)
        cb = getattr(feature, "on_attach", None)
        if cb:
            cb(self)

    def remove_feature(self, feature):
        self._features.remove(feature)

    def __str__(self):
        return "FunctionGraph(%s)" % ", ".join(str(o) for o in self.outputs)

    def check_integrity(self):
        for node in self.apply_nodes:
            for i, v in enumerate(node.inputs):
                assert (node, i) in self.clients[v], (node, i, v)
        return True


class MissingInputError(ValueError):
    """A graph reads a variable that is neither an input, a constant nor shared."""

    def __init__(self, var):
        from .utils import format_trace

        trace = getattr(var.tag, "trace", None)
        msg = (
            "the graph needs the variable %s (type %s), which is not among the function's inputs; "
            "add it to `inputs` or give it a value with `givens`" % (var, var.type)
        )
        if trace:
            msg += "\nIt was created at " + format_trace(trace)
        super().__init__(msg)
        self.variable = var


__all__ = ["FunctionGraph", "InconsistencyError", "MissingInputError", "Variable"]
