"""Composite: several scalar ops fused into one elementwise program.

The fusion rewrite turns a tree of Elemwise nodes into one
``Elemwise{Composite{...}}`` whose ``program`` is a straight-line list of
steps ``(scalar_op, argument refs, dtype)``.  Refs below ``n_inputs`` name
the composite's inputs; ref ``n_inputs + j`` names the result of step ``j``.
A backend can compile the program into one loop; the Python reference runs
the steps with NumPy, casting each to its dtype exactly as the unfused graph
would.
"""

import numpy as np

from .scalar_op import ScalarOp

_INFIX = {"Add": "+", "Sub": "-", "Mul": "*", "TrueDiv": "/", "IntDiv": "//", "Mod": "%", "Pow": "**",
          "LT": "<", "GT": ">", "LE": "<=", "GE": ">=", "EQ": "==", "NEQ": "!="}  # fmt: skip


class Composite(ScalarOp):
    """A fused program of scalar ops (see the module docstring)."""

    __props__ = ("n_inputs", "program", "outputs", "input_dtypes")

    def __init__(self, n_inputs, program, outputs, input_dtypes=None):
        self.n_inputs = int(n_inputs)
        self.program = tuple((op, tuple(args), dt) for op, args, dt in program)
        self.outputs = tuple(outputs)
        self.input_dtypes = tuple(np.dtype(d).name for d in input_dtypes) if input_dtypes is not None else None
        self.nin = self.n_inputs
        self.nout = len(self.outputs)
        for j, (op, args, _dt) in enumerate(self.program):
            if any(a >= self.n_inputs + j for a in args):
                raise ValueError("Composite: step %d (%s) reads a later step" % (j, op))
        self._text = None

    def impl(self, *inputs):
        vals = [np.asarray(v) for v in inputs]
        if self.input_dtypes is not None:
            # Elemwise.perform widens all-1-byte inputs of a float32 output to float32; each
            # step must see its own dtypes (int8 & int8 has no float version)
            vals = [v if v.dtype == d else v.astype(d) for v, d in zip(vals, self.input_dtypes)]
        for op, args, dt in self.program:
            a = [vals[k] for k in args]
            if dt == "float32" and all(v.dtype.itemsize == 1 for v in a):
                # what Elemwise.perform does for this step alone: exp(int8) in float32, not float16
                a = [v.astype(np.float32) if v.dtype.kind in "biu" else v for v in a]
            r = op.impl(*a)
            if type(r) is not np.ndarray or r.dtype != dt:
                r = np.asarray(r, dtype=dt)
            vals.append(r)
        if self.nout == 1:
            return vals[self.outputs[0]]
        return tuple(vals[o] for o in self.outputs)

    def output_dtypes(self, *dtypes):
        n = self.n_inputs
        return tuple(dtypes[o] if o < n else self.program[o - n][2] for o in self.outputs)

    def expression(self):
        """The program as infix text over ``i0, i1, ...``."""
        if self._text is None:
            n = self.n_inputs
            texts = ["i%d" % k for k in range(n)]
            for op, args, _dt in self.program:
                a = [texts[x] for x in args]
                name = type(op).__name__
                if name in _INFIX and len(a) == 2:
                    t = "(%s %s %s)" % (a[0], _INFIX[name], a[1])
                elif name in ("Add", "Mul") and len(a) > 2:
                    t = "(" + (" %s " % _INFIX[name]).join(a) + ")"
                elif name == "Neg":
                    t = "-%s" % a[0]
                elif name == "Cast":
                    t = "%s(%s)" % (op.dtype, a[0])
                else:
                    t = "%s(%s)" % (name.lower(), ", ".join(a))
                texts.append(t)
            self._text = ", ".join(texts[o] for o in self.outputs)
        return self._text

    def __str__(self):
        return "Composite{%s}" % self.expression()

    def __getstate__(self):
        d = dict(self.__dict__)
        d["_text"] = None
        return d

    def grad(self, inputs, outputs, output_grads):
        from ..graph.grad import grad_not_implemented

        # Fusion runs after gradients are taken; a fused graph is not differentiated again.
        return [grad_not_implemented(self, i, x, "differentiate before compiling") for i, x in enumerate(inputs)]


__all__ = ["Composite"]
