"""Stabilize: hand-written logistic functions become ``sigmoid`` and ``softplus``.

People write the logistic function by hand: ``1 / (1 + exp(-z))``,
``exp(z) / (1 + exp(z))``, ``(1 + exp(-z)) ** -1``, ``1 - sigmoid(z)``.  In
floating point these overflow (``exp(800)`` is inf) or round to 0, and then
``log`` of them and their gradients give inf and nan.  The rules here find
these forms, in the forward graph and in what ``grad`` made of them, and put
them in forms that are finite wherever the exact value is:

* a product or quotient is normalized as a whole: each factor ``1/(1+exp(x))``
  becomes ``sigmoid(-x)``, and the identities ``exp(y) * sigmoid(-y) =
  sigmoid(y)``, ``sigmoid(y) / exp(y) = sigmoid(-y)`` and ``exp(a) / (exp(a) +
  exp(b)) = sigmoid(a - b)`` remove the ``exp`` factors that overflow;
* a sum times something that cancels in each term (what ``grad`` makes of a
  cross-entropy) is distributed first;
* ``1 - sigmoid(x)`` becomes ``sigmoid(-x)``.

The ``log`` rules (``log(sigmoid) -> -softplus``, ``log(1 + exp) -> softplus``,
``log(exp(a) + exp(b))`` -> a shifted log-sum-exp) are in ``stabilize.py`` and
use :func:`as_sigmoid` from here.
"""

import numpy as np

from ...graph.basic import Constant
from ...graph.rewriting import node_rewriter
from .. import scalar_op as ps
from ..elemwise import Elemwise
from .utils import constant_value, fit_to, is_constant, n_clients, producer

_TAGS = ("fast_run", "fast_compile", "stabilize")
_PRODUCT = (ps.Mul, ps.TrueDiv, ps.Reciprocal, ps.Neg, ps.Pow, ps.Sqr)
_MAX_POWER = 4  # x ** k with |k| <= this is expanded into k factors


# ------------------------------------------------------------------ helpers
def signed(x):
    """``(base, sign)`` with ``x == sign * base``, looking through negations."""
    s = 1
    while True:
        n = producer(x, ps.Neg)
        if n is None:
            return x, s
        x, s = n.inputs[0], -s


def build_signed(base, sign):
    """``sign * base`` as a variable (``base`` itself for +1)."""
    if sign > 0:
        return base
    from ..math import neg

    return neg(base)


def _key(base, sign):
    """A hashable identity of ``sign * base``: constants by value, variables by object."""
    if isinstance(base, Constant):
        c = constant_value(base)
        if c is not None and np.ndim(c) == 0 and base.type.ndim == 0:
            v = float(c) * sign
            return ("c", abs(v), base.type.dtype), (1 if v >= 0 else -1)
    return ("v", id(base)), sign


def one_plus_exp(v):
    """``x`` if ``v`` is ``1 + exp(x)`` (either order), else None."""
    add = producer(v, ps.Add)
    if add is None or len(add.inputs) != 2:
        return None
    a, b = add.inputs
    for one, e in ((a, b), (b, a)):
        if is_constant(one, 1):
            en = producer(e, ps.Exp)
            if en is not None:
                return en.inputs[0]
    return None


def sum_of_exps(v):
    """``[a, b, ...]`` if ``v`` is ``exp(a) + exp(b) + ...`` (two terms or more), else None."""
    add = producer(v, ps.Add)
    if add is None or len(add.inputs) < 2:
        return None
    args = []
    for t in add.inputs:
        en = producer(t, ps.Exp)
        if en is None or en.inputs[0].type.dtype != v.type.dtype:
            return None
        args.append(en.inputs[0])
    return args


def as_sigmoid(fgraph, v, memo=None):
    """``(base, sign)`` when ``v`` computes ``sigmoid(sign * base)`` in any recognized spelling, else None."""
    memo = {} if memo is None else memo
    if v in memo:
        return memo[v]
    memo[v] = None  # a guard against cycles while this one is worked out
    res = None
    node = v.owner
    if node is not None and isinstance(node.op, Elemwise) and v.type.dtype.startswith("float"):
        sop = node.op.scalar_op
        if isinstance(sop, ps.Sigmoid):
            res = signed(node.inputs[0])
        elif isinstance(sop, ps.Sub) and is_constant(node.inputs[0], 1):
            inner = as_sigmoid(fgraph, node.inputs[1], memo)
            if inner is not None:  # 1 - sigmoid(x) = sigmoid(-x)
                res = (inner[0], -inner[1])
        elif isinstance(sop, _PRODUCT) and _small_product(fgraph, v):
            res = _Product(fgraph, v, memo).single_sigmoid()
    memo[v] = res
    return res


