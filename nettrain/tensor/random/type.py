"""The type of random generator states, its variables and its shared variables.

A generator state is a ``numpy.random.Generator`` (nettrain makes them on a
counter-based ``Philox`` bit generator, whose state is a few integers).  Random
ops never mutate a generator: they copy it, draw from the copy and return the
copy as their new-state output, so values held by shared variables, graphs and
callers stay valid.
"""

import numpy as np

from ...graph.basic import SharedVariable, Type, Variable


def copy_generator(gen):
    """A deep copy of ``gen`` (same bit-generator class and state)."""
    bg = gen.bit_generator
    # seeding with 0 and then overwriting the state avoids asking the OS for entropy
    new = type(bg)(0)
    new.state = bg.state
    return np.random.Generator(new)


def generator_state_to_arrays(gen):
    """The state of ``gen`` as a flat ``{key: np.ndarray}`` dict (for checkpoints).

    Examples
    --------
    >>> import numpy as np
    >>> from nettrain.tensor.random.type import generator_state_to_arrays, generator_state_from_arrays
    >>> g = np.random.Generator(np.random.Philox(1))
    >>> h = generator_state_from_arrays(generator_state_to_arrays(g))
    >>> bool(g.random() == h.random())
    True
    """
    state = gen.bit_generator.state
    out = {}

    def walk(prefix, d):
        for k, v in d.items():
            key = prefix + k
            if isinstance(v, dict):
                walk(key + ".", v)
            elif isinstance(v, str):
                out[key] = np.array(v)  # the bit generator's class name
            elif isinstance(v, (int, np.integer)) and not 0 <= int(v) < 2**64:
                out[key + "#int"] = np.array(str(int(v)))  # e.g. PCG64's 128-bit state, as decimal text
            else:
                out[key] = np.array(v, dtype=np.uint64) if not isinstance(v, np.ndarray) else v.copy()

    walk("", state)
    return out


def generator_state_from_arrays(arrays):
    """Rebuild a Generator from :func:`generator_state_to_arrays` output."""
    state = {}
    for key, v in arrays.items():
        if key.endswith("#int"):
            key, v = key[: -len("#int")], int(str(np.asarray(v)))
        parts = key.split(".")
        d = state
        for p in parts[:-1]:
            d = d.setdefault(p, {})
        if isinstance(v, int):
            d[parts[-1]] = v
            continue
        v = np.asarray(v)
        if v.dtype.kind in "US":
            d[parts[-1]] = str(v)
        elif v.ndim == 0:
            d[parts[-1]] = int(v)
        else:
            d[parts[-1]] = v.astype(np.uint64)
    name = state.get("bit_generator")
    bg_class = getattr(np.random, name, None) if isinstance(name, str) else None
    if bg_class is None or not isinstance(bg_class, type) or not issubclass(bg_class, np.random.BitGenerator):
        raise ValueError("generator state names an unknown bit generator %r" % (name,))
    bg = bg_class(0)
    bg.state = state
    return np.random.Generator(bg)


class RandomGeneratorType(Type):
    """The type of a ``numpy.random.Generator`` value (a random state)."""

    def filter(self, value, strict=False, allow_downcast=None):
        if isinstance(value, np.random.Generator):
            return value
        raise TypeError(
            "expected a numpy.random.Generator (e.g. np.random.Generator(np.random.Philox(seed))), got %s"
            % type(value).__name__
        )

    def values_eq(self, a, b):
        return _states_equal(a.bit_generator.state, b.bit_generator.state)

    def make_variable(self, name=None):
        return RandomGeneratorVariable(self, None, name=name)

    def describe(self):
        return "random generator"

    def __eq__(self, other):
        return type(self) is type(other)

    def __hash__(self):
        return hash(type(self))

    def __str__(self):
        return "RandomGeneratorType"

    __repr__ = __str__


def _states_equal(a, b):
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_states_equal(a[k], b[k]) for k in a)
    return np.array_equal(a, b) if isinstance(a, np.ndarray) else a == b


class RandomGeneratorVariable(Variable):
    """A symbolic random generator state."""

    def zeros_like(self, dtype=None):
        # asked for by the gradient walk for the (unused) new-state output of a random op
        from ...graph.grad import disconnected_type

        return disconnected_type()


class RandomGeneratorSharedVariable(SharedVariable, RandomGeneratorVariable):
    """A shared generator state; ``get_value``/``set_value`` copy deeply unless ``borrow``."""

    def __init__(self, type, value, name=None, strict=False, allow_downcast=None, borrow=False):
        super().__init__(type, value, name=name, strict=strict, allow_downcast=allow_downcast, borrow=True)
        if not borrow:
            self.container[0] = copy_generator(self.container[0])

    def get_value(self, borrow=False, return_internal_type=False):
        v = self.container[0]
        return v if borrow else copy_generator(v)

    def set_value(self, new_value, borrow=False):
        try:
            v = self.type.filter(new_value)
        except TypeError as e:
            raise TypeError("set_value of shared variable %r: %s" % (self.name or self.auto_name, e)) from None
        self.container[0] = v if borrow else copy_generator(v)


def random_generator_constructor(value, name=None, strict=False, allow_downcast=None, borrow=False, **kwargs):
    """Shared variables for ``numpy.random.Generator`` values (registered with ``shared``)."""
    if not isinstance(value, np.random.Generator):
        raise TypeError("not a numpy.random.Generator")
    if kwargs:
        raise TypeError("a shared random generator takes no %s argument" % ", ".join(sorted(kwargs)))
    return RandomGeneratorSharedVariable(RandomGeneratorType(), value, name=name, strict=strict, borrow=borrow)


__all__ = [
    "RandomGeneratorType", "RandomGeneratorVariable", "RandomGeneratorSharedVariable", "copy_generator",
    "generator_state_to_arrays", "generator_state_from_arrays", "random_generator_constructor",
]  # fmt: skip
