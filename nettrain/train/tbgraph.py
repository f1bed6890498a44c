"""The compiled training step in TensorBoard's Graphs tab: a ``GraphDef`` written straight to the event file.

Nodes are named so TensorBoard groups them: inputs by their names (``x``,
``y``), shared variables by their dotted names turned into scopes
(``dense0.W`` -> ``dense0/W``), ops as ``ops/<Op class>_<position>``, and each
update as ``updates/<shared variable>`` fed by the op that computes it.  Every
node carries its dtype and shape (``dtype``, ``shape``) and ops their full
text (``op``).
"""

import re

from ..graph.basic import Constant
from ..graph.pictures import GraphWalk


def _name(text):
    return re.sub(r"[^A-Za-z0-9_./-]", "_", text)


def graph_def(fn):
    """A tensorboardX ``GraphDef`` of a compiled function (or anything :class:`GraphWalk` takes)."""
    from tensorboardX.proto.attr_value_pb2 import AttrValue
    from tensorboardX.proto.graph_pb2 import GraphDef
    from tensorboardX.proto.node_def_pb2 import NodeDef
    from tensorboardX.proto.tensor_shape_pb2 import TensorShapeProto
    from tensorboardX.proto.versions_pb2 import VersionDef

    g = GraphWalk(fn)
    names, nodes, used = {}, [], set()

    def unique(base):
        n, k = base, 1
        while n in used:
            k += 1
            n = "%s_%d" % (base, k)
        used.add(n)
        return n

    def attrs(v, extra=()):
        t = v.type
        shape = getattr(t, "shape", None)
        a = {"dtype": AttrValue(s=str(getattr(t, "dtype", t)).encode())}
        if shape is not None:
            a["shape"] = AttrValue(shape=TensorShapeProto(dim=[TensorShapeProto.Dim(size=-1 if d is None else d)
                                                               for d in shape]))  # fmt: skip
        for k, val in extra:
            a[k] = AttrValue(s=val.encode())
        return a

    def leaf(v):
        if v in names:
            return names[v]
        role = g.role(v)
        if isinstance(v, Constant):
            base, op = "constants/c", "Const"
        elif role == "shared":
            base, op = _name((v.name or v.auto_name).replace(".", "/")), "Variable"
        else:
            base, op = _name(v.name or "input"), "Placeholder"
        names[v] = n = unique(base)
        nodes.append(NodeDef(name=n, op=op, input=[], attr=attrs(v)))
        return n

    for i, node in enumerate(g.nodes):
        inputs = [leaf(v) if v.owner is None else names[v.owner] for v in node.inputs]
        out = node.outputs[0]
        names[node] = n = unique("ops/%s_%d" % (type(node.op).__name__, i))
        nodes.append(NodeDef(name=n, op=type(node.op).__name__, input=inputs,
                             attr=attrs(out, [("op", str(node.op))])))  # fmt: skip
    for o, shared in g.updates.items():
        src = names[o.owner] if o.owner is not None else leaf(o)
        target = leaf(shared)
        nodes.append(NodeDef(name=unique("updates/" + target), op="Assign", input=[src, target], attr=attrs(o)))
    for k, o in enumerate(g.outputs):
        src = names[o.owner] if o.owner is not None else leaf(o)
        nodes.append(NodeDef(name=unique("outputs/%s" % _name(o.name or str(k))), op="Identity", input=[src],
                             attr=attrs(o)))  # fmt: skip
    return GraphDef(node=nodes, versions=VersionDef(producer=22))


def write_graph(logger, fn):
    """Write ``fn``'s graph into a :class:`~nettrain.train.tblog.TensorBoardLogger`'s event file."""
    writer = getattr(logger, "writer", None)
    if writer is None:
        return
    # SummaryWriter.add_graph wants a PyTorch model; the file writer takes a GraphDef as it is
    writer._get_file_writer().add_onnx_graph(graph_def(fn))


def read_graph(logdir):
    """The last ``GraphDef`` written into the event files of ``logdir`` (None if there is none)."""
    from tensorboardX.proto.graph_pb2 import GraphDef

    from .tblog import iter_events

    found = None
    for ev in iter_events(logdir):
        if ev.HasField("graph_def"):
            found = GraphDef.FromString(ev.graph_def)
    return found


__all__ = ["graph_def", "write_graph", "read_graph"]
