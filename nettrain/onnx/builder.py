"""The ONNX graph being built: named values, weights as initializers, nodes; and the export error."""

import numpy as np

__all__ = ["GraphBuilder", "UnsupportedOpError"]


class UnsupportedOpError(NotImplementedError):
    """A layer (or activation) that has no ONNX mapping; the message names it and lists what is supported."""


class GraphBuilder:
    """Collects nodes and initializers; ``value(name)`` is a tensor name in the graph.

    ``shape`` tracks the static shape of the value being converted (None for unknown axes), which
    some converters need (e.g. ``Flatten``).
    """

    def __init__(self, opset, float_dtype=None):
        self.opset = int(opset)
        self.float_dtype = None if float_dtype is None else np.dtype(float_dtype)
        self.nodes, self.initializers, self._names = [], [], set()

    def fresh(self, base):
        base = base.replace("/", "_") or "v"
        name, n = base, 0
        while name in self._names:
            n += 1
            name = "%s_%d" % (base, n)
        self._names.add(name)
        return name

    def weight(self, name, array):
        """Add ``array`` as an initializer; returns its name."""
        from onnx import numpy_helper

        name = self.fresh(name)
        array = np.asarray(array)
        if self.float_dtype is not None and array.dtype.kind == "f":
            array = array.astype(self.float_dtype)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def const(self, base, values, dtype="int64"):
        return self.weight(base, np.asarray(values, dtype=dtype))

    def node(self, op_type, inputs, base=None, outputs=1, **attrs):
        """Add a node; returns its output name (or the list of names when ``outputs > 1``)."""
        from onnx import helper

        names = [self.fresh("%s_%s%s" % (base or op_type.lower(), op_type.lower(), "" if i == 0 else i))
                 for i in range(outputs)]
        self.nodes.append(helper.make_node(op_type, list(inputs), names, name=self.fresh("n_" + names[0]), **attrs))
        return names[0] if outputs == 1 else names
