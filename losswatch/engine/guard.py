"""Guards: proving with numpy, for a run of lines at once, that a rule's condition is not true.

Why: the rules evaluated at every line (`nonfinite_loss`, `loss_spike`'s `loss > 1.5 * median(loss, 50)
and ...`) are false at nearly every line of a healthy run, yet cost a Python evaluation per line. A
guard is the part of a condition that numpy can evaluate over a whole run of lines with the very
same floats (metric values, constants, + - *, comparisons, and/or, `median(metric, n)` over each
sliding window, `zscore(metric, n)` and `zscore(log(metric), n)` from sorted windows,
`nonfinite(metric)`); where it shows the condition is false or missing at every line of the run, an
inactive alert stays inactive there and the engine may skip those evaluations.
Anything else is "unknown": an `and` is not true where either side is not; an `or` only where both
are not; an unknown comparison proves nothing.
"""

from __future__ import annotations

import math
import operator

from losswatch.engine.functions import K, window_medians
from losswatch.engine.lang import Binary, Call, Name, Node, Num, Unary

Plan = tuple

UNKNOWN = "unknown"  # a value the guard cannot compute over a run of lines

_ARITH = {"+": operator.add, "-": operator.sub, "*": operator.mul}
_CMP = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq,
        "!=": operator.ne}


def plan(node: Node, consts: dict[str, float], stream_of) -> Plan | None:
    """The guard of a condition, or None. `stream_of(node)`: the stream index the compiler gave it."""
    if isinstance(node, Num):
        return ("num", float(node.value))
    if isinstance(node, Name):
        if node.name in consts:
            return ("num", float(consts[node.name]))
        return ("metric", node.name, stream_of(node))
    if isinstance(node, Unary):
        if node.op == "-":
            a = plan(node.arg, consts, stream_of)
            return None if a is None else ("neg", a)
        return None
    if isinstance(node, Binary):
        a = plan(node.left, consts, stream_of)
        b = plan(node.right, consts, stream_of)
        if node.op == "and":  # not true where either side is not: one side is enough
            return None if a is None and b is None else ("and", a, b)
        if node.op == "or":  # not true only where both sides are not: needs both
            return None if a is None or b is None else ("or", a, b)
        if a is None or b is None:
            return None
        if node.op in _ARITH:
            return ("arith", _ARITH[node.op], a, b)
        if node.op in _CMP:
            return ("cmp", _CMP[node.op], a, b)
        return None
    if isinstance(node, Call) and node.func == "zscore" and len(node.args) == 2 and isinstance(node.args[1], Num):
        src, log = node.args[0], False
        if isinstance(src, Call) and src.func in ("log", "ln") and len(src.args) == 1:
            src, log = src.args[0], True
        if isinstance(src, Name) and src.name not in consts:
            return ("zscore", src.name, int(node.args[1].value), log, stream_of(node))
        return None
    if isinstance(node, Call) and node.args and isinstance(node.args[0], Name) and node.args[0].name not in consts:
        m = node.args[0].name
        if node.func == "median" and len(node.args) == 2:
            n = node.args[1]
            if isinstance(n, Num):  # a window given by a var is not guarded
                return ("median", m, int(n.value), stream_of(node))
        if node.func == "nonfinite" and len(node.args) == 1:
            return ("nonfinite", m, stream_of(node.args[0]))
    return None


class Run:
    """A run of lines: `cols` the values of each metric logged on every line (numpy arrays, all finite),
    `streams` the run's streams as they are before the run, `reads` what expressions read in their
    place (engine.LazyRead for a lazy stream: reading it first catches the stream up)."""

    __slots__ = ("np", "cols", "streams", "reads", "need")

    def __init__(self, np, cols: dict, streams: list, reads: list | None = None) -> None:
        self.np = np
        self.cols = cols
        self.streams = streams
        self.reads = reads
        # the lines whose answer matters (None: all): the right side of an `and` only where the left
        # side is not already shown not true; costly values (z-scores) are computed only there
        self.need = None


def value(p: Plan, run: Run):
    """A float, None (missing at every line of the run), an array (one value per line), or UNKNOWN."""
    kind = p[0]
    if kind == "num":
        return p[1]
    if kind == "metric":
        col = run.cols.get(p[1])
        if col is not None:
            return col
        return run.streams[p[2]].get()  # a metric not on these lines keeps its latest value
    if kind == "neg":
        a = value(p[1], run)
        if a is None or a is UNKNOWN:
            return a
        return -a
    if kind == "arith":
        a = value(p[2], run)
        b = value(p[3], run)
        if a is UNKNOWN or b is UNKNOWN:
            return UNKNOWN
        if a is None or b is None:
            return None
        return p[1](a, b)
    if kind == "median":
        return _medians(p[1], p[2], p[3], run)
    if kind == "zscore":
        return _zscores(p[1], p[2], p[3], p[4], run)
    if kind == "nonfinite":
        if p[1] in run.cols:
            return 0.0  # the run's values are all finite
        v = run.streams[p[2]].get()
        return None if v is None else float(v - v != 0)
    return UNKNOWN


