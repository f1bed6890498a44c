"""Inference with a trained model: compiled forward functions without gradients, and text sampling.

:func:`compile_predict` builds the model's forward graph with ``training=False`` (dropout is
the identity, batch normalization uses its running statistics) and compiles it alone: no
gradient, no optimizer and no state update is in the graph.  :func:`sample_text` generates
characters from a recurrent language model (an :class:`~nettrain.layers.Embedding`, recurrent
layers, then dense layers) one step at a time, carrying the recurrent state between calls.

Examples
--------
>>> import numpy as np
>>> from nettrain import layers as L
>>> from nettrain.inference import compile_predict
>>> model = L.Sequential([L.Dense(4, activation="relu"), L.Dropout(0.5), L.Dense(3)], seed=0)
>>> predict = compile_predict(model, np.zeros((1, 5), "float32"), classifier=True)
>>> out = predict(np.ones((2, 5), "float32"))
>>> out["class"].shape, out["prob"].shape, bool(np.allclose(out["prob"].sum(1), 1))
((2,), (2, 3), True)
"""

import numpy as np

__all__ = ["Predictor", "compile_predict", "compile_step", "sample_text"]


def _input_like(example, name="x"):
    """A symbolic batch input with ``example``'s dtype and trailing shape (so lazy layers infer sizes)."""
    from .tensor.basic import tensor

    example = np.asarray(example)
    if example.ndim < 1:
        raise ValueError("the example input needs a batch axis, got a scalar")
    return tensor(example.dtype.name, shape=(None,) + example.shape[1:], name=name)


def _is_softmax(var):
    owner = getattr(var, "owner", None)
    return owner is not None and type(owner.op).__name__ == "Softmax"


class Predictor:
    """A compiled inference function of a layer model; calling it maps a batch in batches.

    ``classifier``: the output is a ``(batch, classes)`` matrix of logits (or of probabilities
    when the model ends in a softmax); the call returns ``{"class": int64 (n,), "prob": (n, classes)}``.
    Otherwise it returns ``{"output": array}``.
    """

    def __init__(self, model, example, classifier=False, batch_size=512):
        from .compile.function import function
        from .tensor.reduction import argmax
        from .tensor.nnet import softmax

        self.model, self.classifier, self.batch_size = model, bool(classifier), int(batch_size)
        if self.batch_size < 1:
            raise ValueError("batch_size must be positive, got %r" % (batch_size,))
        self.input = x = _input_like(example)
        out, updates = model.forward(x, training=False)
        if updates:  # a layer that updates state even in inference mode would change the model while predicting
            raise ValueError("the model's inference-mode forward returns state updates (%s); predictions must not "
                             "change the model" % ", ".join(sorted(str(k) for k in updates)))
        if self.classifier:
            if out.type.ndim != 2:
                raise ValueError("a classifier's output must be a (batch, classes) matrix, got %s" % out.type)
            prob = out if _is_softmax(out) else softmax(out)
            self.fn = function([x], [prob, argmax(prob, axis=1)], name="predict")
        else:
            self.fn = function([x], out, name="predict")

    def __call__(self, x):
        x = np.asarray(x)
        want = self.input.type
        if x.ndim != want.ndim:
            raise ValueError("the model takes inputs of %d dimensions %s, got an array of shape %s"
                             % (want.ndim, _shape_text(want.shape), x.shape))
        if any(w is not None and w != d for w, d in zip(want.shape[1:], x.shape[1:])):
            raise ValueError("the model takes inputs of shape %s, got %s" % (_shape_text(want.shape), x.shape))
        x = x.astype(want.dtype, copy=False)
        parts = []
        for i in range(0, max(len(x), 1), self.batch_size):
            parts.append(self.fn(x[i:i + self.batch_size]))
        if self.classifier:
            return {"class": np.concatenate([p[1] for p in parts]).astype(np.int64),
                    "prob": np.concatenate([p[0] for p in parts])}
        return {"output": np.concatenate(parts)}


def _shape_text(shape):
    return "(%s)" % ", ".join("n" if i == 0 else "?" if d is None else str(d) for i, d in enumerate(shape))


def compile_predict(model, example, classifier=False, batch_size=512):
    """A :class:`Predictor` for ``model`` on inputs shaped like ``example`` (its first axis is the batch)."""
    return Predictor(model, example, classifier=classifier, batch_size=batch_size)


# ---------------------------------------------------------------------------- step-wise recurrent models


