"""The Op base class: value equality from ``__props__`` and the op protocol."""

from ..configdefaults import config
from .basic import Apply, Variable
from .testvalue import compute_test_value


class Op:
    """An operation: builds Apply nodes and computes their outputs.

    Subclasses define ``__props__`` (the attribute names that make two ops
    equal), ``make_node(*inputs) -> Apply``, ``perform(node, inputs,
    output_storage)`` (the NumPy reference; write results into
    ``output_storage[i][0]``), and optionally ``infer_shape(node,
    input_shapes)``, ``grad(inputs, output_grads)`` / ``L_op`` and ``R_op``.
    """

    __props__ = ()
    default_output = None
    #: True when the op never reads its inputs' values (only shapes/types).
    view_map = {}
    destroy_map = {}

    def _props(self):
        return tuple(getattr(self, p) for p in self.__props__)

    def __eq__(self, other):
        return type(self) is type(other) and self._props() == other._props()

    def __hash__(self):
        return hash((type(self), self._props()))

    def __str__(self):
        name = type(self).__name__
        if self.__props__:
            return "%s{%s}" % (name, ", ".join(_fmt_prop(getattr(self, p)) for p in self.__props__))
        return name

    __repr__ = __str__

    def make_node(self, *inputs):
        raise NotImplementedError("%s.make_node" % type(self).__name__)

    def __call__(self, *inputs, **kwargs):
        node = self.make_node(*inputs, **kwargs)
        if config.compute_test_value != "off":
            compute_test_value(node, config.compute_test_value)
        if config.warn_float64 != "ignore":
            _check_float64(node, config.warn_float64)
        if self.default_output is not None:
            return node.outputs[self.default_output]
        if len(node.outputs) == 1:
            return node.outputs[0]
        return node.outputs

    def perform(self, node, inputs, output_storage):
        raise NotImplementedError("%s.perform" % type(self).__name__)

    # Gradients: L_op is the general form; most ops only define grad.
    def L_op(self, inputs, outputs, output_grads):
        return self.grad(inputs, output_grads)

    def grad(self, inputs, output_grads):
        from .grad import grad_not_implemented

        return [grad_not_implemented(self, i, x) for i, x in enumerate(inputs)]

    def R_op(self, inputs, eval_points):
        return None

    def connection_pattern(self, node):
        """Which outputs depend on which inputs: ``[[bool] * nout] * nin``."""
        return [[True] * len(node.outputs) for _ in node.inputs]

    def do_constant_folding(self, node):
        return True


def _check_float64(node, action):
    """``config.warn_float64``: report an op output of dtype float64 ('warn', 'raise' or 'pdb')."""
    for out in node.outputs:
        if getattr(out.type, "dtype", None) == "float64":
            msg = "%s makes a float64 output (config.warn_float64=%r); cast to float32 or use floatX" % (node.op,
                                                                                                       action)
            if action == "warn":
                import warnings

                warnings.warn(msg, stacklevel=3)
            else:
                if action == "pdb":
                    import pdb

                    pdb.set_trace()
                raise TypeError(msg)


def _fmt_prop(v):
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, tuple):
        return "(%s)" % ", ".join(_fmt_prop(x) for x in v)
    return str(v)


__all__ = ["Op", "Apply", "Variable"]
