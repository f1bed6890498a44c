"""Compatibility helpers for running code written for other libraries.

:mod:`nettrain.compat.theano` resolves ``import theano`` (and every
``theano.X.Y``) to nettrain, as a command
(``python -m nettrain.compat.theano script.py``) or from code
(``nettrain.compat.theano.install()``).
"""
