"""Learning-rate schedules: values, units, warm-up, state round trip."""

import math

import pytest

from nettrain import schedules as S


def test_step_decay_every_and_milestones():
    s = S.StepDecay(1.0, factor=0.1, every=3)
    assert [s.value(0, e) for e in (0, 2, 3, 6)] == pytest.approx([1.0, 1.0, 0.1, 0.01])
    m = S.StepDecay(0.5, factor=0.5, milestones=[10, 2], unit="step")
    assert [m.value(k, 0) for k in (0, 1, 2, 9, 10, 100)] == pytest.approx([0.5, 0.5, 0.25, 0.25, 0.125, 0.125])
    with pytest.raises(ValueError, match="exactly one of"):
        S.StepDecay(1.0)


def test_exponential_decay_smooth_and_staircase():
    s = S.ExponentialDecay(2.0, rate=0.5, decay_steps=10)
    assert s.value(5) == pytest.approx(2.0 * 0.5**0.5)
    assert S.ExponentialDecay(2.0, 0.5, 10, staircase=True).value(15) == pytest.approx(1.0)


def test_cosine_decay_endpoints_midpoint_and_floor():
    s = S.CosineDecay(1.0, decay_steps=100, alpha=0.1)
    assert s.value(0) == pytest.approx(1.0)
    assert s.value(50) == pytest.approx(0.1 + 0.9 * 0.5)
    assert s.value(25) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi / 4)))
    assert s.value(100) == pytest.approx(0.1) and s.value(1000) == pytest.approx(0.1)


def test_linear_warmup_ramps_then_follows_shifted_schedule():
    s = S.LinearWarmup(S.ExponentialDecay(1.0, 0.5, decay_steps=1), warmup_steps=4, start=0.2)
    assert [s.value(k) for k in range(4)] == pytest.approx([0.2, 0.4, 0.6, 0.8])
    assert [s.value(k) for k in (4, 5, 6)] == pytest.approx([1.0, 0.5, 0.25])
    c = S.LinearWarmup(0.1, warmup_steps=2, unit="epoch")
    assert [c.value(999, e) for e in (0, 1, 2, 5)] == pytest.approx([0.0, 0.05, 0.1, 0.1])


def test_state_dict_round_trip_and_class_check():
    s = S.LinearWarmup(S.CosineDecay(0.3, 50, alpha=0.2), warmup_steps=5)
    state = s.state_dict()
    assert state["class"] == "LinearWarmup" and state["schedule"]["class"] == "CosineDecay"
    other = S.LinearWarmup(S.CosineDecay(1.0, 10), warmup_steps=1)
    other.load_state_dict(state)
    assert [other.value(k) for k in (0, 3, 20, 60)] == pytest.approx([s.value(k) for k in (0, 3, 20, 60)])
    m = S.StepDecay(1.0, milestones=(3, 5))
    m2 = S.StepDecay(2.0, every=1)
    m2.load_state_dict(m.state_dict())
    assert m2.value(0, 4) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="cannot load a StepDecay state into a CosineDecay"):
        S.CosineDecay(1.0, 10).load_state_dict(m.state_dict())


def test_bad_unit_is_rejected():
    with pytest.raises(ValueError, match="unit must be 'step' or 'epoch'"):
        S.CosineDecay(1.0, 10, unit="batch")
