"""Read and validate rule files (YAML, DESIGN.md contract) into `RuleDef`s, with file:line:column errors.

Everything a user can get wrong is checked here, before anything starts: YAML syntax, unknown keys,
missing fields, bad durations, severities and actions, duplicate ids, and the expressions and
message templates themselves. A top-level `actions:` (receivers, stop escalation — the actions
layer's) and `formats:` section are accepted as they are.
"""

from __future__ import annotations

import math
import re
import string
from dataclasses import dataclass, field
from typing import Any

import yaml

from losswatch.engine.lang import ExprError, Node, parse
from losswatch.errors import UsageError
from losswatch.model import SEVERITIES

RULE_KEYS = {
    "id", "when", "value", "for", "keep_firing_for", "severity", "actions", "inhibited_by", "summary",
    "advice", "vars", "warmup", "fields", "description", "on", "thin",
}
TOP_KEYS = {"version", "rules", "vars", "defaults", "actions", "formats", "description"}
DEFAULT_KEYS = {"for", "keep_firing_for", "severity", "warmup", "actions", "inhibited_by"}
ACTION_RE = re.compile(r"^(?:notify|stop|(?:webhook|exec):[A-Za-z0-9_.\-]+)$")
ID_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]*$")
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DUR_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(steps?|evals?|evaluations?|points?)\s*$")
_TIME_RE = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m)?\s*(?:(\d+(?:\.\d+)?)s)?\s*$")
TEMPLATE_BUILTINS = {"value", "step", "line", "for", "keep_firing_for", "rule", "severity", "run"}


@dataclass(frozen=True)
class Duration:
    """How long: `amount` of `unit` ("steps", "evals" or "seconds"); amount 0 means at once."""

    amount: float
    unit: str
    text: str

    def __str__(self) -> str:
        return self.text


ZERO = Duration(0.0, "steps", "0 steps")


@dataclass
class Where:
    path: str
    line: int
    column: int
    # for a folded/literal block scalar: (line, column, length) of each content line, so that an
    # offset into the joined text maps back to where it was written
    segments: tuple[tuple[int, int, int], ...] = ()

    def error(self, message: str, extra_col: int = 0) -> UsageError:
        if self.segments:
            off = extra_col
            for line, col, length in self.segments:
                if off <= length:
                    return UsageError(message, self.path, line, col + off)
                off -= length + 1  # the joining space or newline
            line, col, length = self.segments[-1]
            return UsageError(message, self.path, line, col + length)
        return UsageError(message, self.path, self.line, self.column + extra_col)


@dataclass
class RuleDef:
    id: str
    when: Node
    when_text: str
    where: Where
    severity: str = "warning"
    for_: Duration = ZERO
    keep_firing_for: Duration = ZERO
    warmup: Duration = ZERO
    actions: list[str] = field(default_factory=list)
    inhibited_by: list[str] = field(default_factory=list)
    summary: str = ""
    advice: str = ""
    description: str = ""
    value: Node | None = None
    value_text: str = ""
    vars: dict[str, float] = field(default_factory=dict)
    on: list[str] = field(default_factory=list)  # evaluate only when these metrics change
    thin: bool = False  # evaluate every point for the first THIN_FULL, then every ceil(n / THIN_FULL)-th
    fields: dict[str, Node] = field(default_factory=dict)
    field_texts: dict[str, str] = field(default_factory=dict)
    wheres: dict[str, Where] = field(default_factory=dict)  # per key, for later errors
    source: str = ""


@dataclass
class RuleFile:
    path: str
    rules: list[RuleDef]
    actions: Any = None
    formats: Any = None


# --- YAML with positions ----------------------------------------------------------------------


class Marked(dict):
    """A mapping from YAML that remembers where it and each key's value were written."""

    def __init__(self, *args, **kw) -> None:
        super().__init__(*args, **kw)
        self.where = Where("", 1, 1)
        self.key_where: dict[str, Where] = {}
        self.value_where: dict[str, Where] = {}