def _small_product(fgraph, v, limit=4):
    """True when the product tree of ``v`` has at most ``limit`` leaves (a hand-written sigmoid is small).

    This bounds the work of recognizing a sigmoid inside every product of a large graph.
    """
    stack, leaves = [v], 0
    while stack:
        x = stack.pop()
        node = x.owner
        if (x is v or n_clients(fgraph, x) == 1) and node is not None and producer(x, *_PRODUCT) is not None:
            stack.extend(node.inputs)
        else:
            leaves += 1
            if leaves > limit:
                return False
    return True


def logsumexp_of(args):
    """``log(exp(a) + exp(b) + ...)`` shifted by the largest argument, so no exp overflows."""
    from ..math import abs as abs_, add, eq, exp, isinf, log, maximum, softplus, sub, switch

    if len(args) == 2:
        a, b = args
        # a == b covers a = b = +-inf, where a - b is nan: log(2 exp(a)) = a + log 2
        ln2 = _like(a, np.log(2.0))
        return switch(eq(a, b), add(a, ln2), add(maximum(a, b), softplus(-abs_(sub(a, b)))))
    m = args[0]
    for a in args[1:]:
        m = maximum(m, a)
    m = switch(isinf(m), _like(m, 0.0), m)  # all -inf (or one +inf): shift by 0 so the result stays +-inf
    return add(m, log(add(*[exp(sub(a, m)) for a in args])))


def _like(x, value):
    from ..basic import constant

    return constant(np.asarray(value, dtype=x.type.dtype))


