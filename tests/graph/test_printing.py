import io

import numpy as np

import nettrain as theano
import nettrain.tensor as T
from nettrain.printing import Print, debugprint, pp


def test_debugprint_shows_ops_ids_and_shapes():
    x = T.dmatrix("x")
    y = T.exp(x).sum(axis=1)
    text = debugprint(y, file="str")
    lines = text.splitlines()
    assert lines[0].startswith("Sum{axis=[1]} [id A] <float64 (?,)>")
    assert "Elemwise{Exp} [id B] <float64 (?, ?)>" in lines[1]
    assert lines[2].strip().startswith("|x [id C]")


def test_debugprint_refers_to_repeated_nodes_by_id():
    x = T.dvector("x")
    e = T.exp(x)
    text = debugprint(e + e, file="str")
    assert text.count("Elemwise{Exp} [id B]") == 2
    assert text.count("|x [id C]") == 1


def test_debugprint_of_a_compiled_function_and_to_a_file():
    x = T.dvector("x")
    f = theano.function([x], x * 2)
    buf = io.StringIO()
    debugprint(f, file=buf)
    assert "Elemwise{Mul}" in buf.getvalue()


def test_debugprint_prints_user_trace_on_request():
    x = T.dvector("x")
    text = debugprint(T.exp(x), file="str", print_trace=True)
    assert "test_printing.py" in text


def test_debugprint_handles_deep_graphs():
    x = T.dscalar("x")
    y = x
    for _ in range(3000):
        y = y * 1.0
    assert debugprint(y, file="str").count("Elemwise{Mul}") == 3000


def test_pp_writes_infix_expressions():
    x, y = T.dscalars("x", "y")
    assert pp(x * y + x) == "((x * y) + x)"
    assert pp(T.exp(-x) / 2) == "(exp(-x) / 2.0)"
    z = x + y
    z.name = "z"
    assert pp(z * 2) == "(z * 2.0)"
    assert np.isfinite(1.0)


def test_print_op_prints_on_every_call_and_is_an_identity_for_values_and_gradients(capsys):
    x = T.dvector("x")
    xv = np.array([1.0, 2.0])
    p = Print("x =")(x)
    f = theano.function([x], [p, theano.grad((p**2).sum(), x)])
    out, g = f(xv)
    f(xv)
    assert capsys.readouterr().out == "x = __str__ = [1. 2.]\n" * 2
    assert out is not xv and np.array_equal(out, xv) and np.array_equal(g, 2 * xv)
    c = theano.function([], Print("c", attrs="shape")(T.constant(np.zeros(3))))
    c()
    c()
    assert capsys.readouterr().out == "c shape = (3,)\n" * 2  # not folded away at compile time
