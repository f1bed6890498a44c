"""The layer API: ``Layer`` (tagged parameters, children, dotted names) and ``Sequential``.

A layer owns shared variables made by :meth:`Layer.add_param`, tagged
``trainable`` / ``regularizable`` (Lasagne's ``add_param``). Children are
layers assigned as attributes or added with :meth:`Layer.add`; a parameter's
dotted name is its path from the outermost layer (``block1.dense.W``) and is
also the shared variable's ``.name``. ``forward(x, training)`` returns
``(output, updates)`` with every state update explicit.
"""

import numpy as np

from ..compile.sharedvalue import shared
from ..configdefaults import config
from . import init as _init


class Layer:
    """Base class of layers.

    Parameters
    ----------
    name : str, optional
        The name a container uses for this layer in dotted names (else it picks one).
    seed : int or numpy.random.Generator, optional
        Seeds the initialization of this layer's parameters (and of its children's,
        unless they have their own seed).
    dtype : str, optional
        Parameter dtype (default: the input's float dtype for lazily built layers, else ``config.floatX``).

    Examples
    --------
    >>> import numpy as np
    >>> import nettrain as theano
    >>> import nettrain.tensor as T
    >>> from nettrain.layers import Layer
    >>> class Scale(Layer):
    ...     def __init__(self, n, **kw):
    ...         super().__init__(**kw)
    ...         self.s = self.add_param('s', 1.0, (n,), regularizable=False)
    ...     def forward(self, x, training=False):
    ...         return x * self.s, {}
    >>> x = T.dmatrix('x')
    >>> layer = Scale(2)
    >>> theano.function([x], layer(x))(np.ones((1, 2)))
    array([[1., 1.]])
    >>> sorted(layer.named_params())
    ['s']
    """

    def __init__(self, name=None, seed=None, dtype=None):
        object.__setattr__(self, "_children", {})
        self._params = {}
        self._parent = None
        self._key = None
        self.name = name
        self.dtype = dtype
        if seed is not None:
            _init.as_generator(seed)  # validates the seed's type now rather than at build time
        self._seed = seed

    # ---------------------------------------------------------------- tree
    def __setattr__(self, attr, value):
        # A layer assigned as a public attribute becomes a child named after the attribute.
        if isinstance(value, Layer) and not attr.startswith("_") and getattr(self, "_children", None) is not None:
            old = self._children.get(attr)
            if old is not value and value not in self._children.values():
                order = list(self._children)
                if old is not None:  # re-assigning an attribute replaces that child, in its place
                    del self._children[attr]
                    if old._parent is self:
                        old._parent = old._key = None
                self.add(value, attr)
                if old is not None:
                    object.__setattr__(self, "_children", {k: self._children[k] for k in order})
        object.__setattr__(self, attr, value)

    def add(self, child, name=None):
        """Register ``child`` under ``name`` (default: its own name) and return it."""
        if not isinstance(child, Layer):
            raise TypeError("add: expected a Layer, got %s" % type(child).__name__)
        name = name or child.name
        if not name or "." in name:
            raise ValueError("add: a child needs a name without dots, got %r" % (name,))
        if name in self._children or name in self._params:
            raise ValueError("%s already has a child or parameter named %r" % (self._describe(), name))
        if child is self or child in self._ancestors():
            raise ValueError("add: %s cannot contain itself" % child._describe())
        self._children[name] = child
        if child._parent is None:  # a layer shared by two containers keeps its first path
            child._parent, child._key = self, name
            if child.name is None:
                child.name = name
            child._rename()
        return child

    def children(self):
        """``{name: child}`` in insertion order."""
        return dict(self._children)

    def _ancestors(self):
        node, out = self._parent, []
        while node is not None:
            out.append(node)
            node = node._parent
        return out

    def path(self):
        """This layer's dotted path from the outermost layer ('' for the outermost one)."""
        keys, node = [], self
        while node._parent is not None:
            keys.append(node._key)
            node = node._parent
        return ".".join(reversed(keys))

    def _full_name(self, local):
        p = self.path()
        return "%s.%s" % (p, local) if p else local

    def _rename(self):
        """Give every shared variable below this layer its full dotted name."""
        for local, var in self._params.items():
            var.name = self._full_name(local)
        for child in self._children.values():
            if child._parent is self:
                child._rename()

    def _describe(self):
        return "%s %r" % (type(self).__name__, self.path() or self.name or "")

    # ---------------------------------------------------------- parameters
    def warn_if_upcast(self, x):
        """Warn (once per layer) when float64 parameters would turn a lower-precision input into float64."""
        dt = getattr(getattr(x, "type", None), "dtype", "")
        if not dt.startswith("float") or dt == "float64" or getattr(self, "_upcast_warned", False):
            return
        wide = [n for n, v in self.named_params().items() if v.type.dtype == "float64"]
        if wide:
            import warnings

            self._upcast_warned = True
            warnings.warn(
                "layer %r has float64 parameters (%s) but a %s input: the result is float64. Create the layer "
                "with dtype=%r, set nettrain.config.floatX, or leave in_units/in_channels unset so the parameters "
                "take the input's dtype" % (self.path() or type(self).__name__, ", ".join(wide[:3]), dt, dt),
                stacklevel=3,
            )

    def _param_dtype(self, like=None):
        if self.dtype is not None:
            return self.dtype
        dt = getattr(getattr(like, "type", None), "dtype", None)
        return dt if dt is not None and dt.startswith("float") else config.floatX

    def _rng_for(self, local):
        """The generator for a new parameter: from the nearest seeded layer on the path, else global."""
        keys, node = [local], self
        while node is not None:
            if node._seed is not None:
                if isinstance(node._seed, np.random.Generator):
                    return node._seed
                return _init.derived_rng(node._seed, ".".join(keys))
            if node._parent is not None:
                keys.insert(0, node._key)
            node = node._parent
        return _init.get_rng()

    def add_param(self, name, spec, shape, trainable=True, regularizable=True, dtype=None):
        """Create, tag and register a shared parameter.

        ``spec`` is an initializer, a number or an array. The variable gets
        ``tag.trainable``, ``tag.regularizable`` and ``tag.initializer`` and a
        static shape equal to ``shape``.
        """
        if not name or "." in name:
            raise ValueError("add_param: a parameter name must be non-empty without dots, got %r" % (name,))
        if name in self._params or name in self._children:
            raise ValueError("%s already has a parameter or child named %r" % (self._describe(), name))
        shape = tuple(int(s) for s in shape)
        initializer = _init.resolve(spec)
        dtype = dtype or self._param_dtype()
        value = self._sample(initializer, shape, dtype, self._rng_for(name))
        var = shared(value, name=self._full_name(name), shape=shape)
        var.tag.trainable = bool(trainable)
        var.tag.regularizable = bool(regularizable)
        var.tag.initializer = initializer
        self._params[name] = var
        return var

    def add_state(self, name, spec, shape, dtype=None):
        """A non-trainable, non-regularizable variable (running statistics)."""
        return self.add_param(name, spec, shape, trainable=False, regularizable=False, dtype=dtype)

    @staticmethod
    def _sample(initializer, shape, dtype, rng):
        if isinstance(initializer, _init.Initializer):
            value = initializer(shape, dtype, rng)
        else:  # a plain callable of the shape (Lasagne style)
            value = np.asarray(initializer(shape), dtype=dtype)
        if value.shape != shape:
            raise ValueError("initializer %r gave shape %s, expected %s" % (initializer, value.shape, shape))
        return value

    def _walk(self, prefix=""):
        """Yield ``(dotted name, variable)`` for this layer, then its children, each variable once."""
        for local, var in self._params.items():
            yield prefix + local, var
        for key, child in self._children.items():
            yield from child._walk(prefix + key + ".")

    def named_params(self, trainable=None, regularizable=None):
        """``{dotted name: shared variable}``; ``trainable`` / ``regularizable`` filter by tag (None: all)."""
        out, seen = {}, set()
        for name, var in self._walk():
            if id(var) in seen:
                continue  # tied weights appear once, under their first path
            seen.add(id(var))
            if trainable is not None and var.tag.trainable != bool(trainable):
                continue
            if regularizable is not None and var.tag.regularizable != bool(regularizable):
                continue
            out[name] = var
        return out

    def params(self, trainable=None, regularizable=None):
        """The variables of :meth:`named_params`, in the same order."""
        return list(self.named_params(trainable, regularizable).values())

    def named_state(self):
        """``{dotted name: shared variable}`` of non-trainable state (e.g. batch-norm running statistics)."""
        return self.named_params(trainable=False)

    def count_params(self, trainable=None):
        """Number of scalar entries in the parameters."""
        return int(sum(v.get_value(borrow=True).size for v in self.params(trainable)))

    def summary(self, input_shape=None, dtype=None, file=None):
        """Print the layers, output shapes, parameter counts and bytes (:func:`nettrain.layers.summary.summary`).

        ``input_shape`` is one sample's shape, without the batch dimension (None: no output shapes, and
        layers that infer their sizes from the input count parameters only once built).
        """
        from .summary import summary

        print(summary(self, input_shape, dtype), file=file)

    def initialize(self, seed):
        """Re-initialize every parameter below this layer from ``seed``.

        Each value depends only on ``seed`` and the parameter's dotted name
        relative to this layer, so the same seed gives the same parameters.
        Layers built later (lazily) use the same seed.
        """
        self._seed = seed
        for name, var in self.named_params().items():
            rng = _init.derived_rng(seed, name)
            value = self._sample(var.tag.initializer, var.type.shape, var.type.dtype, rng)
            var.set_value(value, borrow=True)

    def save_weights(self, path):
        """Write every parameter to the HDF5 file ``path`` (``/params/<dotted name>``); see :mod:`.weights`."""
        from .weights import save_weights

        return save_weights(self, path)

    def load_weights(self, path, strict=True):
        """Set the parameters from ``/params`` of an HDF5 file or checkpoint (strict: every mismatch listed)."""
        from .weights import load_weights

        return load_weights(self, path, strict=strict)

    # ------------------------------------------------------------- calling
    def forward(self, x, training=False):
        """Return ``(output, updates)`` for the symbolic input ``x``."""
        raise NotImplementedError("%s must implement forward(x, training)" % type(self).__name__)

    def __call__(self, x, training=False):
        """The output only (for inference, or training modes without state updates)."""
        out, updates = self.forward(x, training=training)
        if updates:
            names = ", ".join(sorted(str(k) for k in updates))
            raise ValueError(
                "%s(x, training=%s) would drop the state updates of %s; use "
                "`out, updates = layer.forward(x, training=True)` and pass the updates to nettrain.function"
                % (type(self).__name__, training, names)
            )
        return out

    def __repr__(self):
        kids = "".join("\n  (%s): %s" % (k, repr(c).replace("\n", "\n  ")) for k, c in self._children.items())
        return "%s(%s)%s" % (type(self).__name__, self.name or "", kids)


