"""Theano's module paths reach the same nettrain objects, by attribute and by ``import`` (thin re-exports)."""

import importlib

import pytest

import nettrain
from nettrain.compat import theano as compat_theano

# (Theano path, the nettrain object it must be)
PATHS = [
    ("theano.gof.Variable", nettrain.graph.Variable),
    ("theano.gof.Apply", nettrain.graph.Apply),
    ("theano.gof.Op", nettrain.graph.Op),
    ("theano.gof.graph.is_same_graph", nettrain.graph.compare.is_same_graph),
    ("theano.gof.fg.FunctionGraph", nettrain.graph.FunctionGraph),
    ("theano.tensor.Variable", nettrain.graph.Variable),
    ("theano.tensor.nnet.abstract_conv.AbstractConv2d_gradInputs", nettrain.tensor.nnet.Conv2dGradInputs),
    ("theano.tensor.nnet.nnet.softmax", nettrain.tensor.nnet.softmax),
    ("theano.tensor.nnet.sigm.hard_sigmoid", nettrain.tensor.nnet.hard_sigmoid),
    ("theano.tensor.var.TensorVariable", nettrain.tensor.TensorVariable),
    ("theano.tensor.shape_padright", nettrain.tensor.shape_padright),
    ("theano.scan_module.scan_utils.equal_computations", nettrain.graph.compare.equal_computations),
    ("theano.compile.mode.Mode", nettrain.compile.Mode),
    ("theano.compile.sharedvalue.shared", nettrain.shared),
    ("theano.compile.SharedVariable", nettrain.compile.SharedVariable),
    ("theano.gradient.grad_clip", nettrain.tensor.gradient.grad_clip),
    ("theano.gradient.verify_grad", nettrain.testing.verify_grad),
    ("theano.printing.debugprint", nettrain.graph.printing.debugprint),
    ("theano.printing.Print", nettrain.graph.printing.Print),
    ("theano.sandbox.rng_mrg.MRG_RandomStreams", nettrain.sandbox.rng_mrg.MRG_RandomStreams),
    ("theano.gpuarray.pygpu_activated", False),
]
# reached by ``import`` only, as in Theano: the package attribute of that name is something else
# (``T.var`` is the variance) or the module is not imported by ``import theano``
IMPORT_ONLY = {"theano.tensor.var.TensorVariable", "theano.gpuarray.pygpu_activated"}


@pytest.fixture
def theano():
    compat_theano.install()
    try:
        yield importlib.import_module("theano")
    finally:
        compat_theano.uninstall()


@pytest.mark.parametrize("path,expected", PATHS, ids=[p for p, _ in PATHS])
def test_theano_path_by_attribute_and_by_import(theano, path, expected):
    if path not in IMPORT_ONLY:
        obj = theano
        for name in path.split(".")[1:]:
            obj = getattr(obj, name)
        assert obj is expected
    module, _, name = path.rpartition(".")
    assert getattr(importlib.import_module(module), name) is expected
