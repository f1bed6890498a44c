"""Learning-rate schedules: pure Python ``value(step, epoch) -> float``.

``step`` counts optimizer steps and ``epoch`` completed epochs, both from 0.
Each schedule reads one of them (``unit='step'`` or ``'epoch'``). Schedules
are stateless functions of their configuration; ``state_dict()`` returns that
configuration (with the class name) so a checkpoint can restore or verify it.
The Trainer writes ``value(step, epoch)`` into ``optimizer.lr``.

Examples
--------
>>> from nettrain.schedules import CosineDecay, LinearWarmup
>>> s = LinearWarmup(CosineDecay(0.1, decay_steps=100), warmup_steps=10)
>>> [round(s.value(k, 0), 4) for k in (0, 5, 10, 60, 110)]
[0.0, 0.05, 0.1, 0.05, 0.0]
"""

import math


class Schedule:
    """Base class: subclasses define ``value(step, epoch)`` and list their settings in ``_config``."""

    _config = ()

    def value(self, step, epoch=0):
        raise NotImplementedError

    def __call__(self, step, epoch=0):
        return self.value(step, epoch)

    def _pick(self, step, epoch, unit):
        if unit == "step":
            return step
        if unit == "epoch":
            return epoch
        raise ValueError("%s: unit must be 'step' or 'epoch', got %r" % (type(self).__name__, unit))

    def state_dict(self):
        """``{'class': name, setting: value, ...}`` (plain Python values)."""
        state = {"class": type(self).__name__}
        for k in self._config:
            v = getattr(self, k)
            state[k] = v.state_dict() if isinstance(v, Schedule) else (list(v) if isinstance(v, tuple) else v)
        return state

    def load_state_dict(self, state):
        """Restore the settings saved by :meth:`state_dict` (the class must match)."""
        if state.get("class") != type(self).__name__:
            raise ValueError("cannot load a %s state into a %s" % (state.get("class"), type(self).__name__))
        for k in self._config:
            if k not in state:
                raise KeyError("%s state has no %r" % (type(self).__name__, k))
            cur = getattr(self, k)
            if isinstance(cur, Schedule):
                cur.load_state_dict(state[k])
            else:
                setattr(self, k, tuple(state[k]) if isinstance(cur, tuple) else state[k])

    def __repr__(self):
        return "%s(%s)" % (type(self).__name__, ", ".join("%s=%r" % (k, getattr(self, k)) for k in self._config))


class Constant(Schedule):
    """Always ``initial``."""

    _config = ("initial",)

    def __init__(self, initial):
        self.initial = float(initial)

    def value(self, step, epoch=0):
        return self.initial


class StepDecay(Schedule):
    """``initial * factor ** (n // every)``, or with ``milestones`` ``initial * factor ** (#milestones <= n)``.

    ``n`` is the epoch by default (``unit='epoch'``).

    Examples
    --------
    >>> from nettrain.schedules import StepDecay
    >>> s = StepDecay(1.0, factor=0.5, every=2)
    >>> [s.value(0, e) for e in range(5)]
    [1.0, 1.0, 0.5, 0.5, 0.25]
    """

    _config = ("initial", "factor", "every", "milestones", "unit")

    def __init__(self, initial, factor=0.1, every=None, milestones=None, unit="epoch"):
        if (every is None) == (milestones is None):
            raise ValueError("StepDecay needs exactly one of every= or milestones=")
        if every is not None and int(every) <= 0:
            raise ValueError("StepDecay: every must be a positive integer, got %r" % (every,))
        self.initial, self.factor, self.unit = float(initial), float(factor), unit
        self.every = None if every is None else int(every)
        self.milestones = None if milestones is None else tuple(sorted(int(m) for m in milestones))
        self._pick(0, 0, unit)

    def value(self, step, epoch=0):
        n = self._pick(step, epoch, self.unit)
        k = n // self.every if self.every is not None else sum(1 for m in self.milestones if n >= m)
        return self.initial * self.factor**k


class ExponentialDecay(Schedule):
    """``initial * rate ** (n / decay_steps)`` (floored exponent with ``staircase=True``); ``n`` is the step."""

    _config = ("initial", "rate", "decay_steps", "staircase", "unit")

    def __init__(self, initial, rate, decay_steps=1, staircase=False, unit="step"):
        if decay_steps <= 0:
            raise ValueError("ExponentialDecay: decay_steps must be positive, got %r" % (decay_steps,))
        self.initial, self.rate, self.decay_steps = float(initial), float(rate), decay_steps
        self.staircase, self.unit = bool(staircase), unit
        self._pick(0, 0, unit)

    def value(self, step, epoch=0):
        e = self._pick(step, epoch, self.unit) / self.decay_steps
        return self.initial * self.rate ** (math.floor(e) if self.staircase else e)


class CosineDecay(Schedule):
    """Half a cosine from ``initial`` down to ``alpha * initial`` over ``decay_steps``, then flat.

    ``value = initial * (alpha + (1 - alpha) * (1 + cos(pi * min(n, decay_steps) / decay_steps)) / 2)``
    """

    _config = ("initial", "decay_steps", "alpha", "unit")

    def __init__(self, initial, decay_steps, alpha=0.0, unit="step"):
        if decay_steps <= 0:
            raise ValueError("CosineDecay: decay_steps must be positive, got %r" % (decay_steps,))
        self.initial, self.decay_steps, self.alpha, self.unit = float(initial), decay_steps, float(alpha), unit
        self._pick(0, 0, unit)

    def value(self, step, epoch=0):
        n = min(max(self._pick(step, epoch, self.unit), 0), self.decay_steps)
        cos = 0.5 * (1.0 + math.cos(math.pi * n / self.decay_steps))
        return self.initial * (self.alpha + (1.0 - self.alpha) * cos)


class LinearWarmup(Schedule):
    """Ramp linearly from ``start`` to the wrapped schedule's first value over ``warmup_steps``,
    then follow the wrapped schedule shifted by ``warmup_steps`` (in ``unit``).

    ``schedule`` may be a Schedule or a number (a constant after warm-up).
    """

    _config = ("schedule", "warmup_steps", "start", "unit")

    def __init__(self, schedule, warmup_steps, start=0.0, unit="step"):
        if warmup_steps < 0:
            raise ValueError("LinearWarmup: warmup_steps must be >= 0, got %r" % (warmup_steps,))
        self.schedule = schedule if isinstance(schedule, Schedule) else Constant(schedule)
        self.warmup_steps, self.start, self.unit = warmup_steps, float(start), unit
        self._pick(0, 0, unit)

    def _shifted(self, step, epoch, by):
        if self.unit == "step":
            return self.schedule.value(step - by, epoch)
        return self.schedule.value(step, epoch - by)

    def value(self, step, epoch=0):
        n = self._pick(step, epoch, self.unit)
        if n >= self.warmup_steps:
            return self._shifted(step, epoch, self.warmup_steps)
        target = self._shifted(step, epoch, n)  # the wrapped schedule at its start
        return self.start + (target - self.start) * n / self.warmup_steps


__all__ = ["Schedule", "Constant", "StepDecay", "ExponentialDecay", "CosineDecay", "LinearWarmup"]