class MarkedList(list):
    where: Where
    item_where: list[Where]


def _where(path: str, node: yaml.Node) -> Where:
    m = node.start_mark
    if isinstance(node, yaml.ScalarNode) and node.style in (">", "|") and m.buffer:
        return _block_where(path, node)
    quoted = isinstance(node, yaml.ScalarNode) and node.style in ("'", '"')
    return Where(path, m.line + 1, m.column + 1 + quoted)


def _block_where(path: str, node: yaml.ScalarNode) -> Where:
    """Positions of the content lines of a `>`/`|` block scalar (its text starts on the next line)."""
    start, end = node.start_mark, node.end_mark
    src = start.buffer.rstrip("\0")
    lines = src.split("\n")
    segs = []
    for ln in range(start.line + 1, min(end.line + 1, len(lines))):
        text = lines[ln]
        if not text.strip():
            continue
        indent = len(text) - len(text.lstrip())
        segs.append((ln + 1, indent + 1, len(text.strip())))
    if not segs:
        return Where(path, start.line + 1, start.column + 1)
    return Where(path, segs[0][0], segs[0][1], tuple(segs))


def _convert(loader: yaml.SafeLoader, node: yaml.Node, path: str) -> Any:
    if isinstance(node, yaml.MappingNode):
        out = Marked()
        out.where = _where(path, node)
        loader.flatten_mapping(node)
        for k, v in node.value:
            # keys are names as written: YAML 1.1 would read `on:` or `no:` as booleans
            key = k.value if isinstance(k, yaml.ScalarNode) else _convert(loader, k, path)
            if not isinstance(key, str):
                raise _where(path, k).error(f"keys must be names, got {key!r}")
            if key in out:
                raise _where(path, k).error(f"duplicate key `{key}`")
            out[key] = _convert(loader, v, path)
            out.key_where[key] = _where(path, k)
            out.value_where[key] = _where(path, v)
        return out
    if isinstance(node, yaml.SequenceNode):
        lst = MarkedList(_convert(loader, v, path) for v in node.value)
        lst.where = _where(path, node)
        lst.item_where = [_where(path, v) for v in node.value]
        return lst
    return loader.construct_object(node, deep=True)


def load_yaml(text: str, path: str) -> Any:
    """Parse YAML keeping positions; a syntax error becomes a UsageError at its line:column."""
    try:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            return _convert(loader, node, path)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else None
        col = mark.column + 1 if mark else None
        raise UsageError(f"YAML syntax: {e.problem or e}", path, line, col) from None
    except yaml.YAMLError as e:
        raise UsageError(f"YAML: {e}", path) from None


# --- fields -----------------------------------------------------------------------------------


def parse_duration(value: Any, where: Where, what: str, allow_time: bool = True) -> Duration:
    """'200 steps', '5 evals', '30s', '10m', '1h30m' or 0."""
    if value == 0 and not isinstance(value, bool):
        return ZERO
    if isinstance(value, str):
        m = _DUR_RE.match(value)
        if m:
            unit = m.group(2)
            unit = "steps" if unit.startswith("step") else "evals"
            return Duration(float(m.group(1)), unit, value.strip())
        m = _TIME_RE.match(value)
        if allow_time and m and any(m.groups()):
            h, mi, s = (float(g) if g else 0.0 for g in m.groups())
            return Duration(h * 3600 + mi * 60 + s, "seconds", value.strip())
    expected = "'N steps', 'N evals'" + (" or a time such as 30s, 10m, 1h" if allow_time else "")
    raise where.error(f"bad duration for `{what}`: {value!r}; expected {expected}")


