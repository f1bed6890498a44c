"""Optimizers: update rules returning ``{shared variable: new value expression}``.

Every optimizer keeps its state in shared variables with dotted names:
``<opt>.lr``, ``<opt>.iterations`` and one slot per parameter,
``<opt>.<slot>.<param name>`` (``adam.m.block1.dense.W``); ``named_state()``
returns them all for checkpoints. ``lr`` is a shared variable (a schedule sets
it with ``opt.lr.set_value``) of the parameters' dtype, and every update keeps
its parameter's dtype: float32 models never get float64 updates.

Examples
--------
>>> import numpy as np
>>> import nettrain as theano
>>> from nettrain.optimizers import Adam
>>> w = theano.shared(np.array([3.0, -2.0]), name='w')
>>> opt = Adam(lr=0.1)
>>> step = theano.function([], updates=opt.get_updates((w ** 2).sum(), [w]))
>>> for _ in range(300):
...     _ = step()
>>> bool(abs(w.get_value()).max() < 0.05)
True
>>> sorted(opt.named_state())
['adam.iterations', 'adam.lr', 'adam.m.w', 'adam.v.w']
"""

import numpy as np

from .compile.sharedvalue import shared
from .configdefaults import config
from .graph.basic import SharedVariable
from .tensor import math as _m
from .tensor.basic import as_tensor_variable, cast
from .tensor.gradient import grad as _grad
from .tensor.reduction import sum as _sum


