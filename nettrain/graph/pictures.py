"""Graph pictures: ``pydotprint`` (Graphviz DOT, and PNG/SVG/PDF through Graphviz's ``dot``) and the walk it
shares with the TensorBoard graph writer (``nettrain.train.tbgraph``).

Colours follow Theano's pydotprint: inputs limegreen, shared variables
YellowGreen, constants SpringGreen, outputs lightblue, updates plum (with a
dashed edge into the shared variable they replace); op nodes are ellipses
coloured by family (Elemwise pink, Subtensor lilac, ...), variables boxes.
"""

import os
import shutil
import subprocess

from .basic import Constant, SharedVariable, io_toposort

COLORS = {"input": "limegreen", "shared": "YellowGreen", "constant": "SpringGreen", "output": "lightblue",
          "update": "plum", "unused": "lightgrey"}  # fmt: skip
OP_COLORS = {"Elemwise": "#FFAABB", "Subtensor": "#FFAAFF", "IncSubtensor": "#FFAAFF", "AdvancedSubtensor1": "#FFAAFF",
             "AdvancedIncSubtensor1": "#FFAAFF", "Alloc": "#FFAA22", "Shape": "brown", "Shape_i": "brown",
             "Scan": "yellow", "IfElse": "magenta", "Dot": "#AACCFF", "Gemm": "#AACCFF", "Gemv": "#AACCFF",
             "CAReduce": "#CCAAFF"}  # fmt: skip


class GraphvizNotFound(RuntimeError):
    """Graphviz's ``dot`` program is needed to draw PNG/SVG/PDF (the DOT file was written)."""


class GraphWalk:
    """A graph's nodes in execution order and the role of each variable.

    ``obj`` is a compiled function (its rewritten graph, with its updates), a
    FunctionGraph, a Variable or a list of Variables.
    """

    def __init__(self, obj):
        self.updates = {}  # output variable -> the shared variable it replaces
        maker = getattr(obj, "maker", None)
        if maker is not None:
            fg = maker.fgraph
            n_in, n_out, n_upd = len(maker.specs), maker.n_out, maker.n_upd
            self.inputs, self.outputs = list(fg.inputs[:n_in]), list(fg.outputs[:n_out])
            self.updates = {o: k for o, (k, _) in zip(fg.outputs[n_out:n_out + n_upd], maker.updates)}
            self.nodes = fg.toposort()
            roots = fg.outputs
        else:
            fg_outputs = getattr(obj, "outputs", None)
            if fg_outputs is not None and hasattr(obj, "toposort"):
                roots, self.nodes, self.inputs = list(fg_outputs), obj.toposort(), list(obj.inputs)
            else:
                roots = list(obj) if isinstance(obj, (list, tuple)) else [obj]
                self.nodes = io_toposort([], roots)
                self.inputs = []
            self.outputs = list(roots)
        seen = set(self.inputs)
        for node in self.nodes:
            for v in node.inputs:
                if v.owner is None and v not in seen and not isinstance(v, (Constant, SharedVariable)):
                    seen.add(v)
                    self.inputs.append(v)
        self.roots = roots

    def role(self, v):
        """'input', 'shared', 'constant', 'output', 'update' or None (an intermediate result)."""
        if v in self.updates:
            return "update"
        if v in self.outputs:
            return "output"
        if isinstance(v, SharedVariable):
            return "shared"
        if isinstance(v, Constant):
            return "constant"
        if v.owner is None:
            return "input"
        return None


def _var_label(v, max_size):
    name = v.name or (v.auto_name if isinstance(v, SharedVariable) else None)
    if isinstance(v, Constant):
        text = str(v)
    else:
        text = name or str(v)
    t = v.type
    desc = "%s %s" % (getattr(t, "dtype", ""), _shape(t))
    return _cut(text, max_size) + "\\n" + desc.strip()


def _shape(t):
    shape = getattr(t, "shape", None)
    if shape is None:
        return ""
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _cut(text, n):
    return text if len(text) <= n else text[: n - 3] + "..."


def _q(text):
    return '"%s"' % text.replace("\\", "\\\\").replace('"', '\\"').replace("\\\\n", "\\n")