def check_template(text: Any, where: Where, key: str, names: set[str]) -> str:
    """A summary/advice template: plain `{name}` or `{name:spec}` fields only (no attribute access)."""
    if not isinstance(text, str):
        raise where.error(f"`{key}` must be a string")
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError as e:
        raise where.error(f"bad template in `{key}`: {e} (write a literal brace as {{{{ or }}}})") from None
    for _, fname, spec, conv in parts:
        if fname is None:
            continue
        if not NAME_RE.match(fname):
            raise where.error(f"bad field {{{fname}}} in `{key}`: only plain names are allowed "
                              f"({', '.join(sorted(names))})")
        if fname not in names:
            raise where.error(f"unknown field {{{fname}}} in `{key}`; known: {', '.join(sorted(names))}")
        if conv:
            raise where.error(f"conversions like !{conv} are not allowed in `{key}`")
        if spec and ("{" in spec):
            raise where.error(f"nested fields are not allowed in `{key}`")
        try:
            format(1.5, spec or "")
        except ValueError:
            raise where.error(f"bad number format `:{spec}` for {{{fname}}} in `{key}`") from None
    return text


def _expr(text: Any, where: Where, key: str) -> Node:
    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        raise where.error(f"`{key}` must be an expression (a string)")
    try:
        return parse(str(text))
    except ExprError as e:
        raise where.error(f"in `{key}`: {e.message}", e.column - 1) from None


def _vars(obj: Any, where: Where, inherited: dict[str, float]) -> dict[str, float]:
    out = dict(inherited)
    if obj is None:
        return out
    if not isinstance(obj, dict):
        raise where.error("`vars` must be a mapping of name: number")
    for k, v in obj.items():
        w = obj.value_where[k] if isinstance(obj, Marked) else where
        if not NAME_RE.match(k):
            raise w.error(f"bad var name `{k}`")
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise w.error(f"var `{k}` must be a finite number, got {v!r}")
        out[k] = float(v)
    return out


def _strings(obj: Any, where: Where, key: str, pattern: re.Pattern | None, expected: str) -> list[str]:
    if obj is None:
        return []
    if isinstance(obj, str):
        obj = [obj]
    if not isinstance(obj, list):
        raise where.error(f"`{key}` must be a list of {expected}")
    for i, s in enumerate(obj):
        w = obj.item_where[i] if isinstance(obj, MarkedList) else where
        if not isinstance(s, str) or (pattern is not None and not pattern.match(s)):
            raise w.error(f"bad entry {s!r} in `{key}`; expected {expected}")
    return list(obj)


def parse_rule(obj: Any, where: Where, defaults: dict[str, Any], file_vars: dict[str, float], path: str) -> RuleDef:
    if not isinstance(obj, Marked):
        raise where.error("a rule must be a mapping with at least `id` and `when`")
    vw = obj.value_where
    for k in obj:
        if k not in RULE_KEYS:
            raise obj.key_where[k].error(f"unknown key `{k}` in a rule; expected one of {', '.join(sorted(RULE_KEYS))}")
    for k in ("id", "when"):
        if k not in obj:
            raise obj.where.error(f"rule without `{k}`")
    rid = obj["id"]
    if not isinstance(rid, str) or not ID_RE.match(rid):
        raise vw["id"].error(f"bad rule id {rid!r}: letters, digits, '_', '-', '.'; starting with a letter")
    merged = {**defaults, **obj}

    def w(key: str) -> Where:
        return vw.get(key) or (defaults.value_where.get(key) if isinstance(defaults, Marked) else None) or obj.where

    severity = merged.get("severity", "warning")
    if severity not in SEVERITIES:
        raise w("severity").error(f"bad severity {severity!r}; expected one of {', '.join(SEVERITIES)}")
    rule = RuleDef(id=rid, when=_expr(obj["when"], vw["when"], "when"), when_text=str(obj["when"]),
                   where=obj.where, severity=severity, source=path)
    rule.vars = _vars(obj.get("vars"), w("vars"), file_vars)
    for key, attr in (("for", "for_"), ("keep_firing_for", "keep_firing_for"), ("warmup", "warmup")):
        if key in merged:
            setattr(rule, attr, parse_duration(merged[key], w(key), key, allow_time=key != "warmup"))
    rule.actions = _strings(merged.get("actions"), w("actions"), "actions", ACTION_RE,
                            "notify, stop, webhook:NAME or exec:NAME")
    rule.inhibited_by = _strings(merged.get("inhibited_by"), w("inhibited_by"), "inhibited_by", ID_RE, "rule ids")
    rule.on = _strings(obj.get("on"), w("on"), "on", re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*$"),
                       "metric names")
    if "thin" in obj:
        if not isinstance(obj["thin"], bool):
            raise vw["thin"].error(f"`thin` must be true or false, got {obj['thin']!r}")
        rule.thin = obj["thin"]
    if "value" in obj:
        rule.value = _expr(obj["value"], vw["value"], "value")
        rule.value_text = str(obj["value"])
    fields = obj.get("fields")
    if fields is not None:
        if not isinstance(fields, Marked):
            raise w("fields").error("`fields` must be a mapping of name: expression")
        for k, v in fields.items():
            if not NAME_RE.match(k) or k in TEMPLATE_BUILTINS:
                raise fields.key_where[k].error(f"bad field name `{k}`")
            rule.fields[k] = _expr(v, fields.value_where[k], f"fields.{k}")
            rule.field_texts[k] = str(v)
    names = TEMPLATE_BUILTINS | set(rule.vars) | set(rule.fields)
    for key in ("summary", "advice", "description"):
        if key in obj:
            setattr(rule, key, check_template(obj[key], vw[key], key, names))
    rule.wheres = {k: vw[k] for k in obj}
    return rule