# ------------------------------------------------------------- products
class _Product:
    """A product ``c * num... / den...`` in which logistic factors are recognized.

    ``sig`` and ``exp`` map a key of ``sign * base`` to a power (negative:
    in the denominator); ``num``/``den`` hold the other factors.
    """

    def __init__(self, fgraph, var, memo):
        self.fgraph, self.var, self.memo = fgraph, var, memo
        self.dtype = var.type.dtype
        self.c = 1.0
        self.num, self.den = [], []
        self.sig, self.exp, self.soe = {}, {}, []
        self.bases = {}  # key -> (base, sign)
        self.var_of = {"sig": {}, "exp": {}}  # kind -> key -> an existing variable computing the factor
        self.inv_ope = {}  # key -> how many sigmoid(key)**-1 are a numerator factor 1 + exp(-key) as written
        self.ope_vars = {}
        self.leaves = []
        self.changed = False
        self._collect(var, 1, True)
        self._classify()

    # -- splitting into factors
    def _collect(self, v, power, top):
        node = v.owner
        c = constant_value(v)
        if c is not None and np.ndim(c) == 0 and v.type.dtype.startswith(("float", "int", "uint")):
            with np.errstate(all="ignore"):  # x / 0 folds to inf * x, as the division would give
                self.c *= np.float64(c) ** power
            self.leaves.append(v)
            return
        # a small product read elsewhere too (``1 / p`` used by two terms of a gradient) is looked
        # into as well: repeating its few multiplications lets its factors cancel here
        private = top or n_clients(self.fgraph, v) == 1 or _small_product(self.fgraph, v)
        if node is not None and private and isinstance(node.op, Elemwise) and v.type.dtype == self.dtype:
            sop = node.op.scalar_op
            if isinstance(sop, ps.Mul):
                for i in node.inputs:
                    self._collect(i, power, False)
                return
            if isinstance(sop, ps.TrueDiv):
                self._collect(node.inputs[0], power, False)
                self._collect(node.inputs[1], -power, False)
                return
            if isinstance(sop, ps.Reciprocal):
                self._collect(node.inputs[0], -power, False)
                return
            if isinstance(sop, ps.Neg):
                self.c = -self.c
                self._collect(node.inputs[0], power, False)
                return
            if isinstance(sop, ps.Sqr):
                self._collect(node.inputs[0], 2 * power, False)
                return
            if isinstance(sop, ps.Pow):
                k = constant_value(node.inputs[1])
                if k is not None and float(k) == int(k) and 0 < abs(int(k)) <= _MAX_POWER:
                    self._collect(node.inputs[0], int(k) * power, False)
                    return
        self.leaves.append(v)
        self._leaf(v, power)

    def _leaf(self, v, power):
        for _ in range(abs(power)):
            (self.num if power > 0 else self.den).append(v)

    # -- recognizing logistic factors
    def _classify(self):
        num, den = self.num, self.den
        self.num, self.den = [], []
        for v, p in [(v, 1) for v in num] + [(v, -1) for v in den]:
            s = as_sigmoid(self.fgraph, v, self.memo)
            if s is not None:
                self._add("sig", s, p, v)
                continue
            x = one_plus_exp(v)
            if x is not None:  # 1 + exp(x) = 1 / sigmoid(-x)
                base, sign = signed(x)
                k = self._add("sig", (base, -sign), -p, None)
                if p < 0:
                    self.changed = True  # 1 / (1 + exp(x)) -> sigmoid(-x)
                else:
                    self.inv_ope[k] = self.inv_ope.get(k, 0) + 1
                    self.ope_vars.setdefault(k, v)
                continue
            en = producer(v, ps.Exp)
            if en is not None and v.type.dtype == self.dtype:
                self._add("exp", signed(en.inputs[0]), p, v)
                continue
            args = sum_of_exps(v) if p < 0 else None
            if args is not None:
                self.soe.append((args, v))
                continue
            (self.num if p > 0 else self.den).append(v)

    def _add(self, kind, base_sign, power, var):
        base, sign = base_sign
        k = _key(base, sign)
        table = self.sig if kind == "sig" else self.exp
        if table.get(k, 0) * power < 0:
            self.changed = True  # the same factor, spelled differently, in numerator and denominator: cancel
        table[k] = table.get(k, 0) + power
        self.bases.setdefault(k, (base, sign))
        if var is not None:
            self.var_of[kind].setdefault(k, var)
        return k

    def _factor(self, kind, k):
        """A variable computing sigmoid(key) or exp(key): an existing one, else a new one."""
        var = self.var_of[kind].get(k)
        if var is None:
            from ..math import exp

            base, sign = self.bases[k]
            x = build_signed(base, sign)
            var = _build_sigmoid(x) if kind == "sig" else exp(x)
            self.var_of[kind][k] = var
        return var

    # -- the identities
    def simplify(self):
        """Apply the identities until none applies; True if any did (or a factor was converted)."""
        fired = True
        while fired:
            fired = False
            for k, e in list(self.exp.items()):
                if e == 0:
                    continue
                base, sign = self.bases[k]
                kn = _key(base, -sign)
                self.bases.setdefault(kn, (base, -sign))
                # exp(y) * sigmoid(-y) = sigmoid(y): same-side powers
                s_neg = self.sig.get(kn, 0)
                if s_neg and (s_neg > 0) == (e > 0):
                    t = min(abs(e), abs(s_neg)) * (1 if e > 0 else -1)
                    self._move(k, kn, k, t)
                    fired = True
                    continue
                # sigmoid(y) / exp(y) = sigmoid(-y): opposite-side powers
                s_pos = self.sig.get(k, 0)
                if s_pos and (s_pos > 0) != (e > 0):
                    t = min(abs(e), abs(s_pos)) * (1 if s_pos > 0 else -1)
                    self.exp[k] += t
                    self.sig[k] -= t
                    self.sig[kn] = self.sig.get(kn, 0) + t
                    fired = True
                    continue
            for idx, (args, _) in enumerate(self.soe):
                hit = self._exp_over_sum(args)
                if hit is not None:
                    self.soe.pop(idx)
                    fired = True
                    break
            self.changed |= fired
        return self.changed

    def _move(self, k_exp, k_sig_from, k_sig_to, t):
        self.exp[k_exp] -= t
        self.sig[k_sig_from] -= t
        self.sig[k_sig_to] = self.sig.get(k_sig_to, 0) + t

    def _exp_over_sum(self, args):
        """exp(a_i) / (exp(a_1) + ... + exp(a_n)): sigmoid(a_i - a_j) for two terms, else exp(a_i - lse)."""
        for i, a in enumerate(args):
            k = _key(*signed(a))
            if self.exp.get(k, 0) > 0:
                self.exp[k] -= 1
                from ..math import exp, sub

                if len(args) == 2:
                    new = _build_sigmoid(sub(a, args[1 - i]))
                else:
                    new = exp(sub(a, logsumexp_of(args)))
                self.num.append(new)
                return new
        return None

    def single_sigmoid(self):
        """``(base, sign)`` when the whole product is one sigmoid (nothing else), else None."""
        self.simplify()
        if self.num or self.den or self.soe or self.c != 1.0 or any(self.exp.values()):
            return None
        live = [(k, p) for k, p in self.sig.items() if p]
        if len(live) != 1 or live[0][1] != 1:
            return None
        return self.bases[live[0][0]]

    # -- rebuilding
    def rebuild(self):
        from ..basic import constant
        from ..math import mul, true_div

        num, den = list(self.num), list(self.den)
        for k, p in self.sig.items():
            if p == 0:
                continue
            if p < 0:
                # 1 / sigmoid(-x) that the user wrote as 1 + exp(x) stays as written
                keep = min(-p, self.inv_ope.get(k, 0))
                if keep:
                    num.extend([self.ope_vars[k]] * keep)
                    p += keep
            if p == 0:
                continue
            f = self._factor("sig", k)
            (num if p > 0 else den).extend([f] * abs(p))
        for k, p in self.exp.items():
            if p == 0:
                continue
            f = self._factor("exp", k)
            (num if p > 0 else den).extend([f] * abs(p))
        den.extend(v for _, v in self.soe)
        if self.c != 1.0 or not num:
            num.insert(0, constant(np.asarray(self.c, dtype=self.dtype)))
        new = num[0] if len(num) == 1 else mul(*num)
        if den:
            new = true_div(new, den[0] if len(den) == 1 else mul(*den))
        return new

    def signature(self, skip_sig=None):
        """What identifies the product up to its constant (``skip_sig``: one sigmoid factor left out)."""
        sig = dict(self.sig)
        if skip_sig is not None:
            sig[skip_sig] = sig.get(skip_sig, 0) - 1
        return (
            sorted(id(v) for v in self.num),
            sorted(id(v) for v in self.den),
            sorted((k, p) for k, p in sig.items() if p),
            sorted((k, p) for k, p in self.exp.items() if p),
            sorted(id(v) for _, v in self.soe),
        )

    def parts(self):
        """``(key, power)`` of the sigmoid and exp factors (for rebuilding them outside the product)."""
        out = [("sig", k, p) for k, p in self.sig.items() if p] + [("exp", k, p) for k, p in self.exp.items() if p]
        return [((kind, k), p) for kind, k, p in out]

    def rebuild_part(self, kind_key, p):
        from ..basic import constant
        from ..math import mul, true_div

        kind, k = kind_key
        if kind == "sig" and p < 0 and self.inv_ope.get(k, 0) >= -p:
            f = self.ope_vars[k]
            return f if p == -1 else mul(*([f] * -p))
        f = self._factor(kind, k)
        if p > 0:
            return f if p == 1 else mul(*([f] * p))
        one = constant(np.asarray(1.0, dtype=self.dtype))
        return true_div(one, f if p == -1 else mul(*([f] * -p)))


