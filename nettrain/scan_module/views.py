"""``map``, ``reduce``, ``foldl`` and ``foldr``: common loops written with ``scan``."""

from .scan import scan


def map(fn, sequences, non_sequences=None, truncate_gradient=-1, go_backwards=False, mode=None, name=None):
    """Apply ``fn`` to every element of ``sequences``: ``(outputs, updates)``.

    Examples
    --------
    >>> import numpy as np
    >>> import nettrain as theano
    >>> import nettrain.tensor as T
    >>> x = T.dvector('x')
    >>> sq, _ = theano.map(lambda v: v * v, x)
    >>> theano.function([x], sq)(np.array([1., 2.]))
    array([1., 4.])
    """
    return scan(fn, sequences=sequences, outputs_info=None, non_sequences=non_sequences,
                truncate_gradient=truncate_gradient, go_backwards=go_backwards, mode=mode, name=name)  # fmt: skip


def reduce(fn, sequences, outputs_info, non_sequences=None, go_backwards=False, mode=None, name=None):
    """Like ``scan`` but return only the final value of each output: ``(results, updates)``."""
    outs, upd = scan(fn, sequences=sequences, outputs_info=outputs_info, non_sequences=non_sequences,
                     go_backwards=go_backwards, mode=mode, name=name)  # fmt: skip
    if isinstance(outs, list):
        return [o[-1] for o in outs], upd
    return outs[-1], upd


def foldl(fn, sequences, outputs_info, non_sequences=None, mode=None, name=None):
    """Reduce from the left: ``fn(x_0, acc)``, ``fn(x_1, acc)``, ..."""
    return reduce(fn, sequences, outputs_info, non_sequences, go_backwards=False, mode=mode, name=name)


def foldr(fn, sequences, outputs_info, non_sequences=None, mode=None, name=None):
    """Reduce from the right: ``fn(x_{n-1}, acc)``, ``fn(x_{n-2}, acc)``, ..."""
    return reduce(fn, sequences, outputs_info, non_sequences, go_backwards=True, mode=mode, name=name)