def parse_rule_text(text: str, path: str) -> RuleFile:
    doc = load_yaml(text, path)
    if doc is None:
        raise UsageError("empty rule file (expected `version: 1` and `rules:`)", path, 1, 1)
    if not isinstance(doc, Marked):
        raise UsageError("a rule file must be a mapping with `version: 1` and `rules:`", path, 1, 1)
    for k in doc:
        if k not in TOP_KEYS:
            raise doc.key_where[k].error(f"unknown top-level key `{k}`; expected one of {', '.join(sorted(TOP_KEYS))}")
    if "version" in doc and doc["version"] != 1:
        raise doc.value_where["version"].error(f"unsupported version {doc['version']!r}; expected 1")
    defaults = doc.get("defaults") or Marked()
    if not isinstance(defaults, dict):
        raise doc.value_where["defaults"].error("`defaults` must be a mapping")
    for k in defaults:
        if k not in DEFAULT_KEYS:
            where = defaults.key_where[k] if isinstance(defaults, Marked) else doc.where
            raise where.error(f"unknown key `{k}` in defaults; expected one of {', '.join(sorted(DEFAULT_KEYS))}")
    file_vars = _vars(doc.get("vars"), doc.value_where.get("vars", doc.where), {})
    rules_obj = doc.get("rules", [])
    if rules_obj is None:
        rules_obj = []
    if not isinstance(rules_obj, list):
        raise doc.value_where["rules"].error("`rules` must be a list of rules")
    rules: list[RuleDef] = []
    seen: dict[str, Where] = {}
    for i, obj in enumerate(rules_obj):
        where = rules_obj.item_where[i] if isinstance(rules_obj, MarkedList) else doc.where
        r = parse_rule(obj, where, defaults, file_vars, path)
        if r.id in seen:
            first = seen[r.id]
            raise r.wheres["id"].error(f"duplicate rule id `{r.id}` (first defined at line {first.line})")
        seen[r.id] = r.wheres["id"]
        rules.append(r)
    return RuleFile(path, rules, doc.get("actions"), doc.get("formats"))


def load_rule_file(path: str) -> RuleFile:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise UsageError("no such rule file", path) from None
    except IsADirectoryError:
        raise UsageError("is a directory, not a rule file", path) from None
    except UnicodeDecodeError as e:
        raise UsageError(f"not UTF-8 text ({e.reason} at byte {e.start})", path) from None
    except OSError as e:
        raise UsageError(e.strerror or str(e), path) from None
    return parse_rule_text(text, path)