def _build_sigmoid(x):
    from ..math import sigmoid

    return sigmoid(x)


def _is_product_root(fgraph, node):
    """A float Mul/TrueDiv/Reciprocal/Neg/Pow/Sqr node whose result is not a private factor of a larger product."""
    if not isinstance(node.op, Elemwise) or not isinstance(node.op.scalar_op, _PRODUCT):
        return False
    out = node.outputs[0]
    if not out.type.dtype.startswith("float"):
        return False
    clients = fgraph.clients.get(out, ())
    if len(clients) != 1:
        return True
    client, _ = next(iter(clients))
    if client == "output" or not isinstance(client.op, Elemwise):
        return True
    sop = client.op.scalar_op
    if not isinstance(sop, _PRODUCT) or client.outputs[0].type.dtype != out.type.dtype:
        return True
    if isinstance(sop, ps.Pow):
        k = constant_value(client.inputs[1])
        return client.inputs[0] is not out or k is None or float(k) != int(k) or not 0 < abs(k) <= _MAX_POWER
    return False


# --------------------------------------------------------------- rewrites
@node_rewriter([Elemwise], phase="stabilize", tags=_TAGS)
def local_logistic_product_to_sigmoid(fgraph, node):
    """c / (1 + exp(-x)) -> c * sigmoid(x); exp(x) * sigmoid(-x) -> sigmoid(x); exp(a) / (exp(a)+exp(b)) -> sigmoid(a-b)

    The product is normalized as a whole (see :class:`_Product`), so the rule also cleans up what
    ``grad`` made of a hand-written sigmoid, e.g. ``exp(-x) / (1 + exp(-x)) ** 2 -> sigmoid(x) * sigmoid(-x)``.
    """
    if not _is_product_root(fgraph, node):
        return None
    out = node.outputs[0]
    prod = _Product(fgraph, out, {})
    if not prod.simplify():
        return None
    return [fit_to(prod.rebuild(), out, prod.leaves + list(node.inputs))]


