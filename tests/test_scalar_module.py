"""``theano.scalar`` as old code reaches it: an attribute and an importable module."""

import importlib

import pytest

import nettrain


def test_scalar_is_an_attribute_and_a_module_with_upcast_and_the_scalar_ops():
    mod = importlib.import_module("nettrain.scalar")
    assert nettrain.scalar is mod
    assert mod.upcast("float32", "float64") == "float64"
    assert mod.upcast("int8", "int16", "uint8") == "int16"
    assert mod.upcast("int32", "float32") == "float64"  # NumPy's promotion, as Theano's default cast policy
    assert issubclass(mod.Sigmoid, mod.ScalarOp) and issubclass(mod.Add, mod.ScalarOp)


def test_upcast_names_a_bad_dtype():
    with pytest.raises(TypeError, match="'floatX' is not a dtype"):
        nettrain.scalar.upcast("float32", "floatX")
