"""Test values (Theano's ``config.compute_test_value``): run each op on sample data as the graph is built.

Give the inputs sample values (``x.tag.test_value = np.ones((3, 4))``); with
``compute_test_value`` set to 'warn', 'raise' or 'ignore', every op applied
afterwards computes its outputs' ``tag.test_value`` with its ``perform``
right away, so a shape error surfaces at the line that builds the bad node,
not later when the compiled function runs.

========  =====================================================================
'off'     nothing is computed (the default)
'ignore'  values are computed where every input has one; nodes with an input
          lacking one are skipped silently
'warn'    as 'ignore', with a warning naming the input that lacks a value
'raise'   an input without a test value is an error (TestValueError)
'pdb'     as 'raise', and a failure opens the debugger on it (``pdb.post_mortem``)
========  =====================================================================

Constants and shared variables always have a value.  Compiling a function
builds nodes without test values (rewrites), so ``function`` turns the
computation off while it compiles, as Theano's ``compute_test_value_opt='off'``.
"""

import warnings

from .basic import Constant, SharedVariable
from .utils import describe_value, format_trace

_MISSING = object()


class TestValueError(AttributeError):
    """An input of a node has no test value while ``config.compute_test_value`` is 'raise'."""

    __test__ = False  # not a pytest test class


def get_test_value(v, default=_MISSING):
    """The test value of ``v``: its ``tag.test_value``, a constant's data or a shared variable's value."""
    if isinstance(v, Constant):
        return v.data
    if isinstance(v, SharedVariable):
        return v.container[0]
    tv = getattr(v.tag, "test_value", _MISSING)
    if tv is _MISSING:
        if default is _MISSING:
            raise TestValueError("%s has no test value; set %s.tag.test_value" % (v, v.name or "var"))
        return default
    try:
        return v.type.filter(tv, strict=False, allow_downcast=True)
    except (TypeError, ValueError) as e:
        raise TypeError("the test value of %s does not fit its type %s: %s" % (v, v.type, e)) from None


def compute_test_value(node, mode):
    """Fill ``tag.test_value`` of ``node``'s outputs by running its op on the inputs' test values."""
    values = []
    for i, v in enumerate(node.inputs):
        tv = get_test_value(v, None)
        if tv is None:
            msg = ("input %d (%s) of %s has no test value (config.compute_test_value=%r); set "
                   "%s.tag.test_value = <a sample array>" % (i, v, node.op, mode, v.name or "var"))  # fmt: skip
            if mode in ("raise", "pdb"):
                raise TestValueError(msg)
            if mode == "warn":
                warnings.warn(msg, stacklevel=4)
            return
        values.append(tv)
    storage = [[None] for _ in node.outputs]
    try:
        node.op.perform(node, values, storage)
    except Exception as e:  # noqa: BLE001 - re-raised with the node's context
        if mode == "pdb":
            import pdb

            pdb.post_mortem(e.__traceback__)
        ins = "\n".join("  %s: %s" % (v, describe_value(tv)) for v, tv in zip(node.inputs, values))
        msg = ("%s\nwhile computing the test value of %s (config.compute_test_value=%r) built at (your code): %s\n"
               "Input test values (name: dtype shape):\n%s"
               % (e, node.op, mode, format_trace(node.tag.trace), ins))  # fmt: skip
        try:
            new = type(e)(msg)
        except Exception:  # noqa: BLE001 - exception types with odd constructors
            new = ValueError(msg)
        raise new from e
    for o, s in zip(node.outputs, storage):
        o.tag.test_value = s[0]


__all__ = ["compute_test_value", "get_test_value", "TestValueError"]