@node_rewriter([Elemwise], phase="stabilize", tags=_TAGS)
def local_one_minus_sigmoid_to_sigmoid_neg(fgraph, node):
    """1 - sigmoid(x) -> sigmoid(-x) (also for sigmoid written by hand)"""
    if not isinstance(node.op.scalar_op, ps.Sub) or not is_constant(node.inputs[0], 1):
        return None
    s = as_sigmoid(fgraph, node.inputs[1])
    if s is None:
        return None
    base, sign = s
    return [fit_to(_build_sigmoid(build_signed(base, -sign)), node.outputs[0], node.inputs)]


@node_rewriter([Elemwise], phase="stabilize", tags=_TAGS)
def local_distribute_product_over_logistic_sum(fgraph, node):
    """(a / sigmoid(x) + b / sigmoid(-x)) * sigmoid(x) * sigmoid(-x) -> a * sigmoid(-x) + b * sigmoid(x)

    A product is distributed over a sum only when every term then simplifies (this is what
    ``grad`` makes of a cross-entropy of a sigmoid).
    """
    if not _is_product_root(fgraph, node):
        return None
    out = node.outputs[0]
    if not isinstance(node.op.scalar_op, (ps.Mul, ps.TrueDiv, ps.Neg)):
        return None
    prod = _Product(fgraph, out, {})
    if not (any(prod.sig.values()) or any(prod.exp.values()) or prod.soe):
        return None
    for k, s in enumerate(prod.num):
        add = producer(s, ps.Add, ps.Sub)
        if add is None or n_clients(fgraph, s) != 1 or s.type.dtype != out.type.dtype:
            continue
        terms = list(add.inputs)
        if isinstance(add.op.scalar_op, ps.Sub):
            from ..math import neg

            terms = [terms[0], neg(terms[1])]
        rest = prod.num[:k] + prod.num[k + 1 :]
        new_terms = []
        for t in terms:
            new = _distributed_term(fgraph, t, prod, rest)
            if new is None:
                break
            new_terms.append(new)
        else:
            from ..math import add as add_

            return [fit_to(add_(*new_terms), out, prod.leaves + list(node.inputs))]
    return None


def _distributed_term(fgraph, term, prod, rest):
    """``term`` times the product without the sum, normalized; None unless the identities fire."""
    from ..math import mul, true_div

    others = list(rest) + [prod.rebuild_part(k, p) for k, p in prod.parts()]
    num = [term] + others
    den = list(prod.den) + [v for _, v in prod.soe]
    expr = mul(*num) if len(num) > 1 else num[0]
    if prod.c != 1.0:
        expr = mul(_like(expr, prod.c), expr)
    if den:
        expr = true_div(expr, den[0] if len(den) == 1 else mul(*den))
    # judge the term on a private copy of the product (the new nodes have no clients yet)
    p2 = _Product(_NoClients(fgraph), expr, {})
    if not p2.simplify():
        return None
    return p2.rebuild()


class _NoClients:
    """A view of ``fgraph`` in which variables not in the graph (just built) count as private."""

    def __init__(self, fgraph):
        self.clients = _ClientsView(fgraph.clients)


class _ClientsView:
    def __init__(self, clients):
        self._c = clients

    def get(self, v, default=()):
        return self._c[v] if v in self._c else (None,)


@node_rewriter([Elemwise], phase="stabilize", tags=_TAGS)
def local_p_minus_p_sigmoid_to_p_sigmoid_neg(fgraph, node):
    """p - p * sigmoid(x) -> p * sigmoid(-x) (so 1 - sigmoid(x) and sigmoid(x) - sigmoid(x)**2 lose no digits)"""
    sop = node.op.scalar_op
    out = node.outputs[0]
    if not isinstance(sop, (ps.Add, ps.Sub)) or not out.type.dtype.startswith("float") or len(node.inputs) > 8:
        return None
    from ..math import add, neg

    terms = list(node.inputs)
    if isinstance(sop, ps.Sub):
        terms = [terms[0], neg(terms[1])]
    memo = {}
    prods = [_Product(_NoClients(fgraph), t, memo) if t.type.dtype == out.type.dtype else None for t in terms]
    for j, pj in enumerate(prods):
        if pj is None or pj.c == 0:
            continue
        for k in [k for k, p in pj.sig.items() if p > 0]:
            want = pj.signature(skip_sig=k)
            for i, pi in enumerate(prods):
                if i == j or pi is None or pi.c != -pj.c or pi.signature() != want:
                    continue
                base, sign = pj.bases[k]
                pi._add("sig", (base, -sign), 1, None)
                new = pi.rebuild()
                rest = [t for m, t in enumerate(terms) if m not in (i, j)]
                res = add(new, *rest) if rest else new
                return [fit_to(res, out, list(node.inputs) + pi.leaves + pj.leaves)]
    return None
