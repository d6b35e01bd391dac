"""User log formats from a YAML file: named regexes with named groups, no Python to write.

```yaml
formats:
  mytrainer:                       # the name used with --format
    description: my trainer's stdout
    detect: '^\\[mytrainer\\]'       # optional: a line matching it means "this format"
    regex: 'step (?P<step>\\d+) .*loss=(?P<loss>\\S+)'   # or `regexes:` with a list
    metrics: {acc1: val_acc}       # optional: group name → metric name
```

Group `step` (or a group that `metrics:` maps to `step`) is the step (a line without one takes the
last step seen, else a per-metric counter); every other named group is a metric under its
canonical name, or the name `metrics:` gives it. Every mistake (bad YAML, bad regex, missing or unknown keys) is a `UsageError` naming
the file and line, so `--format-file` fails before anything starts.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, ClassVar

from losswatch.errors import UsageError
from losswatch.ingest.formats.base import FormatParser, StepCounter
from losswatch.model import SampleBatch, canonical_name, parse_number

if TYPE_CHECKING:  # imported where a format file is read: the registry imports this module on every start
    import yaml

NAME_RE = re.compile(r"^[A-Za-z][\w.-]*$")
FORMAT_KEYS = {"description", "detect", "regex", "regexes", "metrics", "priority"}


class CustomFormat(FormatParser):
    """A format defined by regexes; subclasses made by `load_format_file` fill the class fields."""

    priority = 50  # a user's own format beats a built-in one that scores the same
    detect_re: ClassVar[re.Pattern | None] = None
    regexes: ClassVar[tuple[re.Pattern, ...]] = ()
    metrics: ClassVar[dict[str, str]] = {}
    step_group: ClassVar[str] = "step"

    def __init__(self) -> None:
        self.step: float | None = None
        self.counter = StepCounter()

    @classmethod
    def detect(cls, lines: list[str]) -> float:
        rxs = (cls.detect_re,) if cls.detect_re is not None else cls.regexes
        for ln in lines:
            for rx in rxs:
                if rx.search(ln):
                    return 0.95
        return 0.0

    def parse(self, block: str, first_line: int, out: SampleBatch) -> None:
        for i, line in enumerate(block.split("\n")):
            for rx in self.regexes:
                m = rx.search(line)
                if m is None:
                    continue
                groups = m.groupdict()
                raw_step = groups.pop(self.step_group, None)
                if raw_step is not None:
                    s = parse_number(raw_step)
                    if s is not None:
                        self.step = s
                for group, text in groups.items():
                    if text is None:
                        continue
                    v = parse_number(text)
                    if v is None:
                        continue
                    metric = self.metrics.get(group) or canonical_name(group)
                    out.name(metric, group)
                    step = self.step if self.step is not None else float(self.counter(metric))
                    out.add(metric, step, v, first_line + i)


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _scalar(node: yaml.Node, path: str, what: str) -> str:
    import yaml

    if not isinstance(node, yaml.ScalarNode) or node.value == "" and node.tag.endswith(":null"):
        raise UsageError(f"{what} must be a string", path, _line(node))
    return node.value


def _compile(node: yaml.Node, path: str, what: str) -> re.Pattern:
    text = _scalar(node, path, what)
    try:
        return re.compile(text)
    except re.error as e:
        raise UsageError(f"{what}: bad regex {text!r}: {e.msg} at position {e.pos}", path, _line(node)) from None


def _format_class(name: str, node: yaml.Node, path: str) -> type[FormatParser]:
    import yaml

    if not isinstance(node, yaml.MappingNode):
        raise UsageError(f"format {name!r} must be a mapping with `regex:` or `regexes:`", path, _line(node))
    fields: dict[str, yaml.Node] = {}
    for k, v in node.value:
        key = _scalar(k, path, "a key")
        if key not in FORMAT_KEYS:
            raise UsageError(f"format {name!r}: unknown key {key!r} (known: {', '.join(sorted(FORMAT_KEYS))})",
                             path, _line(k))
        fields[key] = v
    step_map = None
    if isinstance(fields.get("metrics"), yaml.MappingNode):
        step_map = next((k.value for k, v in fields["metrics"].value if getattr(v, "value", None) == "step"), None)
    regexes: list[re.Pattern] = []
    if "regex" in fields:
        regexes.append(_compile(fields["regex"], path, f"format {name!r} regex"))
    if "regexes" in fields:
        seq = fields["regexes"]
        if not isinstance(seq, yaml.SequenceNode) or not seq.value:
            raise UsageError(f"format {name!r}: `regexes:` must be a non-empty list", path, _line(seq))
        regexes.extend(_compile(item, path, f"format {name!r} regex") for item in seq.value)
    if not regexes:
        raise UsageError(f"format {name!r} needs `regex:` or `regexes:`", path, _line(node))
    for rx, rnode in zip(regexes, [fields.get("regex")] + list(getattr(fields.get("regexes"), "value", [])),
                         strict=False):
        if not [g for g in rx.groupindex if g != "step" and (step_map is None or g != step_map)]:
            where = _line(rnode) if rnode is not None else _line(node)
            raise UsageError(f"format {name!r}: regex {rx.pattern!r} has no named group for a metric "
                             "(write e.g. (?P<loss>\\S+))", path, where)
    metrics: dict[str, str] = {}
    if "metrics" in fields:
        mnode = fields["metrics"]
        if not isinstance(mnode, yaml.MappingNode):
            raise UsageError(f"format {name!r}: `metrics:` must map group names to metric names", path, _line(mnode))
        groups = {g for rx in regexes for g in rx.groupindex}
        for k, v in mnode.value:
            group = _scalar(k, path, "a group name")
            if group not in groups:
                raise UsageError(f"format {name!r}: `metrics:` names group {group!r}, which no regex has",
                                 path, _line(k))
            metrics[group] = canonical_name(_scalar(v, path, f"metric name for {group!r}"))
    detect_re = _compile(fields["detect"], path, f"format {name!r} detect") if "detect" in fields else None
    description = _scalar(fields["description"], path, "description") if "description" in fields else ""
    attrs = {
        "name": name,
        "description": description or f"user format from {path}",
        "detect_re": detect_re,
        "regexes": tuple(regexes),
        "metrics": {g: m for g, m in metrics.items() if m != "step"},
        "step_group": step_map or "step",
        "__module__": __name__,
    }
    if "priority" in fields:
        try:
            attrs["priority"] = int(_scalar(fields["priority"], path, "priority"))
        except ValueError:
            raise UsageError("priority must be an integer", path, _line(fields["priority"])) from None
    return type(f"Custom_{name}", (CustomFormat,), attrs)


def load_format_file(path: str) -> list[type[FormatParser]]:
    """The formats a YAML file defines, each a `FormatParser` subclass ready to register."""
    import yaml

    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise UsageError(e.strerror or str(e), path) from None
    except UnicodeDecodeError:
        raise UsageError("not a UTF-8 text file", path) from None
    try:
        root = yaml.compose(text)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark is not None else None
        raise UsageError(f"bad YAML: {e.problem or e.context}", path, line) from None
    except yaml.YAMLError as e:
        raise UsageError(f"bad YAML: {e}", path) from None
    if not isinstance(root, yaml.MappingNode):
        raise UsageError("a format file is a mapping with a `formats:` section", path, _line(root) if root else 1)
    section = None
    for k, v in root.value:
        key = _scalar(k, path, "a key")
        if key == "formats":
            section = v
        elif key != "version":
            raise UsageError(f"unknown top-level key {key!r} (expected `formats:`)", path, _line(k))
    if section is None:
        raise UsageError("no `formats:` section", path, 1)
    items: list[tuple[str, yaml.Node, yaml.Node]] = []
    if isinstance(section, yaml.MappingNode):
        items = [(_scalar(k, path, "a format name"), k, v) for k, v in section.value]
    elif isinstance(section, yaml.SequenceNode):
        for item in section.value:
            if not isinstance(item, yaml.MappingNode):
                raise UsageError("each entry of `formats:` must be a mapping", path, _line(item))
            name_node = next((v for k, v in item.value if k.value == "name"), None)
            if name_node is None:
                raise UsageError("format entry without `name:`", path, _line(item))
            rest = yaml.MappingNode(item.tag, [(k, v) for k, v in item.value if k.value != "name"],
                                    item.start_mark, item.end_mark)
            items.append((_scalar(name_node, path, "name"), name_node, rest))
    else:
        raise UsageError("`formats:` must map format names to their regexes", path, _line(section))
    if not items:
        raise UsageError("`formats:` is empty", path, _line(section))
    from losswatch.ingest.formats import all_formats

    builtin = all_formats()
    classes: list[type[FormatParser]] = []
    seen: set[str] = set()
    for name, name_node, spec in items:
        if not NAME_RE.match(name):
            raise UsageError(f"bad format name {name!r} (letters, digits, '_', '.', '-')", path, _line(name_node))
        if name in seen:
            raise UsageError(f"format {name!r} is defined twice", path, _line(name_node))
        existing = builtin.get(name)
        if existing is not None and not issubclass(existing, CustomFormat):
            raise UsageError(f"format name {name!r} is taken by a built-in format", path, _line(name_node))
        seen.add(name)
        classes.append(_format_class(name, spec, path))
    return classes
