"""Evaluation: feed samples into per-run streams and evaluate rules once per log line.

Why per line: all samples of one line (loss, lr, grad norm of the same step) enter the streams first,
then every rule that reads one of the metrics that changed is evaluated, in an order where a rule's
inhibitors come before it. Batches are only a transport, so the alerts are the same whether a log is
read whole or a few bytes at a time. `tick` evaluates the rules that depend on wall time
(`since_last`, `for: 10m`) when time passes without data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from losswatch.engine import functions as F
from losswatch.engine import guard as G
from losswatch.engine.alerts import AlertState
from losswatch.engine.compile import Compiled, Compiler, Scalar, StreamSpec, needs
from losswatch.engine.lang import Binary, ExprError, Node
from losswatch.engine.rulefile import RuleDef
from losswatch.model import Alert
from losswatch.store import Store


@dataclass
class CompiledRule:
    index: int
    rule: RuleDef
    cond: Scalar
    value: Scalar
    fields: dict[str, Scalar]
    metrics: set[str]
    timed: bool
    needs: frozenset
    uses_now: bool
    first: set[int] = field(default_factory=set)  # streams the condition reads at every evaluation
    never: bool = False  # the condition is a constant false (e.g. a var switched it off)
    inhibitors: list[int] = field(default_factory=list)
    guard: tuple | None = None  # what numpy can prove about the condition over a run of lines (guard.py)


def _value_node(node: Node) -> Node:
    """The part of a condition whose value an alert reports: the left side of its first comparison."""
    while isinstance(node, Binary):
        if node.op in ("and", "or"):
            node = node.left
            continue
        if node.op in ("<", "<=", ">", ">=", "==", "!="):
            return node.left
        return node
    return node


def compile_rules(rules: list[RuleDef]) -> tuple[list[CompiledRule], list[StreamSpec]]:
    comp = Compiler()
    out: list[CompiledRule] = []
    for r in rules:
        def c(node: Node, key: str, r: RuleDef = r) -> Compiled:
            try:
                return comp.compile(node, r.vars)
            except ExprError as e:
                raise r.wheres.get(key.split(".")[0], r.where).error(f"in `{key}`: {e.message}", e.column - 1) from None
        cond = c(r.when, "when")
        val = c(r.value if r.value is not None else _value_node(r.when), "value" if r.value is not None else "when")
        fields = {k: c(n, f"fields.{k}") for k, n in r.fields.items()}
        triggers = set(r.on) if r.on else set(cond.metrics)
        for m in r.on:
            comp.base(m)
        timed = cond.uses_now or r.for_.unit == "seconds" or r.keep_firing_for.unit == "seconds"
        out.append(CompiledRule(len(out), r, comp.scalar(cond), comp.scalar(val),
                                {k: comp.scalar(f) for k, f in fields.items()}, triggers, timed,
                                needs(r.when, r.vars), cond.uses_now, set(cond.first),
                                cond.kind == "const" and not cond.const,
                                guard=G.plan(r.when, r.vars, lambda n, r=r: comp.compile(n, r.vars).stream)))
    ids = {cr.rule.id: cr.index for cr in out}
    for cr in out:
        cr.inhibitors = [ids[i] for i in cr.rule.inhibited_by if i in ids and ids[i] != cr.index]
    return _inhibitors_first(out), comp.specs


def _inhibitors_first(rules: list[CompiledRule]) -> list[CompiledRule]:
    """Order rules so that inhibitors are evaluated before the rules they silence (cycles keep file order)."""
    done: set[int] = set()
    order: list[CompiledRule] = []
    by_index = {r.index: r for r in rules}
    visiting: set[int] = set()

    def visit(r: CompiledRule) -> None:
        if r.index in done or r.index in visiting:
            return
        visiting.add(r.index)
        for i in r.inhibitors:
            visit(by_index[i])
        visiting.discard(r.index)
        done.add(r.index)
        order.append(r)

    for r in rules:
        visit(r)
    return order


# Thinned rules are evaluated at every point up to this many, then at every ceil(n / THIN_FULL)-th:
# the delay is at most 1/THIN_FULL of the run so far, and the cost per line falls as runs get long.
THIN_FULL = 1000


def next_eval(n: int) -> int:
    """The first evaluation opportunity after the n-th that a thinned rule is evaluated at: every
    one up to THIN_FULL, then those m with m % ceil(m / THIN_FULL) == 0."""
    m = n + 1
    if m <= THIN_FULL:
        return m
    while True:
        c = -(-m // THIN_FULL)
        k = -(-m // c) * c  # the first multiple of c from m on
        if -(-k // THIN_FULL) == c:
            return k
        m = c * THIN_FULL + 1


class _Fmt(dict):
    def __missing__(self, key: str) -> float:  # validated at load time; defensive only
        return math.nan


def _fmt_value(v) -> float:
    if v is None:
        return math.nan
    if isinstance(v, bool):
        return float(v)
    return v


def render(template: str, values: dict) -> str:
    try:
        return template.format_map(_Fmt(values))
    except (ValueError, TypeError):
        return template


def _closure(specs: list[StreamSpec], streams: set[int]) -> set[int]:
    """These streams and every stream they are computed from (sources, and the windows views read)."""
    out: set[int] = set()
    todo = list(streams)
    while todo:
        i = todo.pop()
        if i in out:
            continue
        out.add(i)
        spec = specs[i]
        todo.extend(j for j in (spec.source, spec.view_of) if j is not None)
    return out


# A batch of at least FAST_BATCH samples looks for runs of at least FAST_MIN lines to take in one go.
FAST_BATCH = 2048
FAST_MIN = 16
FAST_GIVE_UP = 4
WAIT = -1  # _skip: an alert is pending or firing at the first line; try again a few lines later


# A lazy stream's source log is handed over and emptied at the end of a batch once it holds this many points.
LOG_CAP = 4096


# A lazy stream read at one line in EAGER_EVERY or more often (over READS_WINDOW reads) is fed eagerly
# from then on: catching up one point at a time costs more than a push. Not in the first EAGER_AFTER
# lines, while thinned rules are still evaluated often (every line up to THIN_FULL, then every 2nd...).
READS_WINDOW = 256
EAGER_EVERY = 4
EAGER_AFTER = 8 * THIN_FULL


class LazyRead:
    """What an expression reads in place of a lazy stream: `get` first lets it (and the lazy streams
    it is computed from, sources first) catch up, so the answer is the eager one. Once per line
    (`clock`: the run's evaluated lines) is enough: no point arrives while a line is evaluated."""

    __slots__ = ("rs", "index", "stream", "chain", "stamp", "reads", "since")

    def __init__(self, rs: RunState, index: int, chain: list[F.Stream]) -> None:
        self.rs = rs
        self.index = index
        self.stream = rs.streams[index]
        self.chain = chain
        self.stamp = -1
        self.reads = 0
        self.since = 0

    def get(self) -> float | None:
        now = self.rs.clock
        if self.stamp != now:
            self.stamp = now
            for s in self.chain:
                s.sync()
            self.reads += 1
            if self.reads >= READS_WINDOW:
                if now - self.since <= EAGER_EVERY * READS_WINDOW and now > EAGER_AFTER:
                    self.rs.make_eager(self.index)
                self.reads, self.since = 0, now
        return self.stream.get()


class RunState:
    """The streams and alert states of one run.

    `lazy`: stream indices fed lazily (see functions.Stream); expressions read `reads`, where a lazy
    stream is behind a LazyRead.
    """

    def __init__(self, specs: list[StreamSpec], nrules: int, lazy: set[int] | None = None) -> None:
        lazy = lazy or set()
        self.streams: list[F.Stream] = []
        self.bases: dict[str, F.Base] = {}
        logs: dict[int, F.Log] = {}
        for k, spec in enumerate(specs):
            if spec.factory is None:
                s: F.Stream = F.Base(spec.rising)
                self.bases[spec.metric] = s  # type: ignore[assignment]
            else:
                s = spec.factory(spec.rising)
                src = spec.source
                assert src is not None
                if k in lazy:
                    log = logs.get(src)
                    if log is None:
                        log = logs[src] = F.Log()
                        self.streams[src].children.append(log)
                    log.kids.append(s)
                    s.log_in = log
                else:
                    assert src not in lazy, "an eager stream cannot read a lazy one"
                    self.streams[src].children.append(s)
                if spec.view_of is not None:
                    s.source = self.streams[spec.view_of]  # type: ignore[attr-defined]
            self.streams.append(s)
        self.logs = [logs[k] for k in sorted(logs)]
        self.fan: dict[str, tuple[F.Base, tuple, F.Log | None]] = {}
        self.kids: dict[str, tuple[tuple, F.Log | None]] = {}  # the same as streams, for a run of lines at once
        for m in self.bases:
            self._fan(m)
        self.specs = specs
        self.clock = 0  # lines evaluated
        self.reads: list = [LazyRead(self, i, [self.streams[j] for j in sorted(_closure(specs, {i}) & lazy)])
                            if i in lazy else s for i, s in enumerate(self.streams)]
        self.alerts = [AlertState() for _ in range(nrules)]
        self.firing = [False] * nrules
        self.first_step = [math.nan] * nrules
        self.evals = [0] * nrules
        self.present: set[str] = set()  # metrics that have at least one sample
        self.version = 0  # bumped when a metric appears
        self.active = [False] * nrules
        self.seen = [0] * nrules  # evaluation opportunities, for thinning
        self.next_eval = [1] * nrules  # the opportunity a thinned rule is evaluated at next
        self.wake = 0  # lines that may pass with the thinned rules skipped as a whole (plus one)
        self.wake_version = -1
        self.pend: dict[tuple[str, ...], int] = {}  # such lines per metric set, not yet counted
        self.checked = [-1] * nrules

    def _fan(self, metric: str) -> None:
        """Per metric: its Base, the pushes of the streams fed eagerly from it, its log."""
        b = self.bases[metric]
        self.fan[metric] = (b, tuple(c.push for c in b.children if type(c) is not F.Log),
                            next((c for c in b.children if type(c) is F.Log), None))
        self.kids[metric] = (tuple(c for c in b.children if type(c) is not F.Log),
                             next((c for c in b.children if type(c) is F.Log), None))

    def make_eager(self, index: int) -> None:
        """Feed this lazy stream, and the lazy streams it is computed from, eagerly from now on."""
        chain = self.reads[index].chain
        for s in chain:  # sources first
            s.sync()
            log = s.log_in
            log.kids.remove(s)
            s.log_in = None
            i = self.streams.index(s)
            src = self.streams[self.specs[i].source]
            src.children.append(s)
            if not log.kids:
                src.children.remove(log)
                self.logs.remove(log)
            if isinstance(src, F.Base):
                self._fan(self.specs[i].metric)
            self.reads[i] = s
        for r in self.reads:
            if isinstance(r, LazyRead):
                r.chain = [s for s in r.chain if s.log_in is not None]


class Engine:
    """The rule engine for a set of rules (the `RuleEngine` of losswatch.monitor)."""

    SKIP_THINNED = True  # skip the thinned rules as a whole between their evaluation points (tests: off)
    FAST = True  # take runs of lines where no rule can change state in one go (_skip; tests: off)

    def __init__(self, rules: list[RuleDef]) -> None:
        self.rules_def = rules
        self.rules, self.specs = compile_rules(rules)
        self.runs: dict[str, RunState] = {}
        self._by_metric: dict[str, list[CompiledRule]] = {}
        for r in self.rules:
            for m in r.metrics:
                self._by_metric.setdefault(m, []).append(r)
        self._cache: dict[frozenset, list[tuple[CompiledRule, int, bool, tuple[str, ...]]]] = {}
        self._timed = [r for r in self.rules if r.timed and not r.never]
        # rules that read the clock (since_last) only change when time passes: evaluated by tick()
        self._clock = {r.index for r in self.rules if r.uses_now}
        self._lazy = self._plan_lazy()
        self._thinned = [r for r in self.rules if r.rule.thin and not r.never and r.index not in self._clock]

    def _plan_lazy(self) -> set[int]:
        """Which streams to feed lazily: all but those read at every line of their metric.

        A thinned rule is evaluated at every ~n/1000-th line, a rule `on: [val_loss]` only at
        validation lines, the right side of `loss > 1.5 * median(loss, 50) and zscore(...) > 6`
        only when the left holds: the windows only they read catch up in one go when read.
        Which streams are lazy only changes the cost, never a value."""
        specs = self.specs
        hot: set[int] = set()
        for r in self.rules:
            if r.never or r.rule.thin or r.index in self._clock:
                continue  # evaluated rarely: by thinning, or as time passes
            hot |= _closure(specs, {i for i in r.first if specs[i].metric in r.metrics})
        return {i for i, sp in enumerate(specs) if sp.factory is not None} - hot

    # -- RuleEngine --------------------------------------------------------------------------------

    def process(self, run: str, store: Store, batch) -> list[Alert]:
        rs = self.runs.get(run)
        if rs is None:
            rs = self.runs[run] = RunState(self.specs, len(self.rules), self._lazy)
        out: list[Alert] = []
        start = 0
        if self.FAST and len(batch.metrics) >= FAST_BATCH:
            start = self._process_runs(run, rs, batch, out)
        n = len(batch.metrics)
        if start < n:
            self._lines(run, rs, batch, start, n + 1, out)  # more lines than there are: to the end
        for log in rs.logs:
            if len(log.xs) > LOG_CAP:
                log.trim()
        return out

    def _process_runs(self, run: str, rs: RunState, batch, out: list[Alert]) -> int:
        """process() for a long batch: runs of lines where no rule can change state go through
        `_skip` (the streams take the run in one go), the other lines one by one (`_lines`).
        Where runs cannot be had (FAST_GIVE_UP tries in a row fail for want of a guard, as on a
        Keras log whose every line brings val_loss), returns the sample to go on from line by line
        (the batch's length when it is done). A try that fails because an alert is pending or
        firing is tried again a few lines later (more lines each time), not given up on."""
        import numpy as np  # a long batch only: `check` of a small log starts without numpy

        n = len(batch.metrics)
        arrays = (np.fromiter(batch.lines, np.int64, n), np.fromiter(batch.values, np.float64, n))
        i = 0
        size = 256  # lines tried at once: grows while runs succeed, shrinks when they fail early
        backoff = 1  # lines taken one by one after a failed try
        failed = 0  # tries in a row that failed for want of a guard
        while i < n:
            used, slow = self._skip(rs, batch, i, arrays, size, np)
            if used:
                i += used
                size = min(size * 2, 1 << 15)
                backoff = 1
                failed = 0
                if i >= n:
                    break
                i = self._lines(run, rs, batch, i, 1, out)
            elif slow > 0:  # a short run: take it, and the line that ends it, one by one
                i = self._lines(run, rs, batch, i, slow, out)
                backoff = 1
                failed = 0  # the guards held: a line that needs evaluating (an eval line) is no reason to give up
            elif slow == WAIT:  # an active alert is evaluated line by line until it resolves: retry later
                i = self._lines(run, rs, batch, i, backoff, out)
                backoff = min(backoff * 2, 256)
            else:
                failed += 1
                if failed >= FAST_GIVE_UP:
                    return i
                size = max(64, size // 2)
                i = self._lines(run, rs, batch, i, backoff, out)
                backoff = min(backoff * 2, 256)
        return n

    def _lines(self, run: str, rs: RunState, batch, i: int, count: int, out: list[Alert]) -> int:
        """Samples from i on, line by line, for `count` lines (or to the end of the batch); returns
        where the next line starts. The per-sample part of Base.push is inlined: this is the hot loop."""
        metrics, steps, values, lines = batch.metrics, batch.steps, batch.values, batch.lines
        n = len(metrics)
        fan = rs.fan
        t = batch.wall_time
        touched: list[str] = []
        cur = lines[i]
        evaluate = self._evaluate
        while i < n:
            line = lines[i]
            if line != cur:
                if touched:
                    evaluate(run, rs, tuple(touched), cur, t, out)
                    touched = []
                count -= 1
                if not count:
                    return i
                cur = line
            metric = metrics[i]
            f = fan.get(metric)
            if f is None:
                i += 1
                continue
            step = steps[i]
            value = values[i]
            b, pushes, log = f
            if not b.n:
                rs.present.add(metric)
                rs.version += 1
            b.line = line
            b.value = value
            b.step = step
            b.wall_time = t
            b.n += 1
            if log is not None:
                log.steps.append(step)
                log.xs.append(value)
                log.ts.append(t)
            for push in pushes:
                push(step, value, t)
            touched.append(metric)
            i += 1
        if touched:
            evaluate(run, rs, tuple(touched), cur, t, out)
        return n

    def _skip(self, rs: RunState, batch, i: int, arrays: tuple, size: int, np) -> tuple[int, int]:
        """Take in a run of up to `size` lines from sample i on, at which no rule can change state, in
        one go; returns the samples taken (0: none) and, when none, how many lines
        to take one by one before trying again where that is known (0: not known; WAIT: a rule
        evaluated there has a pending or firing alert, so those lines go one by one for a while). Such a run: every line logs the same metrics in
        the same order, all finite and none new to the run; the thinned rules are skipped as a whole
        there (`rs.wake`); each rule evaluated at every line has an inactive alert, no warm-up, and a
        guard showing its condition is not true at any of these lines. The streams then take the
        run's points at once (`push_many`: the same state as point by point), and the counts the
        per-line path keeps (clock, wake, pending thinned opportunities) advance by the run's length."""
        if not (rs.wake_version == rs.version and self.SKIP_THINNED):
            return 0, 0
        if rs.wake <= FAST_MIN:
            return 0, max(rs.wake, 1)
        metrics, lines = batch.metrics, batch.lines
        n = len(metrics)
        first = lines[i]
        k = 1
        while i + k < n and lines[i + k] == first:
            k += 1
        pattern = metrics[i:i + k]
        fan = rs.fan
        touched = tuple(m for m in pattern if m in fan)
        if not touched or len(set(touched)) != len(touched):
            return 0, 0
        for m in touched:
            if not fan[m][0].n:
                return 0, 0
        entry = self._cache.get(touched)
        if entry is None:
            entry = self._rules_for(touched)
        active, checked, version, alerts = rs.active, rs.checked, rs.version, rs.alerts
        guards = []
        wait = False
        for r, j, _thin, _changed, warm, _cond in entry[1]:
            if not active[j] and (checked[j] == version or not self._activate(rs, r)):
                continue
            if warm or r.guard is None:
                return 0, 0  # lines of this kind are evaluated one by one, whatever the alerts
            if alerts[j].state != "inactive":
                wait = True
            guards.append(r.guard)
        if wait:
            return 0, WAIT
        g = min(size, rs.wake - 1, (n - i) // k)
        if g < FAST_MIN:
            return 0, g + 1
        # the same metrics on every line, each line its own
        end = i + g * k
        for p in range(k):
            sl = metrics[i + p:end:k]
            if sl.count(pattern[p]) != g:
                g = next(j for j, m in enumerate(sl) if m != pattern[p])
                end = i + g * k
        if g < FAST_MIN:
            return 0, g + 1
        lines_np, values_np = arrays  # the batch's line numbers and values as numpy arrays
        grid = lines_np[i:end].reshape(g, k)
        ok = (grid == grid[:, :1]).all(axis=1)
        ok[1:] &= grid[1:, 0] != grid[:-1, 0]
        if not ok.all():
            g = int(np.argmin(ok))
        if i + g * k < n and g and lines[i + g * k] == lines[i + g * k - 1]:
            g -= 1  # the line goes on after the run
        if g < FAST_MIN:
            return 0, g + 1
        end = i + g * k
        values = batch.values
        cols = {}
        for p, m in enumerate(pattern):
            if m in fan:
                col = values_np[i + p:end:k]
                fin = np.isfinite(col)
                if not fin.all():
                    g = int(np.argmin(fin))
                    if g < FAST_MIN:
                        return 0, g + 1
                    end = i + g * k
                    cols = {mm: c[:g] for mm, c in cols.items()}
                    col = col[:g]
                cols[m] = col
        span = G.Run(np, cols, rs.streams, rs.reads)
        with np.errstate(all="ignore"):
            for guard in guards:
                nt = G.not_true(guard, span)
                if nt is True:
                    continue
                if nt is False or isinstance(nt, np.bool_):
                    if not nt:
                        return 0, 0
                    continue
                if not nt.all():
                    g = int(np.argmin(nt))
                    if g < FAST_MIN:
                        return 0, g + 1
                    span.cols = cols = {m: c[:g] for m, c in cols.items()}
        end = i + g * k
        # take the run in: bases, logs of lazy streams, eager streams
        t = batch.wall_time
        steps = batch.steps
        kids = rs.kids
        for p, m in enumerate(pattern):
            if m not in fan:
                continue
            b = fan[m][0]
            ss = steps[i + p:end:k]
            vs = values[i + p:end:k]
            b.line = lines[end - k + p]
            b.value = vs[-1]
            b.step = ss[-1]
            b.wall_time = t
            b.n += g
            eager, log = kids[m]
            ts = [t] * g
            if log is not None:
                log.steps += ss
                log.xs += vs
                log.ts += ts
            if eager:
                run_points = F.Points(ss, vs, ts)
                for c in eager:
                    c.catch_up(run_points, 0)
        rs.clock += g
        rs.wake -= g
        if entry[2]:
            pend = rs.pend
            pend[touched] = pend.get(touched, 0) + g
        return end - i, 0

    def tick(self, run: str, store: Store, now: float) -> list[Alert]:
        rs = self.runs.get(run)
        if rs is None or not self._timed:
            return []
        out: list[Alert] = []
        for r in self._timed:
            if not rs.active[r.index] and not self._activate(rs, r):
                continue
            step, line = self._where(rs, r.metrics)
            if step is None:
                continue
            self._eval_rule(run, rs, r, step, line, now, out)
        return out

    # -- evaluation --------------------------------------------------------------------------------

    def _rules_for(self, touched: tuple[str, ...]) -> tuple[list, list, list[int]]:
        """The rules to evaluate when these metrics changed (in the order they were logged on the line):
        all of them in order, each with its changed metrics, whether it has a warm-up, and its
        condition; the same without the thinned rules; the thinned rules' indices."""
        entry = self._cache.get(touched)
        if entry is None:
            key = set(touched)
            idx = {r.index for m in key for r in self._by_metric.get(m, ())}
            rules = [(r, r.index, r.rule.thin, tuple(sorted(r.metrics & key)), bool(r.rule.warmup.amount), r.cond)
                     for r in self.rules if r.index in idx and not r.never and r.index not in self._clock]
            entry = self._cache[touched] = (rules, [e for e in rules if not e[2]], [e[1] for e in rules if e[2]])
        return entry

    @staticmethod
    def _where(rs: RunState, metrics: set[str]) -> tuple[float | None, int]:
        step, line = None, 0
        for m in metrics:
            b = rs.bases.get(m)
            if b is not None and b.n and b.line >= line:
                step, line = b.step, b.line
        return step, line

    def _evaluate(self, run: str, rs: RunState, touched: tuple[str, ...], line: int, t: float,
                  out: list[Alert]) -> None:
        """_eval_rule for each rule these metrics trigger, inlined: this runs once per log line.

        Thinned rules are skipped as a whole while `rs.wake` > 1: no thinned rule can reach its next
        evaluation point before that many lines have passed (each line brings a rule's count at
        most one closer). Their counts are brought up to date (`_settle`) before they are looked at."""
        rs.clock += 1
        entry = self._cache.get(touched)
        if entry is None:
            entry = self._rules_for(touched)
        if rs.wake > 1 and rs.wake_version == rs.version and self.SKIP_THINNED:
            rs.wake -= 1
            rules = entry[1]
            if entry[2]:
                pend = rs.pend
                pend[touched] = pend.get(touched, 0) + 1
        else:
            self._settle(rs)
            rules = entry[0]
        bases = rs.bases
        active = rs.active
        seen, nxt = rs.seen, rs.next_eval
        checked, version = rs.checked, rs.version
        streams, alerts = rs.reads, rs.alerts
        for r, i, thin, changed, warm, cond in rules:
            if not active[i] and (checked[i] == version or not self._activate(rs, r)):
                continue
            if thin:
                n = seen[i] = seen[i] + 1
                if n < nxt[i]:
                    continue
                nxt[i] = next_eval(n)
            if len(changed) == 1:
                step = bases[changed[0]].step
            else:
                step = max(bases[m].step for m in changed)
            if warm and self._warming(rs, i, r.rule, step):
                continue
            v = cond(streams, t)
            if v is None or (not v and alerts[i].state == "inactive"):
                continue  # missing data changes nothing; a false condition leaves an inactive alert as it is
            self._decide(run, rs, r, bool(v), step, line, t, out)
        if rules is entry[0]:
            self._wake(rs)

    def _settle(self, rs: RunState) -> None:
        """Count the evaluation opportunities of the lines whose thinned rules were skipped as a whole."""
        if rs.pend:
            seen, active = rs.seen, rs.active
            for key, c in rs.pend.items():
                for i in self._cache[key][2]:
                    if active[i]:
                        seen[i] += c
            rs.pend.clear()

    def _wake(self, rs: RunState) -> None:
        """How many lines may pass before a thinned rule needs its own count again."""
        if rs.wake_version != rs.version:
            for r in self._thinned:  # a rule that cannot be activated stays so until a metric appears
                if not rs.active[r.index]:
                    self._activate(rs, r)
            rs.wake_version = rs.version
        seen, nxt = rs.seen, rs.next_eval
        rs.wake = min((nxt[r.index] - seen[r.index] for r in self._thinned if rs.active[r.index]), default=1 << 60)

    @staticmethod
    def _activate(rs: RunState, r: CompiledRule) -> bool:
        """A rule starts being evaluated once the run has the metrics it needs (checked when one appears)."""
        i = r.index
        if rs.checked[i] == rs.version:
            return False
        rs.checked[i] = rs.version
        if any(c <= rs.present for c in r.needs):
            rs.active[i] = True
        return rs.active[i]

    def _eval_rule(self, run: str, rs: RunState, r: CompiledRule, step: float, line: int, t: float,
                   out: list[Alert]) -> None:
        i = r.index
        rule = r.rule
        if rule.warmup.amount and self._warming(rs, i, rule, step):
            return
        v = r.cond(rs.reads, t)
        if v is None:
            return  # missing data changes nothing
        self._decide(run, rs, r, bool(v), step, line, t, out)

    def _decide(self, run: str, rs: RunState, r: CompiledRule, cond: bool, step: float, line: int, t: float,
                out: list[Alert]) -> None:
        """Apply one evaluation's outcome to the rule's alert state; append the alert when it changes."""
        i = r.index
        rule = r.rule
        a = rs.alerts[i]
        if cond and a.state != "firing" and r.inhibitors and any(rs.firing[j] for j in r.inhibitors):
            cond = False
        change = a.update(cond, step, t, rule.for_, rule.keep_firing_for)
        if change is None:
            return
        rs.firing[i] = change == "firing"
        if change == "resolved" and a.fired_message:
            rule_ = r.rule
            out.append(Alert(rule=rule_.id, severity=rule_.severity, run=run, state="resolved", step=step,
                             line=line, value=a.fired_value, message=a.fired_message, advice=a.fired_advice,
                             actions=list(rule_.actions), wall_time=t, resolved_step=step))
            return
        alert = self._alert(run, rs, r, change, step, line, t)
        if change == "firing":
            a.fired_step, a.fired_line = step, line
            a.fired_message, a.fired_advice, a.fired_value = alert.message, alert.advice, alert.value
        out.append(alert)

    @staticmethod
    def _warming(rs: RunState, i: int, rule: RuleDef, step: float) -> bool:
        first = rs.first_step[i]
        if first != first:
            rs.first_step[i] = first = step
        rs.evals[i] += 1
        if rule.warmup.unit == "steps":
            return step - first < rule.warmup.amount
        return rs.evals[i] <= rule.warmup.amount

    def _alert(self, run: str, rs: RunState, r: CompiledRule, state: str, step: float, line: int,
               t: float) -> Alert:
        st = rs.reads
        rule = r.rule
        value = _fmt_value(r.value(st, t))
        shown_step = int(step) if step == step and step == int(step) else step
        values = {"value": value, "step": shown_step, "line": line, "for": str(rule.for_),
                  "keep_firing_for": str(rule.keep_firing_for), "rule": rule.id, "severity": rule.severity,
                  "run": run}
        values.update(rule.vars)
        for k, f in r.fields.items():
            values[k] = _fmt_value(f(st, t))
        if isinstance(value, float) and not math.isfinite(value):
            values["value"] = value
        return Alert(
            rule=rule.id, severity=rule.severity, run=run, state=state, step=step, line=line,
            value=float(value), message=render(rule.summary or rule.id, values),
            advice=render(rule.advice, values), actions=list(rule.actions), wall_time=t,
            resolved_step=step if state == "resolved" else None,
        )
