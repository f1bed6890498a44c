"""Random expression graphs give the same values (and gradients) with FAST_RUN as without rewrites.

A small grammar builds 2-d expressions over rows R=3 and columns C=4: inputs (matrices, a row, a
column, vectors and a scalar made 2-d by dimshuffles), constants (0, 1, 2, -1, 0.5, also as full
matrices), elementwise functions on safe domains, broadcasting binary ops, transposes, reductions
with and without keepdims, and shared sub-expressions.
"""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nettrain as theano
from nettrain import tensor as T
from nettrain.compile.mode import Mode
from nettrain.graph.basic import ancestors

R, C = 3, 4
CONSTS = (0.0, 1.0, 2.0, -1.0, 0.5)
TOL = {"float64": 1e-6, "float32": 1e-4}

UNARY = {
    "neg": lambda e: -e,
    "abs": abs,
    "sqr": T.sqr,
    "tanh": T.tanh,
    "sin": T.sin,
    "cos": T.cos,
    "sigmoid": T.nnet.sigmoid,
    "softplus": T.nnet.softplus,
    "exp_tanh": lambda e: T.exp(T.tanh(e)),
    "log_abs_plus_1": lambda e: T.log(abs(e) + 1),
    "sqrt_sqr": lambda e: T.sqrt(T.sqr(e)),
    "log1p_sqr": lambda e: T.log(1 + T.sqr(e)),
    "expm1_tanh": lambda e: T.exp(T.tanh(e)) - 1,
    "log_sigmoid": lambda e: T.log(T.nnet.sigmoid(T.tanh(e) * 3)),
    "log_1m_sigmoid": lambda e: T.log(1 - T.nnet.sigmoid(T.tanh(e) * 3)),
    "exp_log": lambda e: T.exp(T.log(abs(e) + 0.5)),
    "log_exp": lambda e: T.log(T.exp(T.tanh(e))),
    "neg_neg": lambda e: T.neg(T.neg(e)),
    "pow": lambda e: (abs(e) + 1) ** 1.5,
    "cast_roundtrip": lambda e: T.cast(T.cast(e, "float64"), e.dtype),
}

BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / (1 + T.sqr(b)),
    "cancel": lambda a, b: a * (1 + T.sqr(b)) / (1 + T.sqr(b)),
    "maximum": T.maximum,
    "minimum": T.minimum,
    "switch": lambda a, b: T.switch(T.gt(a, b), a * 2, b),
    "gt_cast": lambda a, b: T.cast(T.lt(a, b), a.dtype) + a,
}

WITH_CONST = {
    "mul": lambda a, c: a * c,
    "rmul": lambda a, c: c * a,
    "add": lambda a, c: a + c,
    "sub": lambda a, c: a - c,
    "rsub": lambda a, c: c - a,
    "div_nonzero": lambda a, c: a / c if c != 0 else a / 2,
    "pow": lambda a, c: (abs(a) + 1) ** c,
}

REDUCE = {"sum": T.sum, "mean": T.mean, "max": T.max, "min": T.min, "prod": T.prod}


TRANSPOSED = {(C, R), (1, R), (C, 1)}
#: the shape a reduction starts from, for each result shape (None: either orientation)
FULL = {(1, C): (R, C), (R, 1): (R, C), (1, R): (C, R), (C, 1): (C, R), (1, 1): None}


