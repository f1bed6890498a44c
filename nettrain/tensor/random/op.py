"""``RandomVariable``: one op for every distribution, drawing from a generator state.

A node's inputs are ``[rng, *size, *params]`` (``size`` is a list of int64
scalars, absent when the shape comes from the broadcast parameters) and its
outputs ``[new_rng, sample]``.  ``perform`` copies the generator, draws from
the copy and returns it as ``new_rng``: the input generator is never mutated,
so the op is a pure function of its inputs, and ``function`` writes the new
state back through the generator's ``default_update``.
"""

import numpy as np

from ...graph.basic import Apply, Constant
from ...graph.grad import grad_undefined
from ...graph.op import Op
from ..type import TensorType, normalize_dtype
from .type import RandomGeneratorType, copy_generator


def _truncated_normal(gen, size, kw, avg, std):
    """Normal samples redrawn until within two standard deviations (Theano MRG's ``truncate``)."""
    shape = size if size is not None else np.broadcast_shapes(np.shape(avg), np.shape(std))
    z = gen.standard_normal(shape)
    bad = np.abs(z) > 2
    while bad.any():  # each round keeps ~95% of the redraws: a handful of rounds
        z[bad] = gen.standard_normal(int(bad.sum()))
        bad = np.abs(z) > 2
    return avg + std * z


def _choice(gen, size, kw, a, p=None):
    return gen.choice(a if np.ndim(a) else int(a), size=size, replace=kw["replace"], p=p)


def _choice_rows(gen, size, kw, p):
    """Per row of the probability matrix ``p``: ``size[0]`` category indices (MRG ``choice``)."""
    (n,) = size
    p = np.asarray(p, dtype=np.float64)
    p = p / p.sum(axis=1, keepdims=True)
    out = np.empty((p.shape[0], n), dtype=np.int64)
    for i, row in enumerate(p):
        out[i] = gen.choice(row.shape[0], size=n, replace=kw["replace"], p=row)
    return out


def _permutation(gen, size, kw, n):
    n = int(n)
    base = np.broadcast_to(np.arange(n, dtype=np.int64), tuple(size or ()) + (n,))
    return gen.permuted(base, axis=-1)


def _multinomial(gen, size, kw, n, pvals):
    # renormalized in float64: float32 probabilities that sum to 1 + 1e-7 would be refused by NumPy
    pvals = np.asarray(pvals, dtype=np.float64)
    pvals = pvals / pvals.sum(axis=-1, keepdims=True)
    return gen.multinomial(n, pvals, size=size)


#: dist name -> (parameter kinds, draw(gen, size, kwargs, *params)); kinds: 'real', 'int', 'any'
_DISTS = {
    "uniform": (("real", "real"), lambda gen, size, kw, lo, hi: gen.uniform(lo, hi, size)),
    "normal": (("real", "real"), lambda gen, size, kw, mu, sd: gen.normal(mu, sd, size)),
    "truncated_normal": (("real", "real"), _truncated_normal),
    "binomial": (("int", "real"), lambda gen, size, kw, n, p: gen.binomial(n, p, size)),
    "poisson": (("real",), lambda gen, size, kw, lam: gen.poisson(lam, size)),
    "integers": (("int", "int"), lambda gen, size, kw, lo, hi: gen.integers(lo, hi, size)),
    "choice": (("any", "real"), _choice),
    "choice_rows": (("real",), _choice_rows),
    "permutation": (("int",), _permutation),
    "multinomial": (("int", "real"), _multinomial),
    "permuted": (("any",), lambda gen, size, kw, x: gen.permuted(x, axis=-1)),
}


def _static_int(v):
    if isinstance(v, Constant) and np.ndim(v.data) == 0:
        return int(v.data)
    return None


def broadcast_static(shapes, what="random"):
    """Theano-broadcast static shapes (only length-1 dims broadcast); None = unknown."""
    nd = max((len(s) for s in shapes), default=0)
    out = []
    for k in range(nd):
        col = [s[len(s) - nd + k] for s in shapes if len(s) - nd + k >= 0]
        fixed = {c for c in col if c is not None and c != 1}
        if len(fixed) > 1:
            raise ValueError("%s: parameter shapes %s do not broadcast" % (what, shapes))
        if fixed:
            out.append(fixed.pop())
        elif all(c == 1 for c in col):
            out.append(1)
        else:
            out.append(None)
    return tuple(out)


