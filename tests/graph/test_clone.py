"""``clone`` with ``share_inputs=False``: new input variables; copied shared variables keep one storage."""

import numpy as np

import nettrain as theano
from nettrain import tensor as T


def test_clone_without_shared_inputs_copies_the_inputs():
    x = T.dvector("x")
    w = theano.shared(np.array([1.0, 2.0]), name="w")
    y = theano.clone(x * w + 1.0, share_inputs=False)
    new_inputs = theano.gof.graph.inputs([y])
    assert x not in new_inputs and w not in new_inputs
    (x2,) = [v for v in new_inputs if v.name == "x"]
    assert np.allclose(theano.function([x2], y)(np.array([3.0, 4.0])), [4.0, 9.0])
    assert theano.clone(x * w, share_inputs=True).owner.inputs[0] is x


def test_a_copied_shared_variable_carries_its_own_default_update():
    # Lasagne's batch-norm trick: a memory-aliased copy with a default update
    m = theano.shared(np.float64(0.0), name="m")
    m2 = theano.clone(m, share_inputs=False)
    assert m2 is not m and m2.container is m.container
    m2.default_update = m2 + 1.0
    x = T.dscalar("x")
    f = theano.function([x], x + m + 0 * m2)
    assert f(1.0) == 1.0 and m.get_value() == 1.0
    assert f(1.0) == 2.0 and m.get_value() == 2.0