class _Builder:
    """Draws an expression of a requested static shape; remembers built ones for reuse."""

    def __init__(self, draw, dtype):
        self.draw = draw
        self.dtype = dtype
        mk = {"float64": (T.dmatrix, T.drow, T.dcol, T.dvector, T.dscalar),
              "float32": (T.fmatrix, T.frow, T.fcol, T.fvector, T.fscalar)}[dtype]  # fmt: skip
        mat, row, col, vec, sca = mk
        self.x, self.y = mat("x"), mat("y")
        self.r, self.c = row("r"), col("c")
        self.v, self.w = vec("v"), vec("w")  # lengths C and R
        self.s = sca("s")
        self.inputs = [self.x, self.y, self.r, self.c, self.v, self.w, self.s]
        self.pool = []  # (shape, expression)

    def values(self, seed):
        rng = np.random.default_rng(seed)
        shapes = [(R, C), (R, C), (1, C), (R, 1), (C,), (R,), ()]
        return [rng.uniform(-2, 2, size=s).astype(self.dtype) for s in shapes]

    def pick(self, options):
        return options[self.draw(st.integers(0, len(options) - 1))]

    def leaf(self, shape):
        if self.draw(st.integers(0, 4)) == 0:
            value = self.draw(st.sampled_from(CONSTS))
            return T.constant(np.full(shape, value, dtype=self.dtype))
        if shape in TRANSPOSED:
            return self.leaf(shape[::-1]).T
        options = {
            (R, C): [self.x, self.y],
            (1, C): [self.r, self.v.dimshuffle("x", 0)],
            (R, 1): [self.c, self.w.dimshuffle(0, "x")],
            (1, 1): [self.s.dimshuffle("x", "x"), T.sum(self.c, axis=0, keepdims=True)],
        }[shape]
        return self.pick(options)

    def build(self, shape, depth, top=False):
        # repeated entries weigh the draw towards larger graphs
        kinds = ["binary"] * 3 + ["unary"] * 3 + ["const", "reduce"] * 2 + ["transpose", "reuse", "leaf"]
        if depth == 0:
            kinds = ["leaf", "reuse"]
        elif top:
            kinds = kinds[:-2]  # the root is never a bare input
        kind = self.draw(st.sampled_from(kinds))
        same = [e for s, e in self.pool if s == shape]
        if kind == "reuse" and same:
            return self.pick(same)  # a shared sub-expression
        if kind in ("leaf", "reuse"):
            e = self.leaf(shape)
        elif kind == "unary":
            e = UNARY[self.draw(st.sampled_from(sorted(UNARY)))](self.build(shape, depth - 1))
        elif kind == "binary":
            e = self._binary(shape, depth)
        elif kind == "const":
            c = self.draw(st.sampled_from(CONSTS))
            e = WITH_CONST[self.draw(st.sampled_from(sorted(WITH_CONST)))](self.build(shape, depth - 1), c)
        elif kind == "transpose":
            e = self.build(shape[::-1], depth - 1).T
        else:
            e = self._reduce(shape, depth)
        self.pool.append((shape, e))
        return e

    def _binary(self, shape, depth):
        # each operand has the result's length or 1 in every dimension (at least one has the full length)
        sa = tuple(d if self.draw(st.booleans()) else 1 for d in shape)
        sb = tuple(d if a == 1 else (d if self.draw(st.booleans()) else 1) for d, a in zip(shape, sa))
        a, b = self.build(sa, depth - 1), self.build(sb, depth - 1)
        if self.draw(st.booleans()):
            a, b = b, a
        if b.type.shape[0] == 1 and a.type.shape[0] != 1 and self.draw(st.booleans()):
            b = b.dimshuffle(1)  # a vector, broadcast against a matrix by Elemwise's own padding
        return BINARY[self.draw(st.sampled_from(sorted(BINARY)))](a, b)

    def _reduce(self, shape, depth):
        if shape not in FULL:
            return self.build(shape, depth - 1)  # nothing reduces to a full matrix
        full = FULL[shape] or self.draw(st.sampled_from([(R, C), (C, R)]))
        red = tuple(a for a in (0, 1) if shape[a] == 1)
        if len(red) == 2 and self.draw(st.booleans()):
            # reduce one axis of a source whose other axis is already 1
            keep1 = self.draw(st.integers(0, 1))
            full = tuple(1 if a == keep1 else full[a] for a in (0, 1))
            red = (1 - keep1,)
        src = self.build(full, depth - 1)
        axis = red[0] if len(red) == 1 and self.draw(st.booleans()) else red
        fn = REDUCE[self.draw(st.sampled_from(sorted(REDUCE)))]
        if self.draw(st.booleans()):
            return fn(src, axis=axis, keepdims=True)
        kept = iter(range(2))
        return fn(src, axis=axis).dimshuffle(*["x" if a in red else next(kept) for a in (0, 1)])


def _assert_close(got, want, rtol, what):
    assert got.dtype == want.dtype and got.shape == want.shape, (what, got.dtype, want.dtype, got.shape, want.shape)
    finite = np.isfinite(want)
    scale = max(1.0, float(np.max(np.abs(want[finite]), initial=0.0)))
    np.testing.assert_allclose(got[finite], want[finite], rtol=rtol, atol=rtol * scale, err_msg=what)


# derandomize: the same 150 graphs every run.  Random exploration once found a graph whose max
# reduction had exact ties (the same input twice): the gradient at a tie is a subgradient choice
# that rewrites may change (-9 vs -10), which is not a bug but made CI flaky.
@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data(), dtype=st.sampled_from(["float64", "float32"]), seed=st.integers(0, 2**16))
def test_random_graph_values_and_gradients_match_without_rewrites(data, dtype, seed):
    b = _Builder(data.draw, dtype)
    shape = data.draw(st.sampled_from([(R, C), (C, R), (1, C), (R, 1), (1, 1)]))
    out = b.build(shape, depth=data.draw(st.integers(4, 6)), top=True)
    if data.draw(st.booleans()):
        out = out + b.build(shape, depth=2)  # one more chance to share sub-expressions
    used = [i for i in b.inputs if i in set(ancestors([out]))]
    outputs = [out]
    if used:
        outputs += T.grad(T.sum(out), used)
    kw = dict(on_unused_input="ignore")
    # the Python linker: this tests the rewrites, and random graphs would each need a C build
    fast = theano.function(b.inputs, outputs, mode=Mode(linker="py", optimizer="fast_run"), **kw)
    ref = theano.function(b.inputs, outputs, mode=Mode(linker="py", optimizer=None), **kw)
    vals = b.values(seed)
    got, want = fast(*vals), ref(*vals)
    rtol = TOL[dtype]
    assert np.all(np.isfinite(want[0])) and np.all(np.isfinite(got[0])), (got[0], want[0])
    _assert_close(got[0], want[0], rtol, "value")
    for var, g, w in zip(used, got[1:], want[1:]):
        # gradients may be nan in the reference (e.g. 0/0 at a kink) where rewrites simplify
        _assert_close(g, w, rtol, "gradient wrt %s" % var)
