"""Export a trained layer model to ONNX (``pip install 'nettrain[onnx]'``: onnx, and onnxruntime to run it).

:func:`export` walks the model's layers and writes one ONNX graph computing the inference-mode
forward pass (dropout off, batch normalization with its running statistics), weights stored as
initializers, the batch axis dynamic.  Layers are mapped by family (one module each):

- :mod:`.layers_dense`: ``Dense``, ``Embedding``, ``Dropout``, ``Flatten``, ``Reshape``, activation layers;
- :mod:`.layers_conv`: ``Conv2D``, ``MaxPool2D``, ``AvgPool2D``, ``GlobalAvgPool``;
- :mod:`.layers_norm`: ``BatchNorm``, ``LayerNorm``;
- :mod:`.layers_recurrent`: ``LSTM``, ``GRU``, ``SimpleRNN`` as ONNX's ``LSTM``/``GRU``/``RNN`` operators;
- :mod:`.activations`: every named activation (relu, tanh, sigmoid, softmax, log_softmax, elu, selu, ...).

Anything else (a ``Lambda`` layer, a custom layer, an activation given as an arbitrary function)
is refused with :class:`UnsupportedOpError` naming it.  ``nettrain export RECIPE CKPT model.onnx``
does the same from the command line.

Examples
--------
>>> import os, tempfile, numpy as np
>>> from nettrain import layers as L
>>> from nettrain.onnx import export
>>> model = L.Sequential([L.Dense(8, activation="relu"), L.Dense(3, activation="softmax")], seed=0)
>>> x = np.random.default_rng(0).normal(size=(4, 5)).astype("float32")
>>> path = export(model, x, os.path.join(tempfile.mkdtemp(), "m.onnx"))  # doctest: +SKIP
>>> import onnxruntime  # doctest: +SKIP
>>> out = onnxruntime.InferenceSession(path).run(None, {"x": x})[0]  # doctest: +SKIP
>>> out.shape  # doctest: +SKIP
(4, 3)
"""

import os

import numpy as np

from .builder import GraphBuilder, UnsupportedOpError

__all__ = ["export", "UnsupportedOpError", "DEFAULT_OPSET", "supported_layers"]

#: The ONNX opset written by default (onnxruntime >= 1.14 runs it).
DEFAULT_OPSET = 17


def _require_onnx():
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise ImportError("ONNX export needs the onnx package: pip install 'nettrain[onnx]' (or pip install onnx)") \
            from None


def _converters():
    from . import layers_conv, layers_dense, layers_norm, layers_recurrent

    table = {}
    for module in (layers_dense, layers_conv, layers_norm, layers_recurrent):
        table.update(module.CONVERTERS())
    return table


def supported_layers():
    """Names of the layer classes :func:`export` maps (besides ``Sequential``)."""
    return sorted(cls.__name__ for cls in _converters())


def _convert(g, layer, x, shape, table):
    from ..layers.base import Sequential

    if isinstance(layer, Sequential):
        for child in layer:
            x, shape = _convert(g, child, x, shape, table)
        return x, shape
    fn = next((table[c] for c in type(layer).__mro__ if c in table), None)  # ReLU etc. are Activation subclasses
    if fn is None:
        raise UnsupportedOpError("cannot export %s %r: no ONNX mapping for %s layers; exportable: Sequential, %s"
                                 % (type(layer).__name__, layer.path() or layer.name or "",
                                    type(layer).__name__, ", ".join(supported_layers())))
    return fn(g, layer, x, shape)


def _elem_type(dtype):
    from onnx import helper

    return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


def export(layer_or_function, example_inputs, path, opset=DEFAULT_OPSET, input_name="x", output_name="y",
           dtype=None):
    """Write the inference-mode forward pass of a layer model as an ONNX file.

    Parameters
    ----------
    layer_or_function : Layer
        The model (a ``Sequential`` of the layers listed in the module docstring, or one such layer).
        Its parameters must exist (call it once, or load a checkpoint into a built model).
    example_inputs : array or list of one array
        A batch like the ones the model takes: it fixes the input's dtype and the shape of every
        axis but the first (the batch axis, left dynamic).
    path : str or os.PathLike
        The ``.onnx`` file to write.
    opset : int
        ONNX opset version (13 to 21).
    input_name, output_name : str
        Names of the graph's input and output.
    dtype : str, optional
        Store the weights, and compute, in this float dtype (e.g. ``"float32"`` for a float64 model:
        ONNX Runtime's recurrent operators run float32 only). Default: the model's own dtype.

    Returns
    -------
    str
        ``path``.

    Raises
    ------
    UnsupportedOpError
        A layer or activation with no ONNX mapping (named in the message).
    ImportError
        ``onnx`` is not installed.
    """
    _require_onnx()
    from onnx import checker, helper

    from ..compile.function import Function
    from ..layers.base import Layer

    if isinstance(layer_or_function, Function):
        raise NotImplementedError("export of a compiled nettrain function is not implemented; export the Layer model "
                                  "it was built from: nettrain.onnx.export(model, example_inputs, path)")
    if not isinstance(layer_or_function, Layer):
        raise TypeError("export: expected a nettrain Layer, got %s" % type(layer_or_function).__name__)
    if isinstance(example_inputs, (list, tuple)):
        if len(example_inputs) != 1:
            raise ValueError("export: a layer model takes one input, got %d example inputs" % len(example_inputs))
        example_inputs = example_inputs[0]
    example = np.asarray(example_inputs)
    if example.ndim < 1:
        raise ValueError("export: the example input needs a batch axis")
    if not 13 <= int(opset) <= 21:
        raise ValueError("export: opset must be between 13 and 21, got %r" % (opset,))
    model = layer_or_function
    # Build the graph once in nettrain: creates lazily built parameters and checks the input fits.
    from ..inference import _input_like

    out, updates = model.forward(_input_like(example), training=False)
    if updates:
        raise ValueError("export: the model updates state in inference mode (%s)" % ", ".join(map(str, updates)))
    g = GraphBuilder(opset, dtype)
    if dtype is not None and example.dtype.kind == "f":
        example = example.astype(dtype)
    g._names.add(input_name)
    shape = (None,) + example.shape[1:]
    y, _ = _convert(g, model, input_name, shape, _converters())
    y = g.node("Identity", [y], output_name)
    g.nodes[-1].output[0] = output_name
    dims = lambda s: ["batch"] + [None if d is None else int(d) for d in s[1:]]  # noqa: E731
    out_shape = [None if d is None else int(d) for d in out.type.shape]
    graph = helper.make_graph(
        g.nodes, "nettrain_" + (type(model).__name__.lower()),
        [helper.make_tensor_value_info(input_name, _elem_type(example.dtype), dims(shape))],
        [helper.make_tensor_value_info(output_name, _elem_type(dtype or out.type.dtype), ["batch"] + out_shape[1:])],
        g.initializers)
    from .. import __version__

    onnx_model = helper.make_model(graph, producer_name="nettrain", producer_version=__version__,
                                   opset_imports=[helper.make_opsetid("", int(opset))])
    onnx_model.ir_version = min(onnx_model.ir_version, 8)  # IR 8 is read by every onnxruntime that runs opset 17
    checker.check_model(onnx_model)
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp-%d" % os.getpid()
    with open(tmp, "wb") as fh:
        fh.write(onnx_model.SerializeToString())
    os.replace(tmp, path)
    return path
