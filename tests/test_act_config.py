"""The `actions:` section of rule files, and the dispatcher that maps rule action names to actions."""

from __future__ import annotations

import math
import signal
import textwrap

import pytest

from losswatch.act.audit import read
from losswatch.act.config import load_actions
from losswatch.act.dispatcher import ActionDispatcher
from losswatch.act.notify import NotifyConfig
from losswatch.act.stop import DEFAULT_STEPS
from losswatch.act.target import TargetFinder, from_pid
from losswatch.errors import UsageError
from losswatch.model import Alert
from tests.jobs import spawn


def write(tmp_path, text: str, name: str = "rules.yaml"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return str(p)


FULL = """\
version: 1
rules: []
actions:
  audit_log: {audit}
  stop:
    checkpoint_signal: SIGUSR1
    checkpoint_wait: 2m
    grace: 45s
    term_grace: 10
  notify:
    via: terminal
    terminal: [osc9, osc777]
    bell: false
    repeat_interval: 1h
    max_per_minute: 3
  receivers:
    team: {{type: slack, url: "https://hooks.example/x", timeout: 3s, retries: 4}}
    phone: {{type: ntfy, url: "http://127.0.0.1:9/t", headers: {{Authorization: "Bearer abc"}}}}
  exec:
    page: {{command: "echo hi", timeout: 10s}}
    short: echo short
"""


def test_full_section(tmp_path):
    cfg = load_actions([write(tmp_path, FULL.format(audit=tmp_path / "a.jsonl"))])
    assert cfg.audit_log == str(tmp_path / "a.jsonl")
    assert [(s.signal, s.wait) for s in cfg.stop.steps] == [
        (signal.SIGUSR1, 120.0), (signal.SIGINT, 45.0), (signal.SIGTERM, 10.0), (signal.SIGKILL, 10.0)]
    assert cfg.notify.via == "terminal" and cfg.notify.terminal == ("osc9", "osc777") and not cfg.notify.bell
    assert cfg.notify.repeat_interval == 3600 and cfg.notify.max_per_minute == 3
    assert cfg.receivers["team"].kind == "slack" and cfg.receivers["team"].timeout == 3
    assert cfg.receivers["team"].retries == 4
    assert cfg.receivers["phone"].headers == {"Authorization": "Bearer abc"}
    assert cfg.exec["page"].timeout == 10 and cfg.exec["short"].command == "echo short"


def test_defaults_and_merging(tmp_path):
    a = write(tmp_path, "rules: []\n", "a.yaml")
    b = write(tmp_path, "actions:\n  stop:\n    steps:\n      - {signal: TERM, wait: 5s}\n      - {signal: KILL}\n",
              "b.yaml")
    c = write(tmp_path, "actions:\n  notify: {mute: true}\n", "c.yaml")
    cfg = load_actions([a])
    assert cfg.stop.steps == DEFAULT_STEPS and cfg.notify == NotifyConfig()
    cfg = load_actions([a, b, c])
    assert [(s.signal, s.wait) for s in cfg.stop.steps] == [(signal.SIGTERM, 5.0), (signal.SIGKILL, 10.0)]
    assert cfg.notify.mute and cfg.notify.via == "auto"


@pytest.mark.parametrize("text,where,msg", [
    ("actions:\n  stop:\n    grace: soon\n", ":3:12", "grace must be a duration"),
    ("actions:\n  stop:\n    checkpoint_signal: SIGFOO\n", ":3:24", "unknown signal 'SIGFOO'"),
    ("actions:\n  notify:\n    via: pigeon\n", ":3:10", "via must be one of"),
    ("actions:\n  notify:\n    terminal: osc52\n", ":3:15", "terminal must be auto or among"),
    ("actions:\n  receivers:\n    x: {type: slack}\n", ":3:8", "receiver 'x' needs a url"),
    ("actions:\n  receivers:\n    x: {url: ftp://a}\n", ":3:14", "must start with http"),
    ("actions:\n  stopp: {}\n", ":2:3", "unknown key 'stopp' in actions"),
    ("actions:\n  exec:\n    x: {timeout: 3}\n", ":3:8", "exec 'x' needs a command"),
    ("actions: [1\n", ":2", "not valid YAML"),
])
def test_errors_name_file_and_line(tmp_path, text, where, msg):
    path = write(tmp_path, text)
    with pytest.raises(UsageError) as e:
        load_actions([path])
    assert str(e.value).startswith(path + where + ": ") and msg in str(e.value)


def alert(actions, rule="nonfinite_loss") -> Alert:
    return Alert(rule, "critical", "train.log", "firing", 5, 6, math.nan, "loss is NaN", "", actions)


def test_dispatcher_maps_names_and_validates(tmp_path, monkeypatch):
    monkeypatch.delenv("LOSSWATCH_NOTIFY", raising=False)
    cfg = load_actions([write(tmp_path, FULL.format(audit=tmp_path / "a.jsonl"))])
    written: list[bytes] = []
    d = ActionDispatcher(cfg, TargetFinder(), writer=written.append, env={"TERM": "foot"})
    d.validate(["notify", "stop", "webhook:team", "exec:page"])
    with pytest.raises(UsageError, match="no receiver 'nope'"):
        d.validate(["webhook:nope"])
    with pytest.raises(UsageError, match="unknown action 'page_me'"):
        d.validate(["page_me"])
    results = d.handle(alert(["notify", "stop", "exec:nope"]))
    assert [r.action for r in results] == ["notify", "stop", "exec:nope"]
    assert results[0].result == "sent" and written and written[0].startswith(b"\x1b]9;")
    assert results[1].result == "refused" and "no job" in results[1].detail["reason"]
    assert results[2].result == "error"
    audit = read(tmp_path / "a.jsonl")
    assert [(x["action"], x["result"]) for x in audit] == [("notify", "sent"), ("stop", "refused"),
                                                          ("exec:nope", "error")]


def test_dispatcher_dry_run_does_nothing(tmp_path):
    proc, _ = spawn(tmp_path)
    try:
        cfg = load_actions([write(tmp_path, FULL.format(audit=tmp_path / "a.jsonl"))])
        written: list[bytes] = []
        d = ActionDispatcher(cfg, TargetFinder(from_pid(proc.pid, "run")), dry_run=True, writer=written.append)
        results = d.handle(alert(["notify", "stop", "webhook:team", "exec:page"]))
        assert [r.result for r in results] == ["dry-run"] * 4
        assert results[1].detail["would_signal"] == [proc.pid]
        assert written == [] and proc.poll() is None
        assert all(x["dry_run"] for x in read(tmp_path / "a.jsonl"))
    finally:
        proc.kill()
        proc.wait()


def test_notify_route_can_be_forced_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("LOSSWATCH_NOTIFY", "none")
    cfg = load_actions([write(tmp_path, FULL.format(audit=tmp_path / "a.jsonl"))])
    written: list[bytes] = []
    d = ActionDispatcher(cfg, TargetFinder(), writer=written.append)
    assert d.handle(alert(["notify"]))[0].result == "disabled" and written == []


def test_silence_mutes_notifications_for_a_while_but_never_a_stop(tmp_path, monkeypatch):
    monkeypatch.delenv("LOSSWATCH_NOTIFY", raising=False)
    cfg = load_actions([write(tmp_path, FULL.format(audit=tmp_path / "a.jsonl"))])
    written: list[bytes] = []
    d = ActionDispatcher(cfg, TargetFinder(), writer=written.append, env={"TERM": "foot"})
    d.silence("train.log", "nonfinite_loss", 60)
    results = d.handle(alert(["notify", "stop"]))
    assert [r.result for r in results] == ["silenced", "refused"]  # the stop still goes its own way
    assert written == []
    other = d.handle(alert(["notify"], rule="oom"))  # another rule is not silenced
    assert other[0].result == "sent" and written
    d.silence("train.log", "nonfinite_loss", 0)  # a silence that has run out
    assert d.handle(alert(["notify"]))[0].result != "silenced"
    assert ("silence", "nonfinite_loss") in [(x["action"], x["rule"]) for x in read(tmp_path / "a.jsonl")]