def _medians(metric: str, n: int, index: int, run: Run):
    """median(metric, n) at each line: the window holds the n latest finite points, the line's own
    included (what the Ordered stream answers after the line's push). Needs a full window before the run."""
    col = run.cols.get(metric)
    s = run.streams[index]
    if col is None or s.log_in is not None or getattr(s, "kind", None) != "median" or s.n != n:
        return UNKNOWN
    prior = _window_before(s, n)
    if prior is None:
        return UNKNOWN
    np = run.np
    a = np.concatenate((np.asarray(prior, dtype=float), col))
    if K is not None:  # the same values, a window kept sorted in C instead of each window sorted
        got = K.sliding_medians(a, n)
        if got is not NotImplemented:
            return np.frombuffer(got, dtype=np.float64)
    return window_medians(np, a, n, stable=False)


def _window_before(s, n: int) -> list[float] | None:
    """The n latest finite points an Ordered stream holds before the run (its window and its pending
    point), or None when it has fewer."""
    prior = list(s.win)
    if s.has_pending:
        p = s.pending
        if p - p == 0:
            prior.append(p)
    return prior[-n:] if len(prior) >= n else None


def _zscores(metric: str, n: int, log: bool, index: int, run: Run):
    """zscore(metric, n) or zscore(log(metric), n) at each line, as the Ordered stream computes it:
    the line's value against the n finite values before it, (x - median) / (1.4826 MAD) with the MAD
    floored. Every step is an exact IEEE operation or an order statistic (a sorted window), so the
    values are the stream's own; the logs are math.log's, as the stream's. Needs a full window."""
    col = run.cols.get(metric)
    s = run.streams[index]
    if col is None or getattr(s, "kind", None) != "zscore" or s.n != n:
        return UNKNOWN
    if s.log_in is not None:  # lazy (read only where the rule's first test holds): catch it up first
        if run.reads is None:
            return UNKNOWN
        run.reads[index].get()
    prior = _window_before(s, n)
    if prior is None:
        return UNKNOWN
    np = run.np
    if log:
        if not (col > 0).all():  # log of 0 or less is not finite: the stream skips it
            return UNKNOWN
        col = np.fromiter(map(math.log, col.tolist()), float, len(col))
    a = np.concatenate((np.asarray(prior, dtype=float), col))
    w = np.lib.stride_tricks.sliding_window_view(a[:-1], n)  # the window before each value
    sel = None
    if run.need is not None:  # only where the answer matters; NaN (never true) elsewhere
        sel = np.flatnonzero(run.need)
        w, col = w[sel], col[sel]
    w = np.sort(w, axis=1)
    h = n // 2
    med = w[:, h] if n % 2 else 0.5 * (w[:, h - 1] + w[:, h])
    dev = np.sort(np.abs(w - med[:, None]), axis=1)  # |a - med| is med - a or a - med, exactly
    mad = dev[:, h] if n % 2 else 0.5 * (dev[:, h - 1] + dev[:, h])
    floor = 1e-6 * np.abs(med) + 1e-12
    z = (col - med) / (1.4826 * np.where(mad > floor, mad, floor))
    if sel is None:
        return z
    out = np.full(len(a) - n, np.nan)
    out[sel] = z
    return out


def not_true(p: Plan | None, run: Run):
    """Where the condition is certainly not true (false or missing): a bool, or a bool array per line."""
    if p is None:
        return False
    kind = p[0]
    if kind == "and":
        a = not_true(p[1], run)
        if a is True:
            return True
        saved = run.need
        if a is not False:
            if a.all():
                return True
            if a.ndim:  # an array (a numpy bool scalar here is False: every line matters)
                run.need = ~a if saved is None else saved & ~a
        b = not_true(p[2], run)
        run.need = saved
        if b is True or a is False:
            return b
        if b is False:
            return a
        return a | b
    if kind == "or":
        a = not_true(p[1], run)
        if a is False:
            return False
        b = not_true(p[2], run)
        if b is False or a is True:
            return b
        if b is True:
            return a
        return a & b
    if kind == "cmp":
        x = value(p[2], run)
        if x is UNKNOWN:
            return False
        y = value(p[3], run)
        if y is UNKNOWN:
            return False
        if x is None or y is None:
            return True
        r = p[1](x, y)
        if isinstance(r, bool):
            return not r
        return ~r
    return False
