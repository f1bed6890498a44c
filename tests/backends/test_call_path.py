"""The per-call path of Function (fast checks of positional inputs) keeps the general path's behaviour."""

import numpy as np
import pytest

import nettrain as theano
import nettrain.tensor as T
from nettrain.compile.io import In


@pytest.mark.parametrize("linker", ["py", "c"])
def test_numpy_scalars_of_the_input_dtype_are_accepted_as_0d_arrays(linker):
    a, b = T.dscalars("a", "b")
    f = theano.function([a, b], a + b, mode=theano.Mode(linker=linker))
    out = f(np.float64(1.5), np.float64(2.0))
    assert type(out) is np.ndarray and out.dtype == np.float64 and out.shape == ()
    assert float(out) == 3.5
    assert float(f(np.float32(1.5), 2)) == 3.5  # other types still go through Type.filter
    assert all(c[0] is None for c in f._cells)  # input cells are emptied after the call


def test_fast_path_still_rejects_lossy_and_strict_inputs_with_the_filter_messages():
    x = T.fscalar("x")
    f = theano.function([x], x * 2)
    with pytest.raises(TypeError, match="bad input argument 0 \\('x'\\).*without loss"):
        f(np.float64(1.0))
    y = T.dscalar("y")
    g = theano.function([In(y, strict=True)], y * 2)
    with pytest.raises(TypeError, match="expected a numpy.ndarray, got float64"):
        g(np.float64(1.0))
    assert float(g(np.asarray(1.0))) == 2.0


def test_fast_path_checks_static_shapes_and_ranks():
    m = T.TensorType("float64", (2, None))("m")
    f = theano.function([m], m.sum())
    with pytest.raises(TypeError, match="dimension 0 has length 3 but the type requires 2"):
        f(np.ones((3, 4)))
    v = T.dvector("v")
    g = theano.function([v], v * 2)
    with pytest.raises(TypeError, match="wrong number of dimensions"):
        g(np.ones((2, 2)))
    np.testing.assert_allclose(g(np.arange(3.0)), [0.0, 2.0, 4.0])


def test_updates_and_outputs_of_the_fast_path():
    x = T.dvector("x")
    acc = theano.shared(np.zeros(2), name="acc")
    f = theano.function([x], [x + 1, acc], updates={acc: acc + x})
    out, old = f(np.ones(2))
    np.testing.assert_allclose(out, [2.0, 2.0])
    np.testing.assert_allclose(old, [0.0, 0.0])
    np.testing.assert_allclose(acc.get_value(), [1.0, 1.0])
    single = theano.function([x], x)  # the output aliases the input: a copy is returned
    xv = np.ones(2)
    assert single(xv) is not xv