class Optimizer:
    """Base class: subclasses define ``default_name`` and ``_rule(p, g, name, lr, t)``.

    Parameters
    ----------
    lr : float or shared scalar
        Learning rate.
    clipnorm : float, optional
        Rescale all gradients together so their global L2 norm is at most ``clipnorm``.
    clipvalue : float, optional
        Clip every gradient entry to ``[-clipvalue, clipvalue]`` (applied before ``clipnorm``).
    name : str, optional
        Prefix of the state names (default: the class name in lower case).
    """

    default_name = "optimizer"

    def __init__(self, lr, clipnorm=None, clipvalue=None, name=None, dtype=None):
        self.name = name or self.default_name
        if clipnorm is not None and not clipnorm > 0:
            raise ValueError("clipnorm must be positive, got %r" % (clipnorm,))
        if clipvalue is not None and not clipvalue > 0:
            raise ValueError("clipvalue must be positive, got %r" % (clipvalue,))
        self.clipnorm, self.clipvalue = clipnorm, clipvalue
        self._lr_given = isinstance(lr, SharedVariable)
        self._lr_dtype_fixed = self._lr_given or dtype is not None
        if self._lr_given:
            self.lr = lr
        else:
            self.lr = shared(np.asarray(lr, dtype=dtype or config.floatX), name="%s.lr" % self.name)
        self.iterations = shared(np.int64(0), name="%s.iterations" % self.name)
        self._slots = {}  # state name -> shared variable, in creation order
        self._owners = {}  # parameter name -> parameter, to refuse two parameters with one name

    # ------------------------------------------------------------ state
    def named_state(self):
        """``{dotted name: shared variable}``: lr, iterations and every slot."""
        out = {"%s.lr" % self.name: self.lr, "%s.iterations" % self.name: self.iterations}
        out.update(self._slots)
        return out

    def _slot(self, slot, pname, param, value=0.0):
        """The slot ``<opt>.<slot>.<pname>`` shaped like ``param`` (made on first use, reused after)."""
        key = "%s.%s.%s" % (self.name, slot, pname)
        if key not in self._slots:
            like = param.get_value(borrow=True)
            self._slots[key] = shared(np.full(like.shape, value, dtype=like.dtype), name=key, shape=param.type.shape)
        return self._slots[key]

    # ---------------------------------------------------------- updates
    def _named(self, params):
        if isinstance(params, dict):
            items = list(params.items())
        else:
            items = [(p.name if p.name else "param%d" % i, p) for i, p in enumerate(params)]
        names = [n for n, _ in items]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError("%s: several parameters are named %s; give unique names (or a dict)" % (self.name, dup))
        for n, p in items:
            if not isinstance(p, SharedVariable):
                raise TypeError("%s: parameter %r is not a shared variable: %r" % (self.name, n, p))
            if not p.type.dtype.startswith("float"):
                raise TypeError("%s: parameter %r has dtype %s; only float parameters are trained"
                                % (self.name, n, p.type.dtype))  # fmt: skip
            if self._owners.setdefault(n, p) is not p:
                raise ValueError("%s: a different parameter named %r already has optimizer state" % (self.name, n))
        return items

    def _fix_lr_dtype(self, dtypes):
        """Before first use, give ``lr`` the parameters' dtype (no float64 upcast of float32 updates)."""
        if self._lr_dtype_fixed:
            return
        self._lr_dtype_fixed = True
        if len(dtypes) == 1 and self.lr.type.dtype not in dtypes:
            (dt,) = dtypes
            # keep the same shared variable (others may hold it): only its value's dtype changes
            from .tensor.type import TensorType

            self.lr.type = TensorType(dt, ())
            self.lr.container[0] = np.asarray(self.lr.get_value(), dtype=dt)

    def _clip(self, grads):
        if self.clipvalue is not None:
            grads = [_m.clip(g, -self.clipvalue, self.clipvalue) for g in grads]
        if self.clipnorm is not None and grads:
            dt = grads[0].type.dtype
            sq = [cast(_sum(_m.sqr(g)), dt) for g in grads]
            total = sq[0]
            for s in sq[1:]:
                total = total + s
            norm = _m.sqrt(total)
            scale = self.clipnorm / _m.maximum(norm, self.clipnorm)
            grads = [g * cast(scale, g.type.dtype) for g in grads]
        return grads

    def get_updates(self, loss_or_grads=None, params=None, grads=None):
        """``{shared: expr}`` for one step on ``params`` (a list, or a dict ``name -> shared``).

        Give the loss (a symbolic scalar), or the gradients as ``loss_or_grads``
        (a list) or ``grads=`` (a list in ``params`` order or a dict by name).
        The iteration counter is incremented by the same updates.
        """
        if params is None:
            raise TypeError("%s.get_updates needs params (a list or a dict name -> shared)" % self.name)
        items = self._named(params)
        if isinstance(loss_or_grads, (list, tuple)):
            if grads is not None:
                raise TypeError("%s.get_updates: gradients given twice" % self.name)
            grads, loss_or_grads = list(loss_or_grads), None
        if grads is None:
            if loss_or_grads is None:
                raise TypeError("%s.get_updates needs a loss or grads=" % self.name)
            grads = _grad(loss_or_grads, [p for _, p in items])
        elif isinstance(grads, dict):
            missing = [n for n, _ in items if n not in grads]
            if missing:
                raise ValueError("%s.get_updates: no gradient for %s" % (self.name, missing))
            grads = [grads[n] for n, _ in items]
        if len(grads) != len(items):
            raise ValueError("%s.get_updates: %d gradients for %d parameters" % (self.name, len(grads), len(items)))
        grads = [cast(as_tensor_variable(g), p.type.dtype) for g, (_, p) in zip(grads, items)]
        self._fix_lr_dtype({p.type.dtype for _, p in items})
        grads = self._clip(grads)

        updates = {}
        t_int = self.iterations + 1
        for (name, p), g in zip(items, grads):
            dt = p.type.dtype
            lr = self.lr if self.lr.type.dtype == dt else cast(self.lr, dt)
            for var, expr in self._rule(p, g, name, lr, cast(t_int, dt)):
                updates[var] = cast(expr, var.type.dtype)
        updates[self.iterations] = t_int
        return updates

    def _rule(self, p, g, name, lr, t):
        """``[(shared, new value)]`` for parameter ``p`` with gradient ``g`` at step ``t`` (1-based)."""
        raise NotImplementedError

    def __repr__(self):
        return "%s(lr=%r)" % (type(self).__name__, float(self.lr.get_value()))


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with (Nesterov) momentum::

        v = momentum * v - lr * g
        p = p + v                         (or p + momentum * v - lr * g with nesterov)
    """

    default_name = "sgd"

    def __init__(self, lr=0.01, momentum=0.0, nesterov=False, **kwargs):
        super().__init__(lr, **kwargs)
        if not 0.0 <= momentum < 1.0:
            raise ValueError("momentum must be in [0, 1), got %r" % (momentum,))
        if nesterov and momentum == 0.0:
            raise ValueError("nesterov=True needs a momentum > 0")
        self.momentum, self.nesterov = float(momentum), bool(nesterov)

    def _rule(self, p, g, name, lr, t):
        if self.momentum == 0.0:
            return [(p, p - lr * g)]
        v = self._slot("velocity", name, p)
        v_new = self.momentum * v - lr * g
        if self.nesterov:
            return [(v, v_new), (p, p + self.momentum * v_new - lr * g)]
        return [(v, v_new), (p, p + v_new)]


class Momentum(SGD):
    """SGD with classical momentum (default 0.9)."""

    default_name = "momentum"

    def __init__(self, lr=0.01, momentum=0.9, **kwargs):
        super().__init__(lr, momentum=momentum, nesterov=False, **kwargs)


class Nesterov(SGD):
    """SGD with Nesterov momentum (default 0.9)."""

    default_name = "nesterov"

    def __init__(self, lr=0.01, momentum=0.9, **kwargs):
        super().__init__(lr, momentum=momentum, nesterov=True, **kwargs)


class Adagrad(Optimizer):
    """``a += g**2;  p -= lr * g / (sqrt(a) + epsilon)`` (Duchi et al., 2011)."""

    default_name = "adagrad"

    def __init__(self, lr=0.01, epsilon=1e-7, initial_accumulator_value=0.0, **kwargs):
        super().__init__(lr, **kwargs)
        self.epsilon, self.initial = float(epsilon), float(initial_accumulator_value)

    def _rule(self, p, g, name, lr, t):
        a = self._slot("accu", name, p, self.initial)
        a_new = a + _m.sqr(g)
        return [(a, a_new), (p, p - lr * g / (_m.sqrt(a_new) + self.epsilon))]


class RMSprop(Optimizer):
    """``a = rho * a + (1 - rho) * g**2;  p -= lr * g / (sqrt(a) + epsilon)`` (Tieleman & Hinton, 2012)."""

    default_name = "rmsprop"

    def __init__(self, lr=0.001, rho=0.9, epsilon=1e-7, **kwargs):
        super().__init__(lr, **kwargs)
        self.rho, self.epsilon = float(rho), float(epsilon)

    def _rule(self, p, g, name, lr, t):
        a = self._slot("accu", name, p)
        a_new = self.rho * a + (1.0 - self.rho) * _m.sqr(g)
        return [(a, a_new), (p, p - lr * g / (_m.sqrt(a_new) + self.epsilon))]


class Adadelta(Optimizer):
    """Zeiler (2012)::

        a = rho * a + (1 - rho) * g**2
        step = g * sqrt(d + epsilon) / sqrt(a + epsilon)
        d = rho * d + (1 - rho) * step**2;   p -= lr * step
    """

    default_name = "adadelta"

    def __init__(self, lr=1.0, rho=0.95, epsilon=1e-6, **kwargs):
        super().__init__(lr, **kwargs)
        self.rho, self.epsilon = float(rho), float(epsilon)

    def _rule(self, p, g, name, lr, t):
        a, d = self._slot("accu", name, p), self._slot("delta_accu", name, p)
        rho, eps = self.rho, self.epsilon
        a_new = rho * a + (1.0 - rho) * _m.sqr(g)
        step = g * _m.sqrt(d + eps) / _m.sqrt(a_new + eps)
        d_new = rho * d + (1.0 - rho) * _m.sqr(step)
        return [(a, a_new), (d, d_new), (p, p - lr * step)]


class Adam(Optimizer):
    """Kingma & Ba (2015)::

        m = beta1 * m + (1 - beta1) * g;   v = beta2 * v + (1 - beta2) * g**2
        p -= lr * m_hat / (sqrt(v_hat) + epsilon),  m_hat = m / (1 - beta1**t),  v_hat = v / (1 - beta2**t)
    """

    default_name = "adam"

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8, **kwargs):
        super().__init__(lr, **kwargs)
        self.beta1, self.beta2, self.epsilon = float(beta1), float(beta2), float(epsilon)

    def _adam_step(self, p, g, name, t):
        m, v = self._slot("m", name, p), self._slot("v", name, p)
        b1, b2 = self.beta1, self.beta2
        m_new = b1 * m + (1.0 - b1) * g
        v_new = b2 * v + (1.0 - b2) * _m.sqr(g)
        m_hat = m_new / (1.0 - b1**t)
        v_hat = v_new / (1.0 - b2**t)
        return [(m, m_new), (v, v_new)], m_hat / (_m.sqrt(v_hat) + self.epsilon)

    def _rule(self, p, g, name, lr, t):
        slots, step = self._adam_step(p, g, name, t)
        return slots + [(p, p - lr * step)]


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019)::

        p -= lr * (m_hat / (sqrt(v_hat) + epsilon) + weight_decay * p)

    The decay applies to parameters tagged regularizable (not biases or
    normalization scales) unless ``decay_all=True``.
    """

    default_name = "adamw"

    def __init__(self, lr=0.001, weight_decay=0.01, decay_all=False, **kwargs):
        super().__init__(lr, **kwargs)
        self.weight_decay, self.decay_all = float(weight_decay), bool(decay_all)

    def _rule(self, p, g, name, lr, t):
        slots, step = self._adam_step(p, g, name, t)
        if self.decay_all or getattr(p.tag, "regularizable", True):
            step = step + self.weight_decay * p
        return slots + [(p, p - lr * step)]


__all__ = ["Optimizer", "SGD", "Momentum", "Nesterov", "Adagrad", "RMSprop", "Adadelta", "Adam", "AdamW"]
