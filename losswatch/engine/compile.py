"""Type-check an expression tree and turn it into closures over per-run streams.

Three kinds of value: a constant (folded at load time), a series (a `Stream` per run, shared by every
rule that names the same thing, e.g. `ema(loss, 50)`), and a scalar computed at evaluation time.
A series read as a scalar is its latest value. Values may be missing (None: a metric the run does
not have, a window not full yet); missing propagates through arithmetic and comparisons, `and` is
false as soon as one side is false (else missing if a side is missing), and `or` ignores a missing
side, so that `nonfinite(loss) > 0 or nonfinite(val_loss) > 0` fires and resolves for a run
without validation.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass, field

from losswatch.engine import functions as F
from losswatch.engine.lang import Binary, Call, ExprError, Name, Node, Num, Unary

Scalar = Callable[[list, float], "float | bool | None"]


@dataclass
class StreamSpec:
    key: str
    factory: Callable[[bool], F.Stream] | None  # None for a base metric
    source: int | None  # input stream index; None for a base metric
    metric: str  # the base metric this stream derives from
    rising: bool
    view_of: int | None = None  # reads another stream's state (mad over median's window)


@dataclass
class Compiled:
    kind: str  # const | series | scalar
    const: float = math.nan
    stream: int = -1
    fn: Scalar | None = None
    metrics: set[str] = field(default_factory=set)
    uses_now: bool = False
    first: set[int] = field(default_factory=set)  # the streams read at every evaluation (not behind `and`)

    def __post_init__(self) -> None:
        if self.kind == "series":
            self.first.add(self.stream)


def _w(name: str, col: int, x: float, minimum: int = 1) -> int:
    if not (math.isfinite(x) and x == int(x) and x >= minimum):
        raise ExprError(f"{name}: the window must be a whole number ≥ {minimum}, got {x:g}", col)
    if x > 1_000_000:
        raise ExprError(f"{name}: window {x:g} is larger than 1000000 points", col)
    return int(x)


def _pos(name: str, col: int, x: float) -> float:
    if not (math.isfinite(x) and x > 0):
        raise ExprError(f"{name}: expected a positive number, got {x:g}", col)
    return x


def _fraction(name: str, col: int, x: float) -> float:
    if not (math.isfinite(x) and 0 <= x <= 1):
        raise ExprError(f"{name}: expected a fraction between 0 and 1, got {x:g}", col)
    return x


def _bind(cls, *args):
    """A stream factory with its arguments already validated."""
    return lambda rising: cls(rising, *args)


def _rel_improvement(name: str, col: int, n: float, frac: float = 0.0):
    if not (0.0 <= frac < 1.0):
        raise ExprError(f"{name}: frac must be in [0, 1), got {frac:g}", col)
    return _bind(F.RelImprovement, _w(name, col, n), frac)


# Series functions: name -> (min consts, max consts, builder(rising, col, *consts) -> factory, help)
def _series_functions():
    def moments(kind):
        return lambda name, col, n: _bind(F.Moments, _w(name, col, n, 1), kind)

    def ordered(kind, minimum=1):
        return lambda name, col, n: _bind(F.Ordered, _w(name, col, n, minimum), kind)

    def extreme(is_max):
        def b(name, col, n=None):
            w = None if n is None else _w(name, col, n, 1)
            if w is not None and w <= 8:
                return _bind(F.SmallExtreme, w, is_max)
            return _bind(F.Extreme, w, is_max)
        return b

    def count(name, col, n=None):
        return _bind(F.Count, None if n is None else _pos(name, col, n))

    return {
        "last": (0, 0, lambda name, col: None, "last(x): the latest value"),
        "first": (0, 0, lambda name, col: F.First, "first(x): the first value"),
        "count": (0, 1, count, "count(x[, steps]): points so far, or within the last `steps` steps"),
        "nonfinite": (0, 1, lambda name, col, n=1: _bind(F.Nonfinite, _w(name, col, n)),
                      "nonfinite(x[, n]): NaN/Inf among the last n points (default 1)"),
        "mean": (1, 1, moments("mean"), "mean(x, n): mean of the last n points"),
        "std": (1, 1, moments("std"), "std(x, n): standard deviation of the last n points"),
        "min": (0, 1, extreme(False), "min(x[, n]): minimum of the last n points (whole run without n)"),
        "max": (0, 1, extreme(True), "max(x[, n]): maximum of the last n points (whole run without n)"),
        "median": (1, 1, ordered("median"), "median(x, n): median of the last n points"),
        "mad": (1, 1, ordered("mad"), "mad(x, n): median absolute deviation of the last n points"),
        "zscore": (1, 1, ordered("zscore", 5),
                   "zscore(x, n): robust z of the latest point against the n before it (median/MAD)"),
        "quantile": (2, 2, lambda name, col, n, q: _bind(F.Quantile, _w(name, col, n), _fraction(name, col, q)),
                     "quantile(x, n, q): the q-quantile (0..1) of the last n points, e.g. quantile(gpu.util, 300, 0.95)"),
        "ema": (1, 1, lambda name, col, n: _bind(F.Ema, _pos(name, col, n)),
                "ema(x, n): exponential moving average with a time constant of n steps"),
        "slope": (1, 1, lambda name, col, n: _bind(F.Slope, _w(name, col, n, 4)),
                  "slope(x, n): robust per-step slope over the last n points (all while fewer, ≥ 4)"),
        "rise": (1, 1, lambda name, col, n: _bind(F.Slope, _w(name, col, n, 4)),
                 "rise(x, n): robust change over the last n points: median of the newer half − median "
                 "of the older half"),
        "rel_improvement": (1, 2, _rel_improvement,
                            "rel_improvement(x, n[, frac]): relative gain of the best of the last "
                            "max(n, frac·count) points over the best before them (direction-aware)"),
        "best": (0, 0, lambda name, col: (lambda r: F.Best(r, False)),
                 "best(x): best value so far (min for losses, max for accuracy-like metrics)"),
        "best_step": (0, 0, lambda name, col: (lambda r: F.Best(r, True)), "best_step(x): step of best(x)"),
        "rebound": (0, 0, lambda name, col: F.Rebound,
                    "rebound(x): latest value / lowest value since the peak (lr schedule going up again)"),
        "interval": (1, 1, lambda name, col, n: _bind(F.Interval, _w(name, col, n)),
                     "interval(x, n): median seconds between the last n points"),
        "step": (0, 0, lambda name, col: F.StepOf, "step(x): step of the latest point"),
        "lag": (1, 1, lambda name, col, k: _bind(F.Lag, _w(name, col, k, 1)),
                "lag(x, k): the value k points ago (missing until there are k + 1 points)"),
    }


SERIES_FUNCTIONS = _series_functions()

ELEMENTWISE = {"ln": F.safe_log, "log": F.safe_log, "exp": F.safe_exp, "abs": abs}

SCALAR_HELP = {
    "ln": "ln(x): natural logarithm (of a number, a value, or each point of a series)",
    "log": "log(x): same as ln",
    "exp": "exp(x): e to the x",
    "abs": "abs(x): absolute value",
    "near": "near(x, c, tol): whether x is within relative tol of c (c may be an expression)",
    "chance_classes": "chance_classes(x, tol): C when x is within relative tol of ln C, else 0",
    "saturation": "saturation(x, tol): the saturation constant (87.3365, 16.118·k, 100·k, 0) x sits at",
    "since_last": "since_last(metric): seconds since the metric's last sample",
    "line": "line(metric): the log line of the metric's latest sample",
    "default": "default(x, d): x, or d where x is missing (a metric the run lacks, a window not full)",
    "greatest": "greatest(a, b, ...): the largest of the values (also max(a, b) with two plain values)",
    "least": "least(a, b, ...): the smallest of the values (also min(a, b) with two plain values)",
}


def function_help() -> dict[str, str]:
    out = {name: spec[3] for name, spec in SERIES_FUNCTIONS.items()}
    out.update(SCALAR_HELP)
    return dict(sorted(out.items()))


class Compiler:
    """Compiles the expressions of all rules of an engine against one shared stream table."""

    def __init__(self) -> None:
        self.specs: list[StreamSpec] = []
        self._index: dict[str, int] = {}

    # -- streams -----------------------------------------------------------------------------------

    def _stream(self, key: str, factory, source: int | None, metric: str, rising: bool) -> int:
        i = self._index.get(key)
        if i is None:
            i = len(self.specs)
            self.specs.append(StreamSpec(key, factory, source, metric, rising))
            self._index[key] = i
        return i

    def base(self, metric: str) -> int:
        return self._stream(metric, None, None, metric, F.rises(metric))

    # -- compile -----------------------------------------------------------------------------------

    def compile(self, node: Node, consts: dict[str, float]) -> Compiled:
        if isinstance(node, Num):
            return Compiled("const", const=node.value)
        if isinstance(node, Name):
            if node.name in consts:
                return Compiled("const", const=consts[node.name])
            if node.name in SERIES_FUNCTIONS or node.name in SCALAR_HELP:
                raise ExprError(f"`{node.name}` is a function: call it as {node.name}(...)", node.col)
            i = self.base(node.name)
            return Compiled("series", stream=i, metrics={node.name})
        if isinstance(node, Unary):
            a = self.compile(node.arg, consts)
            if node.op == "-":
                if a.kind == "const":
                    return Compiled("const", const=-a.const)
                f = self.scalar(a)
                return self._derived(a, lambda st, now: None if (x := f(st, now)) is None else -x)
            f = self.scalar(a)
            return self._derived(a, lambda st, now: None if (x := f(st, now)) is None else (not x))
        if isinstance(node, Binary):
            return self._binary(node, consts)
        if isinstance(node, Call):
            return self._call(node, consts)
        raise ExprError("unsupported expression", getattr(node, "col", 1))

    def scalar(self, c: Compiled) -> Scalar:
        if c.kind == "const":
            v = c.const
            return lambda st, now: v
        if c.kind == "series":
            i = c.stream
            return lambda st, now: st[i].get()
        assert c.fn is not None
        return c.fn

    @staticmethod
    def _derived(a: Compiled, fn: Scalar, b: Compiled | None = None, first_only_a: bool = False) -> Compiled:
        metrics = set(a.metrics) | (b.metrics if b else set())
        first = a.first | (b.first if b and not first_only_a else set())
        return Compiled("scalar", fn=fn, metrics=metrics, uses_now=a.uses_now or bool(b and b.uses_now), first=first)

    def _binary(self, node: Binary, consts: dict[str, float]) -> Compiled:
        a = self.compile(node.left, consts)
        b = self.compile(node.right, consts)
        op = node.op
        if a.kind == "const" and b.kind == "const" and op not in ("and", "or"):
            v = _BINOPS[op](a.const, b.const)
            return Compiled("const", const=float(v))
        if op in ("and", "or") and a.kind == "const":  # `classes > 1 and ...` with classes: 0
            if (op == "and") != bool(a.const):
                return Compiled("const", const=float(bool(a.const)))
            if b.kind != "series":
                return b
            return Compiled("scalar", fn=self.scalar(b), metrics=set(b.metrics), first=set(b.first))
        fa, fb = self.scalar(a), self.scalar(b)
        if op == "and":
            def f_and(st, now):
                x = fa(st, now)
                if x is not None and not x:
                    return False
                y = fb(st, now)
                if y is None:
                    return None
                if not y:
                    return False
                return None if x is None else True
            return self._derived(a, f_and, b, first_only_a=True)
        if op == "or":
            def f_or(st, now):  # a missing side is ignored: only "all sides missing" is missing
                x = fa(st, now)
                if x is not None and x:
                    return True
                y = fb(st, now)
                if y is None:
                    return None if x is None else False
                if y:
                    return True
                return False
            return self._derived(a, f_or, b)
        g = _BINOPS[op]
        if b.kind == "const":  # the common `series > constant`: one call less per evaluation
            c = b.const
            if a.kind == "series":
                i = a.stream

                def fs(st, now):
                    x = st[i].get()
                    return None if x is None else g(x, c)
                return self._derived(a, fs, b)

            def fc(st, now):
                x = fa(st, now)
                return None if x is None else g(x, c)
            return self._derived(a, fc, b)
        # the other shapes with a constant or a series on one side read it in place, not by a call
        if a.kind == "const":
            c = a.const
            if b.kind == "series":
                j = b.stream

                def f_cs(st, now):
                    y = st[j].get()
                    return None if y is None else g(c, y)
                return self._derived(a, f_cs, b)

            def f_cx(st, now):
                y = fb(st, now)
                return None if y is None else g(c, y)
            return self._derived(a, f_cx, b)
        if a.kind == "series":
            i = a.stream
            if b.kind == "series":
                j = b.stream

                def f_ss(st, now):
                    x = st[i].get()
                    if x is None:
                        return None
                    y = st[j].get()
                    return None if y is None else g(x, y)
                return self._derived(a, f_ss, b)

            def f_sx(st, now):
                x = st[i].get()
                if x is None:
                    return None
                y = fb(st, now)
                return None if y is None else g(x, y)
            return self._derived(a, f_sx, b)
        if b.kind == "series":
            j = b.stream

            def f_xs(st, now):
                x = fa(st, now)
                if x is None:
                    return None
                y = st[j].get()
                return None if y is None else g(x, y)
            return self._derived(a, f_xs, b)

        def f(st, now):
            x = fa(st, now)
            if x is None:
                return None
            y = fb(st, now)
            if y is None:
                return None
            return g(x, y)
        return self._derived(a, f, b)

    def _call(self, node: Call, consts: dict[str, float]) -> Compiled:
        name = node.func
        args = node.args
        if name in ("min", "max") and len(args) >= 2 and not self._is_series_arg(args[0], consts):
            name = "least" if name == "min" else "greatest"
        if name == "nonfinite" and len(args) == 1:  # no window: a check of the latest value, no stream
            src = self.compile(args[0], consts)
            if src.kind == "series":
                i = src.stream
                return Compiled("scalar", fn=lambda st, now, i=i: None if (v := st[i].get()) is None
                                else float(v - v != 0), metrics=set(src.metrics), first=set(src.first))
        if name in SERIES_FUNCTIONS:
            lo, hi, builder, help_ = SERIES_FUNCTIONS[name]
            if not (1 + lo <= len(args) <= 1 + hi):
                raise ExprError(f"wrong number of arguments: {help_}", node.col)
            src = self.compile(args[0], consts)
            if src.kind != "series":
                raise ExprError(f"{name}: the first argument must be a metric or a series function "
                                f"such as ema(loss, 50); {help_}", args[0].col)
            const_args = []
            for a in args[1:]:
                c = self.compile(a, consts)
                if c.kind != "const":
                    raise ExprError(f"{name}: window arguments must be numbers (or vars); {help_}", a.col)
                const_args.append(c.const)
            factory = builder(name, node.col, *const_args)
            if factory is None:  # last(x) is x itself
                return src
            spec = self.specs[src.stream]
            if name == "rise":  # shares the window of slope(x, n)
                sl = self._stream(f"slope({spec.key},{const_args[0]!r})", factory, src.stream, spec.metric,
                                  spec.rising)
                i = self._stream(f"rise({spec.key},{const_args[0]!r})", F.RiseView, src.stream, spec.metric,
                                 spec.rising)
                self.specs[i].view_of = sl
                return Compiled("series", stream=i, metrics=set(src.metrics))
            if name == "best_step":  # shares the Best stream of best(x)
                best = self._stream(f"best({spec.key})", _bind(F.Best, False), src.stream, spec.metric,
                                    spec.rising)
                i = self._stream(f"best_step({spec.key})", F.BestStepView, src.stream, spec.metric, spec.rising)
                self.specs[i].view_of = best
                return Compiled("series", stream=i, metrics=set(src.metrics))
            if name == "mad":  # shares the sorted window of median(x, n)
                med = self._stream(f"median({spec.key},{const_args[0]!r})",
                                   _bind(F.Ordered, _w(name, node.col, const_args[0]), "median"),
                                   src.stream, spec.metric, spec.rising)
                i = self._stream(f"mad({spec.key},{const_args[0]!r})", F.MadView, src.stream, spec.metric,
                                 spec.rising)
                self.specs[i].view_of = med
                return Compiled("series", stream=i, metrics=set(src.metrics))
            key = f"{name}({spec.key}{''.join(',' + repr(c) for c in const_args)})"
            i = self._stream(key, factory, src.stream, spec.metric, spec.rising)
            return Compiled("series", stream=i, metrics=set(src.metrics))
        if name in ELEMENTWISE:
            if len(args) != 1:
                raise ExprError(f"wrong number of arguments: {SCALAR_HELP[name]}", node.col)
            src = self.compile(args[0], consts)
            g = ELEMENTWISE[name]
            if src.kind == "const":
                return Compiled("const", const=float(g(src.const)))
            if src.kind == "series":
                spec = self.specs[src.stream]
                key = f"{name}({spec.key})"
                i = self._stream(key, lambda r, g=g: F.Elementwise(r, g), src.stream, spec.metric, spec.rising)
                return Compiled("series", stream=i, metrics=set(src.metrics))
            f = self.scalar(src)
            return self._derived(src, lambda st, now: None if (x := f(st, now)) is None else g(x))
        if name == "near":
            if len(args) != 3:
                raise ExprError(f"wrong number of arguments: {SCALAR_HELP[name]}", node.col)
            x, c = self.compile(args[0], consts), self.compile(args[1], consts)
            t = self.compile(args[2], consts)
            if t.kind != "const" or not (t.const >= 0 and math.isfinite(t.const)):
                raise ExprError(f"near: the tolerance must be a number ≥ 0; {SCALAR_HELP[name]}", args[2].col)
            tol = t.const
            fx, fc = self.scalar(x), self.scalar(c)

            def near_(st, now):
                v = fx(st, now)
                if v is None:
                    return None
                c0 = fc(st, now)
                if c0 is None:
                    return None
                return abs(v - c0) <= tol * abs(c0) if c0 != 0 else v == 0
            return self._derived(x, near_, c)
        if name in ("chance_classes", "saturation"):
            if len(args) != 2:
                raise ExprError(f"wrong number of arguments: {SCALAR_HELP[name]}", node.col)
            x = self.compile(args[0], consts)
            t = self.compile(args[1], consts)
            if t.kind != "const":
                raise ExprError(f"{name}: expected a number here; {SCALAR_HELP[name]}", args[1].col)
            tol = _pos(name, args[1].col, t.const)
            fx = self.scalar(x)
            g2 = F.chance_classes if name == "chance_classes" else F.saturation
            return self._derived(x, lambda st, now: None if (v := fx(st, now)) is None else g2(v, tol))
        if name == "since_last":
            if len(args) != 1 or not isinstance(args[0], Name) or args[0].name in consts:
                raise ExprError(f"since_last takes one metric name: {SCALAR_HELP[name]}", node.col)
            i = self.base(args[0].name)

            def since(st, now, i=i):
                t = st[i].wall_time
                if t != t or now != now:
                    return None
                return max(0.0, now - t)
            return Compiled("scalar", fn=since, metrics={args[0].name}, uses_now=True, first={i})
        if name == "line":
            if len(args) != 1 or not isinstance(args[0], Name) or args[0].name in consts:
                raise ExprError(f"line takes one metric name: {SCALAR_HELP[name]}", node.col)
            i = self.base(args[0].name)
            return Compiled("scalar", fn=lambda st, now, i=i: float(st[i].line) if st[i].n else None,
                            metrics={args[0].name}, first={i})
        if name == "default":
            if len(args) != 2:
                raise ExprError(f"wrong number of arguments: {SCALAR_HELP[name]}", node.col)
            x, d = self.compile(args[0], consts), self.compile(args[1], consts)
            fx, fd = self.scalar(x), self.scalar(d)

            def dflt(st, now):
                v = fx(st, now)
                return fd(st, now) if v is None else v
            return self._derived(x, dflt, d, first_only_a=True)
        if name in ("greatest", "least"):
            if len(args) < 2:
                raise ExprError(f"wrong number of arguments: {SCALAR_HELP[name]}", node.col)
            cs = [self.compile(a, consts) for a in args]
            pick = max if name == "greatest" else min
            if all(c.kind == "const" for c in cs):
                return Compiled("const", const=pick(c.const for c in cs))
            fs = [self.scalar(c) for c in cs]

            def f(st, now):
                vals = [g(st, now) for g in fs]
                if any(v is None for v in vals):
                    return None
                return pick(vals)
            out = Compiled("scalar", fn=f)
            for c in cs:
                out.metrics |= c.metrics
                out.first |= c.first
                out.uses_now |= c.uses_now
            return out
        known = ", ".join(sorted(set(SERIES_FUNCTIONS) | set(SCALAR_HELP)))
        raise ExprError(f"unknown function `{name}`; known functions: {known}", node.col)

    def _is_series_arg(self, node: Node, consts: dict[str, float]) -> bool:
        if isinstance(node, Name):
            return node.name not in consts
        if isinstance(node, Call):
            return node.func in SERIES_FUNCTIONS or node.func in ELEMENTWISE
        return False


def _div(a: float, b: float) -> float:
    try:
        return a / b
    except ZeroDivisionError:
        if a != a or a == 0:
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)


_BINOPS = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": _div,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


Needs = frozenset  # of frozensets of metric names: the expression has a value only if one set is all present

_ALWAYS: frozenset = frozenset({frozenset()})


def _product(a: frozenset, b: frozenset) -> frozenset:
    out = {x | y for x in a for y in b}
    out = {c for c in out if not any(o < c for o in out)}
    return frozenset(out) if len(out) <= 32 else _ALWAYS


def needs(node: Node, consts: dict[str, float]) -> frozenset:
    """Which metrics an expression needs to have a value at all, as alternatives (or of ands).

    The engine skips a rule at no cost while none of the alternatives is present in the run, which
    is what makes a rule naming a metric the run lacks inactive rather than evaluated in vain.
    """
    if isinstance(node, Num):
        return _ALWAYS
    if isinstance(node, Name):
        return _ALWAYS if node.name in consts else frozenset({frozenset({node.name})})
    if isinstance(node, Unary):
        return needs(node.arg, consts)
    if isinstance(node, Binary):
        a, b = needs(node.left, consts), needs(node.right, consts)
        if node.op == "or":
            u = a | b
            return frozenset(c for c in u if not any(o < c for o in u))
        return _product(a, b)
    if isinstance(node, Call):
        if not node.args:
            return _ALWAYS
        if node.func == "default":
            u = frozenset().union(*(needs(x, consts) for x in node.args))
            return frozenset(c for c in u if not any(o < c for o in u))
        if node.func in ("greatest", "least") or (node.func in ("min", "max") and len(node.args) >= 2
                                                  and not isinstance(node.args[0], Name)):
            out = _ALWAYS
            for x in node.args:
                out = _product(out, needs(x, consts))
            return out
        return needs(node.args[0], consts)
    return _ALWAYS