def to_dot(obj, compact=True, with_ids=False, max_label_size=70):
    """The DOT text of a graph (see :func:`pydotprint`)."""
    g = GraphWalk(obj)
    lines = ["digraph nettrain {", "  graph [rankdir=TB];", "  node [style=filled, fontsize=10];",
             "  edge [fontsize=8];"]  # fmt: skip
    ids = {}

    def var_node(v):
        if v in ids:
            return ids[v]
        ids[v] = vid = "v%d" % len(ids)
        role = g.role(v) or "intermediate"
        color = COLORS.get(role, "white")
        label = _var_label(v, max_label_size)
        if role == "update":
            k = g.updates[v]
            label = "update of %s\\n%s" % (k.name or k.auto_name, label.split("\\n")[-1])
        lines.append("  %s [label=%s, shape=box, fillcolor=%s, role=%s];" % (vid, _q(label), _q(color), role))
        return vid

    for i, node in enumerate(g.nodes):
        nid = "n%d" % i
        ids[node] = nid
        name = type(node.op).__name__
        label = _cut(str(node.op), max_label_size) + (" id=%d" % i if with_ids else "")
        lines.append("  %s [label=%s, shape=ellipse, fillcolor=%s, role=apply];"
                     % (nid, _q(label), _q(OP_COLORS.get(name, "white"))))  # fmt: skip
    def source(v):
        """Where edges reading ``v`` start: its box, or (compact, unnamed intermediate) its op."""
        boxed = v.owner is None or g.role(v) is not None or v.name or not compact
        if not boxed:
            return ids[v.owner]
        new = v not in ids
        vid = var_node(v)
        if new and v.owner is not None:
            lines.append("  %s -> %s;" % (ids[v.owner], vid))
        return vid

    for node in g.nodes:
        for j, v in enumerate(node.inputs):
            elabel = ("%d " % j if len(node.inputs) > 1 else "") + "%s %s" % (getattr(v.type, "dtype", ""),
                                                                             _shape(v.type))
            lines.append("  %s -> %s [label=%s];" % (source(v), ids[node], _q(elabel.strip())))
    for v in g.roots:
        vid = source(v)
        if v in g.updates:
            lines.append("  %s -> %s [style=dashed, color=blue, label=\"update\"];" % (vid, var_node(g.updates[v])))
    lines.append("}")
    return "\n".join(lines) + "\n"


def pydotprint(fct, outfile=None, compact=True, format=None, with_ids=False, max_label_size=70,
               print_output_file=True, **unsupported):  # fmt: skip
    """Draw a graph: a DOT file always, and PNG/SVG/PDF when Graphviz's ``dot`` program is installed.

    Parameters
    ----------
    fct : Function, FunctionGraph, Variable or list of Variable
        A compiled function is drawn as compiled (rewritten), with its updates.
    outfile : str, optional
        ``name.dot`` writes DOT only; ``name.png`` / ``.svg`` / ``.pdf`` writes ``name.dot`` and the
        image (default: ``nettrain_graph.png`` in the current directory).
    compact : bool
        Draw unnamed intermediate results as edges between ops (True) or as boxes.
    format : str, optional
        Image format when ``outfile`` has no extension.
    with_ids : bool
        Number the op nodes in execution order.

    Returns
    -------
    str
        The path of the file written last (the image, or the DOT file).

    Raises
    ------
    GraphvizNotFound
        An image was asked for and ``dot`` is missing (the DOT file is written first).

    Examples
    --------
    >>> import os, tempfile
    >>> import nettrain.tensor as T
    >>> from nettrain.printing import pydotprint
    >>> x = T.dvector('x')
    >>> path = pydotprint(T.exp(x) + 1, os.path.join(tempfile.mkdtemp(), 'g.dot'), print_output_file=False)
    >>> open(path).read().startswith('digraph')
    True
    """
    if unsupported:
        raise NotImplementedError("pydotprint: %s not supported; nettrain draws with compact=, with_ids=, "
                                  "max_label_size=" % ", ".join(sorted(unsupported)))  # fmt: skip
    outfile = outfile or "nettrain_graph.%s" % (format or "png")
    base, ext = os.path.splitext(outfile)
    ext = ext[1:].lower() or (format or "png")
    dot_path = base + ".dot"
    with open(dot_path, "w") as fh:
        fh.write(to_dot(fct, compact=compact, with_ids=with_ids, max_label_size=max_label_size))
    if ext == "dot":
        if print_output_file:
            print("The graph was written to %s" % dot_path)
        return dot_path
    image = base + "." + ext
    exe = shutil.which("dot")
    if exe is None:
        raise GraphvizNotFound("drawing %s needs Graphviz's `dot` program, which is not installed (e.g. apt install "
                               "graphviz, or conda install graphviz); the graph was written as DOT to %s: render it "
                               "later with `dot -T%s %s -o %s`" % (image, dot_path, ext, dot_path, image))
    r = subprocess.run([exe, "-T" + ext, dot_path, "-o", image], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("Graphviz failed to draw %s: %s" % (image, r.stderr.strip()))
    if print_output_file:
        print("The graph was drawn to %s" % image)
    return image


__all__ = ["pydotprint", "to_dot", "GraphWalk", "GraphvizNotFound", "COLORS"]
