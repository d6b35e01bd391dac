"""The `actions:` section of rule files: receivers, exec commands, stop escalation, notify settings.

```yaml
actions:
  audit_log: ~/losswatch-audit.jsonl     # default: $XDG_STATE_HOME/losswatch/audit.jsonl
  stop:
    checkpoint_signal: SIGUSR1           # optional first signal, then checkpoint_wait
    checkpoint_wait: 120s
    grace: 30s                           # after SIGINT
    term_grace: 30s                      # after SIGTERM, then SIGKILL
    # or the whole escalation:  steps: [{signal: SIGINT, wait: 30s}, {signal: SIGKILL}]
    # or a command instead of signals:  exec: "scancel {slurm_job_id}"
  notify:
    via: auto                            # auto | desktop | terminal | both | none
    terminal: auto                       # auto | osc777 | osc9 | osc99 | a list of them
    bell: true
    repeat_interval: 30m
    max_per_minute: 6
    mute: false
  receivers:
    team: {type: slack, url: "https://hooks.slack.com/services/..."}
  exec:
    page_me: {command: "notify-send losswatch \"$LOSSWATCH_MESSAGE\"", timeout: 10s}
```

Several files merge in order (a later file's keys win). Mistakes raise UsageError naming file:line.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from typing import Any

import yaml

from losswatch.act.exec import ExecCommand
from losswatch.act.notify import TERMINAL_KINDS, VIA, NotifyConfig
from losswatch.act.stop import DEFAULT_STEPS, StopPolicy, StopStep, parse_signal
from losswatch.act.webhook import KINDS, Receiver
from losswatch.errors import UsageError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass
class ActionsConfig:
    audit_log: str | None = None
    stop: StopPolicy = field(default_factory=StopPolicy)
    notify: NotifyConfig = field(default_factory=NotifyConfig)
    receivers: dict[str, Receiver] = field(default_factory=dict)
    exec: dict[str, ExecCommand] = field(default_factory=dict)


class _Ctx:
    def __init__(self, path: str) -> None:
        self.path = path

    def err(self, node: yaml.Node, message: str) -> UsageError:
        return UsageError(message, self.path, node.start_mark.line + 1, node.start_mark.column + 1)

    def mapping(self, node: yaml.Node, what: str, allowed: tuple[str, ...] | None = None) -> dict[str, tuple]:
        """{key: (key_node, value_node)}; unknown keys are an error when `allowed` is given."""
        if not isinstance(node, yaml.MappingNode):
            raise self.err(node, f"{what} must be a mapping")
        out = {}
        for k, v in node.value:
            key = k.value if isinstance(k, yaml.ScalarNode) else None
            if not isinstance(key, str):
                raise self.err(k, f"{what}: keys must be names")
            if allowed is not None and key not in allowed:
                raise self.err(k, f"unknown key {key!r} in {what} (expected one of: {', '.join(allowed)})")
            out[key] = (k, v)
        return out

    def scalar(self, node: yaml.Node, what: str) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            raise self.err(node, f"{what} must be a single value")
        return yaml.safe_load(yaml.serialize(node))

    def string(self, node: yaml.Node, what: str) -> str:
        v = self.scalar(node, what)
        if v is None or isinstance(v, (dict, list)):
            raise self.err(node, f"{what} must be text")
        return str(v)

    def boolean(self, node: yaml.Node, what: str) -> bool:
        v = self.scalar(node, what)
        if not isinstance(v, bool):
            raise self.err(node, f"{what} must be true or false")
        return v

    def duration(self, node: yaml.Node, what: str) -> float:
        v = self.scalar(node, what)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0:
            return float(v)
        m = _DURATION.match(str(v)) if isinstance(v, str) else None
        if not m:
            raise self.err(node, f"{what} must be a duration like 30s, 5m, 1h or a number of seconds, not {v!r}")
        return float(m.group(1)) * _UNIT[m.group(2)]

    def integer(self, node: yaml.Node, what: str, minimum: int = 0) -> int:
        v = self.scalar(node, what)
        if not isinstance(v, int) or isinstance(v, bool) or v < minimum:
            raise self.err(node, f"{what} must be a whole number ≥ {minimum}")
        return v

    def signal(self, node: yaml.Node, what: str):
        v = self.scalar(node, what)
        try:
            return parse_signal(v)
        except ValueError:
            raise self.err(node, f"{what}: unknown signal {v!r} (e.g. SIGINT, SIGTERM, SIGUSR1)") from None


def _stop(ctx: _Ctx, node: yaml.Node, base: StopPolicy) -> StopPolicy:
    m = ctx.mapping(node, "actions.stop", ("steps", "checkpoint_signal", "checkpoint_wait", "grace", "term_grace",
                                           "kill_wait", "scope", "exec", "exec_timeout", "exec_wait"))
    policy = replace(base)
    if "steps" in m and any(k in m for k in ("checkpoint_signal", "grace", "term_grace", "kill_wait")):
        raise ctx.err(m["steps"][0], "give either `steps` or checkpoint_signal/grace/term_grace, not both")
    if "steps" in m:
        seq = m["steps"][1]
        if not isinstance(seq, yaml.SequenceNode) or not seq.value:
            raise ctx.err(seq, "actions.stop.steps must be a non-empty list of {signal: NAME, wait: DURATION}")
        steps = []
        for item in seq.value:
            s = ctx.mapping(item, "a stop step", ("signal", "wait"))
            if "signal" not in s:
                raise ctx.err(item, "a stop step needs a signal")
            sig = ctx.signal(s["signal"][1], "signal")
            wait = ctx.duration(s["wait"][1], "wait") if "wait" in s else 10.0
            steps.append(StopStep(sig, wait))
        policy.steps = tuple(steps)
    else:
        grace = ctx.duration(m["grace"][1], "grace") if "grace" in m else DEFAULT_STEPS[0].wait
        term = ctx.duration(m["term_grace"][1], "term_grace") if "term_grace" in m else DEFAULT_STEPS[1].wait
        kill = ctx.duration(m["kill_wait"][1], "kill_wait") if "kill_wait" in m else DEFAULT_STEPS[2].wait
        steps = []
        if "checkpoint_signal" in m:
            cwait = ctx.duration(m["checkpoint_wait"][1], "checkpoint_wait") if "checkpoint_wait" in m else 60.0
            steps.append(StopStep(ctx.signal(m["checkpoint_signal"][1], "checkpoint_signal"), cwait))
        elif "checkpoint_wait" in m:
            raise ctx.err(m["checkpoint_wait"][0], "checkpoint_wait needs checkpoint_signal")
        steps += [StopStep(DEFAULT_STEPS[0].signal, grace), StopStep(DEFAULT_STEPS[1].signal, term),
                  StopStep(DEFAULT_STEPS[2].signal, kill)]
        if any(k in m for k in ("checkpoint_signal", "grace", "term_grace", "kill_wait")):
            policy.steps = tuple(steps)
    if "scope" in m:
        scope = ctx.string(m["scope"][1], "scope")
        if scope not in ("auto", "tree"):
            raise ctx.err(m["scope"][1], "scope must be auto (process group when safe) or tree")
        policy.scope = scope
    if "exec" in m:
        policy.exec = ctx.string(m["exec"][1], "exec")
        try:
            import shlex

            shlex.split(policy.exec)
        except ValueError as e:
            raise ctx.err(m["exec"][1], f"exec: {e}") from None
    if "exec_timeout" in m:
        policy.exec_timeout = ctx.duration(m["exec_timeout"][1], "exec_timeout")
    if "exec_wait" in m:
        policy.exec_wait = ctx.duration(m["exec_wait"][1], "exec_wait")
    return policy


def _notify(ctx: _Ctx, node: yaml.Node, base: NotifyConfig) -> NotifyConfig:
    m = ctx.mapping(node, "actions.notify", ("via", "terminal", "bell", "repeat_interval", "max_per_minute",
                                             "mute", "app_name"))
    cfg = replace(base)
    if "via" in m:
        cfg.via = ctx.string(m["via"][1], "via")
        if cfg.via not in VIA:
            raise ctx.err(m["via"][1], f"via must be one of: {', '.join(VIA)}")
    if "terminal" in m:
        n = m["terminal"][1]
        items = n.value if isinstance(n, yaml.SequenceNode) else [n]
        kinds = [ctx.string(i, "terminal") for i in items]
        if kinds == ["auto"]:
            cfg.terminal = None
        else:
            for i, k in zip(items, kinds, strict=True):
                if k not in TERMINAL_KINDS:
                    raise ctx.err(i, f"terminal must be auto or among: {', '.join(TERMINAL_KINDS)}")
            cfg.terminal = tuple(kinds)
    if "bell" in m:
        cfg.bell = ctx.boolean(m["bell"][1], "bell")
    if "mute" in m:
        cfg.mute = ctx.boolean(m["mute"][1], "mute")
    if "repeat_interval" in m:
        cfg.repeat_interval = ctx.duration(m["repeat_interval"][1], "repeat_interval")
    if "max_per_minute" in m:
        cfg.max_per_minute = ctx.integer(m["max_per_minute"][1], "max_per_minute", 1)
    if "app_name" in m:
        cfg.app_name = ctx.string(m["app_name"][1], "app_name")
    return cfg


def _receivers(ctx: _Ctx, node: yaml.Node, out: dict[str, Receiver]) -> None:
    for name, (knode, vnode) in ctx.mapping(node, "actions.receivers").items():
        if not _NAME.match(name):
            raise ctx.err(knode, f"receiver name {name!r}: use letters, digits, _ . -")
        m = ctx.mapping(vnode, f"receiver {name!r}", ("type", "url", "headers", "timeout", "retries"))
        if "url" not in m:
            raise ctx.err(vnode, f"receiver {name!r} needs a url")
        url = os.path.expandvars(ctx.string(m["url"][1], "url"))
        if not url.startswith(("http://", "https://")):
            raise ctx.err(m["url"][1], f"receiver {name!r}: url must start with http:// or https://")
        r = Receiver(name, url)
        if "type" in m:
            r.kind = ctx.string(m["type"][1], "type")
            if r.kind not in KINDS:
                raise ctx.err(m["type"][1], f"receiver type must be one of: {', '.join(KINDS)}")
        if "headers" in m:
            r.headers = {k: os.path.expandvars(ctx.string(v, f"header {k}"))
                         for k, (_, v) in ctx.mapping(m["headers"][1], "headers").items()}
        if "timeout" in m:
            r.timeout = ctx.duration(m["timeout"][1], "timeout")
        if "retries" in m:
            r.retries = ctx.integer(m["retries"][1], "retries")
        out[name] = r


def _exec(ctx: _Ctx, node: yaml.Node, out: dict[str, ExecCommand]) -> None:
    for name, (knode, vnode) in ctx.mapping(node, "actions.exec").items():
        if not _NAME.match(name):
            raise ctx.err(knode, f"exec name {name!r}: use letters, digits, _ . -")
        if isinstance(vnode, yaml.ScalarNode):
            out[name] = ExecCommand(name, ctx.string(vnode, "command"))
            continue
        m = ctx.mapping(vnode, f"exec {name!r}", ("command", "timeout"))
        if "command" not in m:
            raise ctx.err(vnode, f"exec {name!r} needs a command")
        cnode = m["command"][1]
        if isinstance(cnode, yaml.SequenceNode):
            command: str | list[str] = [ctx.string(i, "command") for i in cnode.value]
            if not command:
                raise ctx.err(cnode, "command must not be empty")
        else:
            command = ctx.string(cnode, "command")
        timeout = ctx.duration(m["timeout"][1], "timeout") if "timeout" in m else 60.0
        out[name] = ExecCommand(name, command, timeout)


def load_actions(paths: list[str], base: ActionsConfig | None = None) -> ActionsConfig:
    """Read the `actions:` sections of rule files (files without one are fine)."""
    cfg = base or ActionsConfig()
    for path in paths:
        ctx = _Ctx(path)
        try:
            with open(path, encoding="utf-8") as f:
                root = yaml.compose(f)
        except OSError as e:
            raise UsageError(e.strerror or str(e), path) from None
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            raise UsageError(f"not valid YAML: {getattr(e, 'problem', e)}", path,
                             mark.line + 1 if mark else None) from None
        if root is None or not isinstance(root, yaml.MappingNode):
            continue
        top = {k.value: v for k, v in root.value if isinstance(k, yaml.ScalarNode)}
        node = top.get("actions")
        if node is None:
            continue
        m = ctx.mapping(node, "actions", ("audit_log", "stop", "notify", "receivers", "exec"))
        if "audit_log" in m:
            cfg.audit_log = os.path.expanduser(os.path.expandvars(ctx.string(m["audit_log"][1], "audit_log")))
        if "stop" in m:
            cfg.stop = _stop(ctx, m["stop"][1], cfg.stop)
        if "notify" in m:
            cfg.notify = _notify(ctx, m["notify"][1], cfg.notify)
        if "receivers" in m:
            _receivers(ctx, m["receivers"][1], cfg.receivers)
        if "exec" in m:
            _exec(ctx, m["exec"][1], cfg.exec)
    return cfg