class RandomVariable(Op):
    """Draw from distribution ``dist``; outputs ``(new generator state, sample)``.

    ``size_len`` is the number of size inputs, or None when the sample's shape
    is the broadcast shape of the parameters.  ``kwargs`` is a tuple of
    ``(name, value)`` pairs of static options (e.g. ``(('replace', True),)``).
    """

    __props__ = ("dist", "dtype", "size_len", "kwargs")
    default_output = 1

    def __init__(self, dist, dtype, size_len, kwargs=()):
        if dist not in _DISTS:
            raise ValueError("unknown distribution %r; known: %s" % (dist, ", ".join(sorted(_DISTS))))
        self.dist = dist
        self.dtype = normalize_dtype(dtype)
        self.size_len = None if size_len is None else int(size_len)
        self.kwargs = tuple(kwargs)

    def __str__(self):
        return "RandomVariable{%s, %s}" % (self.dist, self.dtype)

    def do_constant_folding(self, node):
        return False  # folding would freeze one draw into the graph

    def _split(self, inputs):
        n = self.size_len or 0
        return list(inputs[:n]), list(inputs[n:])

    def make_node(self, rng, *inputs):
        from ..basic import as_tensor_variable, cast

        if not isinstance(rng.type, RandomGeneratorType):
            raise TypeError("%s: the first input must be a random generator state, got %s" % (self, rng.type))
        size, params = self._split(inputs)
        size = [cast(as_tensor_variable(s), "int64") for s in size]
        for s in size:
            if s.type.ndim != 0:
                raise TypeError("%s: size entries must be integer scalars, got %s" % (self, s.type))
        kinds = _DISTS[self.dist][0]
        if not 1 <= len(params) <= len(kinds):
            raise TypeError("%s takes %d parameters, got %d" % (self.dist, len(kinds), len(params)))
        params = [as_tensor_variable(p) for p in params]
        for name_kind, p in zip(kinds, params):
            kind = p.type.dtype[:3]
            if name_kind == "int" and kind not in ("int", "uin"):
                raise TypeError("%s: parameter %s must be an integer tensor, got %s" % (self.dist, p, p.type))
            if name_kind == "real" and not p.type.dtype.startswith(("int", "uint", "float", "bool")):
                raise TypeError("%s: parameter %s must be a real tensor, got %s" % (self.dist, p, p.type))
        shape = self._static_shape([_static_int(s) for s in size] if self.size_len is not None else None, params)
        for d in shape:
            if d is not None and d < 0:
                raise ValueError("%s: negative dimension in size %s" % (self.dist, shape))
        outputs = [RandomGeneratorType()(), TensorType(self.dtype, shape)()]
        return Apply(self, [rng, *size, *params], outputs)

    def _static_shape(self, size, params):
        """Static shape of the sample, from constant size entries and the parameters' types."""
        d = self.dist
        if d == "permuted":
            return params[0].type.shape
        if d == "choice_rows":
            if size is None or len(size) != 1:
                raise ValueError("choice over the rows of p needs size = the number of draws per row")
            if params[0].type.ndim != 2:
                raise TypeError("choice: p must be a matrix (one row of probabilities per draw), got %s"
                                % params[0].type)  # fmt: skip
            return (params[0].type.shape[0], size[0])
        if d == "permutation":
            if params[0].type.ndim != 0:
                raise TypeError("permutation: n must be an integer scalar, got %s" % params[0].type)
            return tuple(size or ()) + (_static_int(params[0]),)
        if d == "multinomial":
            pv = params[1].type
            if pv.ndim < 1:
                raise TypeError("multinomial: pvals must have at least one dimension, got %s" % pv)
            batch = size if size is not None else broadcast_static([params[0].type.shape, pv.shape[:-1]], d)
            return tuple(batch) + (pv.shape[-1],)
        if d == "choice":
            if params[0].type.ndim > 1:
                raise TypeError("choice: a must be an integer or a vector, got %s" % params[0].type)
            return tuple(size) if size is not None else ()
        bshape = broadcast_static([p.type.shape for p in params], d)
        if size is None:
            return bshape
        if len(bshape) > len(size):
            raise ValueError("%s: parameters of %d dimensions do not fit size of length %d"
                             % (d, len(bshape), len(size)))  # fmt: skip
        return tuple(size)

    def perform(self, node, inputs, output_storage):
        size, params = self._split(inputs[1:])
        size = tuple(int(s) for s in size) if self.size_len is not None else None
        gen = copy_generator(inputs[0])
        sample = _DISTS[self.dist][1](gen, size, dict(self.kwargs), *params)
        output_storage[0][0] = gen
        output_storage[1][0] = np.asarray(sample, dtype=self.dtype)

    def infer_shape(self, node, input_shapes):
        size, params = self._split(node.inputs[1:])
        _, pshapes = self._split(input_shapes[1:])
        d = self.dist
        if d == "permuted":
            return [None, pshapes[0]]
        if d == "choice_rows":
            return [None, (pshapes[0][0], size[0])]
        if d == "permutation":
            return [None, tuple(size) + (params[0],)]
        if d == "multinomial":
            if self.size_len is None:
                raise NotImplementedError("multinomial shape without size")
            return [None, tuple(size) + (pshapes[1][-1],)]
        if self.size_len is not None or d == "choice":
            return [None, tuple(size)]
        # broadcast parameters: take each dimension from a parameter not broadcast there
        out = []
        nd = node.outputs[1].type.ndim
        for k in range(nd):
            entry = None
            for p, ps in zip(params, pshapes):
                j = p.type.ndim - nd + k
                if j >= 0 and p.type.shape[j] != 1:
                    entry = ps[j]
                    break
            out.append(1 if entry is None else entry)
        return [None, tuple(out)]

    def L_op(self, inputs, outputs, output_grads):
        res = [None]
        n = self.size_len or 0
        res += [None] * n
        for i, p in enumerate(inputs[1 + n :]):
            if p.type.dtype.startswith("float"):
                res.append(grad_undefined(self, 1 + n + i, p, "random draws have no gradient"))
            else:
                res.append(None)
        return res

    def connection_pattern(self, node):
        return [[True, True] for _ in node.inputs]


def random_variable(dist, rng, size, params, dtype, kwargs=()):
    """Build a RandomVariable node; ``size`` is None or a list of int scalars. Returns ``(new_rng, sample)``."""
    op = RandomVariable(dist, dtype, None if size is None else len(size), kwargs)
    node = op.make_node(rng, *(list(size or ()) + list(params)))
    return node.outputs[0], node.outputs[1]


__all__ = ["RandomVariable", "random_variable", "broadcast_static"]
