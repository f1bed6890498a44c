"""pydotprint: the DOT text names every node and colours inputs, shared variables, outputs and updates."""

import re
import shutil

import numpy as np
import pytest

import nettrain as theano
from nettrain import tensor as T
from nettrain.printing import GraphvizNotFound, pydotprint


def _parse(text):
    """``(nodes {id: attrs}, edges [(src, dst, attrs)])`` of our DOT output."""
    nodes, edges = {}, []
    for line in text.splitlines():
        m = re.match(r"\s+(\w+) -> (\w+)(?: \[(.*)\])?;$", line)
        if m:
            edges.append((m.group(1), m.group(2), m.group(3) or ""))
            continue
        m = re.match(r"\s+(\w+) \[(.*)\];$", line)
        if m and m.group(1) not in ("graph", "node", "edge"):
            attrs = dict(re.findall(r'(\w+)=("(?:[^"\\]|\\.)*"|[^,\s]+)', m.group(2)))
            nodes[m.group(1)] = {k: v.strip('"') for k, v in attrs.items()}
    return nodes, edges


def _train_step():
    x = T.dmatrix("x")
    w = theano.shared(np.ones((3, 2)), name="w")
    cost = T.nnet.softmax(T.dot(x, w)).sum()
    return theano.function([x], cost, updates={w: w - 0.1 * theano.grad(cost, w)}), w


def test_a_function_is_drawn_with_roles_colours_and_the_update_edge(tmp_path):
    f, w = _train_step()
    path = pydotprint(f, str(tmp_path / "step.dot"), print_output_file=False)
    nodes, edges = _parse(open(path).read())
    ops = [n for n in nodes.values() if n["role"] == "apply"]
    assert len(ops) == len(f.maker.fgraph.toposort())
    by_role = {}
    for nid, n in nodes.items():
        by_role.setdefault(n["role"], []).append(nid)
    (x,) = by_role["input"]
    (wv,) = by_role["shared"]
    (out,) = by_role["output"]
    (upd,) = by_role["update"]
    assert nodes[x]["fillcolor"] == "limegreen" and nodes[x]["label"].startswith("x\\n")
    assert nodes[wv]["fillcolor"] == "YellowGreen" and nodes[wv]["label"].startswith("w\\n")
    assert nodes[out]["fillcolor"] == "lightblue" and nodes[upd]["fillcolor"] == "plum"
    assert nodes[upd]["label"].startswith("update of w")
    assert (upd, wv, 'style=dashed, color=blue, label="update"') in edges
    # every op is reachable from an input and every edge joins known nodes
    assert all(s in nodes and d in nodes for s, d, _ in edges)
    assert any(s == x for s, _, _ in edges) and any(d == out for _, d, _ in edges)


def test_a_variable_and_compact_off(tmp_path):
    x = T.dvector("x")
    y = T.exp(x) * 2
    compact = _parse(open(pydotprint(y, str(tmp_path / "a.dot"), print_output_file=False)).read())[0]
    full = _parse(open(pydotprint(y, str(tmp_path / "b.dot"), compact=False, print_output_file=False)).read())[0]
    assert len(full) > len(compact)  # intermediate results get boxes
    assert sorted(n["role"] for n in compact.values()) == ["apply", "apply", "apply", "constant", "input", "output"]


def test_an_image_needs_graphviz_and_says_so(tmp_path, monkeypatch):
    f, _ = _train_step()
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(GraphvizNotFound, match=r"needs Graphviz's `dot` program.*written as DOT to .*step\.dot"):
        pydotprint(f, str(tmp_path / "step.png"), print_output_file=False)
    assert (tmp_path / "step.dot").read_text().startswith("digraph")
    with pytest.raises(NotImplementedError, match="scan_graphs"):
        pydotprint(f, str(tmp_path / "s.dot"), scan_graphs=True)


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
def test_svg_through_graphviz(tmp_path):
    f, _ = _train_step()
    path = pydotprint(f, str(tmp_path / "step.svg"), print_output_file=False)
    assert path.endswith(".svg") and "<svg" in open(path).read()