def compile_step(model):
    """One time step of ``Sequential([Embedding, recurrent layers..., other layers...])``.

    Returns ``(step, initial)``: ``step(indices, *states) -> (logits, *new_states)`` for a batch of
    integer indices ``(batch,)``, and ``initial(batch)``, the zero states.  The recurrent layers run
    their own cell (``layer._step``), so the weights are the trained ones and nothing is unrolled.
    """
    from .compile.function import function
    from .layers.base import Sequential
    from .layers.dense import Embedding
    from .layers.recurrent import LSTM, _Recurrent
    from .tensor.basic import tensor

    layers = list(model) if isinstance(model, Sequential) else [model]
    if not layers or not isinstance(layers[0], Embedding):
        raise ValueError("sampling needs a Sequential starting with an Embedding (character indices in), got %s"
                         % ", ".join(type(layer).__name__ for layer in layers))
    idx = tensor("int32", shape=(None,), name="index")
    h, states, new_states, shapes = idx, [], [], []
    for layer in layers:
        if isinstance(layer, _Recurrent):
            if layer.W is None:
                from .layers.dense import static_dim

                layer.build(static_dim(h, 1, type(layer).__name__), layer._param_dtype(h))
            dtype, n = layer.W.type.dtype, layer.units
            prev = [tensor(dtype, shape=(None, n), name="%s.state%d" % (layer.path(), i))
                    for i in range(2 if isinstance(layer, LSTM) else 1)]
            out = layer._step(h @ layer.W + layer.b, *prev, layer.U)
            out = list(out) if isinstance(out, (list, tuple)) else [out]
            states += prev
            new_states += out
            shapes += [(n, dtype)] * len(prev)
            h = out[0]
        else:
            h, updates = layer.forward(h, training=False)
            if updates:
                raise ValueError("%s updates state in inference mode; cannot sample" % layer._describe())
    if not shapes:
        raise ValueError("the model has no recurrent layer to carry state between steps")
    fn = function([idx] + states, [h] + new_states, name="sample_step")

    def initial(batch):
        return [np.zeros((batch, n), dtype) for n, dtype in shapes]

    return fn, initial


def sample_text(model, vocab, length, temperature=1.0, prime="", seed=0):
    """Generate ``length`` characters from a character-level model, after feeding it ``prime``.

    Parameters
    ----------
    model : Sequential
        ``Embedding``, recurrent layers (LSTM, GRU, SimpleRNN), then layers giving logits over ``vocab``.
    vocab : sequence of str
        The characters, in the order of the model's indices.
    length : int
        Number of characters to generate (the prime is not counted nor included).
    temperature : float
        Divides the logits: below 1 is more conservative, above 1 more varied; 0 picks the most likely.
    prime : str
        Text fed first; every character must be in ``vocab``. Empty: start from a random character.
    seed : int
        Seeds the sampling, so the same arguments give the same text.

    Examples
    --------
    >>> from nettrain import layers as L
    >>> from nettrain.inference import sample_text
    >>> vocab = list("ab ")
    >>> model = L.Sequential([L.Embedding(3, 4), L.LSTM(5), L.Dense(3, in_units=5)], seed=0)
    >>> text = sample_text(model, vocab, 20, prime="ab", seed=1)
    >>> len(text), set(text) <= set(vocab), text == sample_text(model, vocab, 20, prime="ab", seed=1)
    (20, True, True)
    """
    length, temperature = int(length), float(temperature)
    if length < 0:
        raise ValueError("length must be >= 0, got %d" % length)
    if not temperature >= 0 or not np.isfinite(temperature):
        raise ValueError("temperature must be a finite number >= 0, got %r" % (temperature,))
    index = {c: i for i, c in enumerate(vocab)}
    unknown = sorted({c for c in prime if c not in index})
    if unknown:
        raise ValueError("the prime holds characters the model has never seen: %s" % ", ".join(map(repr, unknown)))
    step, initial = compile_step(model)
    rng = np.random.default_rng(seed)
    states = initial(1)
    feed = [index[c] for c in prime] or [int(rng.integers(len(vocab)))]
    logits = None
    for i in feed:
        logits, *states = step(np.array([i], np.int32), *states)
    out = []
    for _ in range(length):
        z = np.asarray(logits[0], dtype=np.float64)
        if temperature == 0:
            i = int(np.argmax(z))
        else:
            z = z / temperature
            p = np.exp(z - z.max())
            i = int(rng.choice(len(p), p=p / p.sum()))
        out.append(vocab[i])
        logits, *states = step(np.array([i], np.int32), *states)
    return "".join(out)