def merge_updates(into, new, where=""):
    """Add ``new`` to the dict ``into``; a variable updated twice is an error."""
    for k, v in (new or {}).items():
        if k in into:
            raise ValueError("%s: %s is updated twice" % (where or "updates", k))
        into[k] = v
    return into


class Sequential(Layer):
    """Layers applied one after another.

    Children are named by ``name=`` when given, else ``<class><n>`` (``dense0``, ``dense1``, ``dropout0``).

    Examples
    --------
    >>> import nettrain.tensor as T
    >>> from nettrain.layers import Sequential, Dense
    >>> model = Sequential([Dense(3, in_units=4, activation='relu'), Dense(2, name='out')], seed=0)
    >>> x = T.dmatrix('x')
    >>> y = model(x)
    >>> list(model.named_params())
    ['dense0.W', 'dense0.b', 'out.W', 'out.b']
    """

    def __init__(self, layers=(), name=None, seed=None, dtype=None):
        super().__init__(name=name, seed=seed, dtype=dtype)
        self.layers = []
        for layer in layers:
            self.append(layer)
        if seed is not None and not isinstance(seed, np.random.Generator) and self.named_params():
            self.initialize(seed)  # children built already follow the container's seed

    def append(self, layer):
        """Add ``layer`` at the end."""
        if not isinstance(layer, Layer):
            raise TypeError("Sequential: expected a Layer, got %s" % type(layer).__name__)
        name = layer.name
        if name is None:
            base = type(layer).__name__.lower()
            n = sum(1 for k in self._children if k.startswith(base) and k[len(base) :].isdigit())
            name = "%s%d" % (base, n)
            while name in self._children:
                n += 1
                name = "%s%d" % (base, n)
        self.add(layer, name)
        self.layers.append(layer)
        return layer

    def __getitem__(self, i):
        return self.layers[i]

    def __len__(self):
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers)

    def forward(self, x, training=False):
        updates = {}
        for layer in self.layers:
            x, upd = layer.forward(x, training=training)
            merge_updates(updates, upd, "Sequential")
        return x, updates


__all__ = ["Layer", "Sequential", "merge_updates"]
