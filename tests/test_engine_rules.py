"""Rule files (validation with file:line:column), the alert state machine, inhibition, build_engine."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import losswatch.engine as engine_pkg
from losswatch.engine import build_engine, load_rules, shipped_rule_files
from losswatch.errors import UsageError
from losswatch.model import SampleBatch

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def write(tmp_path: Path, text: str, name: str = "r.yaml") -> str:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return str(p)


GOOD = """\
version: 1
rules:
  - id: high
    when: loss > limit
    vars: {limit: 5}
    for: 3 evals
    keep_firing_for: 2 evals
    severity: warning
    summary: "loss {value:.1f} above {limit}"
"""


@pytest.mark.parametrize("text,line,col,fragment", [
    ("version: 1\nrules:\n  - id: a\n    when: loss >\n", 4, 17, "expected a number"),
    ("version: 1\nrules:\n  - id: a\n    when: 'foo(loss) > 1'\n", 4, 12, "unknown function `foo`"),
    ("version: 1\nrules:\n  - id: a\n    when: loss > 1\n    severity: fatal\n", 5, 15, "bad severity"),
    ("version: 1\nrules:\n  - id: a\n    when: loss > 1\n    for: 10 minutes please\n", 5, 10, "bad duration"),
    ("version: 1\nrules:\n  - id: a\n    when: loss > 1\n  - id: a\n    when: loss > 2\n", 5, 9,
     "duplicate rule id `a`"),
    ("version: 1\nrules:\n  - id: a\n    when: loss > 1\n    colour: red\n", 5, 5, "unknown key `colour`"),
    ("version: 1\nrules:\n  - id: a\n    when: loss > 1\n    actions: [explode]\n", 5, 15, "bad entry 'explode'"),
    ("version: 1\nrules:\n  - id: a\n    when: loss > 1\n    summary: '{value.__class__}'\n", 5, 15,
     "only plain names"),
    ("version: 1\nrules:\n  - id: a\n    when: loss > 1\n    summary: '{nope}'\n", 5, 15, "unknown field {nope}"),
    ("version: 1\nrules:\n  - id: a\n    when: [loss\n", 5, 1, "YAML syntax"),
    ("version: 2\nrules: []\n", 1, 10, "unsupported version"),
    ("version: 1\nrules:\n  - id: a\n    when: >-\n      loss > 1\n      and bogus(loss)\n", 6, 11,
     "unknown function `bogus`"),
    ("version: 1\nrulez: []\n", 2, 1, "unknown top-level key"),
    ("version: 1\nrules:\n  - when: loss > 1\n", 3, 5, "rule without `id`"),
])
def test_validation_errors_name_file_line_column(tmp_path, text, line, col, fragment):
    path = write(tmp_path, text)
    with pytest.raises(UsageError) as e:
        build_engine([path], [], False)
    msg = str(e.value)
    assert msg.startswith(f"{path}:{line}:{col}: "), msg
    assert fragment in msg


def test_bad_rule_file_exits_2_with_one_line_and_nothing_started(tmp_path):
    path = write(tmp_path, "version: 1\nrules:\n  - id: a\n    when: mean(loss) > 1\n")
    log = write(tmp_path, "step=1 loss=1\n", "x.log")
    p = subprocess.run([sys.executable, "-m", "losswatch", "check", log, "--rules", path],
                       capture_output=True, text=True, env=ENV, timeout=60)
    assert p.returncode == 2
    assert p.stdout == ""
    assert p.stderr.strip().count("\n") == 0
    assert f"{path}:4:11: in `when`: wrong number of arguments" in p.stderr
    assert "Traceback" not in p.stderr


def test_actions_section_is_accepted_as_opaque(tmp_path):
    path = write(tmp_path, GOOD + "actions:\n  receivers:\n    slack: {url: 'http://x'}\n  stop: {escalation: [INT, 10s]}\n")
    rules, files = load_rules([path], [], False)
    assert [r.id for r in rules] == ["high"]
    assert files[0].actions["receivers"]["slack"]["url"] == "http://x"


def batch(rows: list[tuple[int, dict[str, float]]], t: float = 0.0) -> SampleBatch:
    b = SampleBatch(t)
    for step, vals in rows:
        for m, v in vals.items():
            b.add(m, float(step), v, step + 1)
    return b


def feed(engine, rows, run="r"):
    out = []
    for row in rows:
        out += engine.process(run, None, batch([row]))
    return out


def test_for_and_keep_firing_for_and_missing_data(tmp_path):
    e = build_engine([write(tmp_path, GOOD)], [], False)
    vals = [1, 9, 9, 9, 9, 1, 9, 1, 1, 1]
    out = feed(e, [(i, {"loss": v}) for i, v in enumerate(vals)])
    got = [(a.state, a.step) for a in out]
    # pending at 1, firing after 3 evaluations (step 3), a false at 5 then true at 6 keeps it,
    # two false evaluations (7, 8) resolve it at 8
    assert got == [("pending", 1), ("firing", 3), ("resolved", 8)]
    firing = out[1]
    assert firing.message == "loss 9.0 above 5.0" and firing.line == 4 and firing.severity == "warning"
    # a line without the metric is missing data: it neither resolves nor advances anything
    e2 = build_engine([write(tmp_path, GOOD)], [], False)
    out2 = feed(e2, [(0, {"loss": 9}), (1, {"loss": 9}), (2, {"loss": 9}), (3, {"lr": 1}), (4, {"lr": 1}),
                     (5, {"lr": 1})])
    assert [(a.state, a.step) for a in out2] == [("pending", 0), ("firing", 2)]


def test_for_in_steps_uses_log_steps(tmp_path):
    path = write(tmp_path, "version: 1\nrules:\n  - id: a\n    when: loss > 1\n    for: 100 steps\n")
    e = build_engine([path], [], False)
    out = feed(e, [(s, {"loss": 2}) for s in range(0, 300, 50)])
    assert [(a.state, a.step) for a in out] == [("pending", 0), ("firing", 100)]


def test_inhibition_silences_dependent_rules(tmp_path):
    path = write(tmp_path, """\
        version: 1
        rules:
          - id: flat
            when: loss > 0
            inhibited_by: [nan]
          - id: nan
            when: nonfinite(val_loss) > 0
    """)
    e = build_engine([path], [], False)
    out = feed(e, [(0, {"val_loss": float("nan")}), (1, {"loss": 1.0, "val_loss": float("nan")})])
    assert [(a.rule, a.state) for a in out] == [("nan", "firing")]
    # without the inhibitor firing, the same data fires `flat`
    e2 = build_engine([path], [], False)
    out2 = feed(e2, [(0, {"val_loss": 1.0}), (1, {"loss": 1.0, "val_loss": 1.0})])
    assert [(a.rule, a.state) for a in out2] == [("flat", "firing")]


def test_user_rule_replaces_shipped_one_and_disable(tmp_path):
    path = write(tmp_path, "version: 1\nrules:\n  - id: nonfinite_loss\n    when: loss > 100\n    severity: info\n")
    rules, _ = load_rules([path], ["oom"], True)
    by_id = {r.id: r for r in rules}
    assert by_id["nonfinite_loss"].severity == "info"
    assert "oom" not in by_id
    with pytest.raises(UsageError, match="no such rule"):
        load_rules([], ["no_such_rule"], True)


REQUIRED_IDS = {
    "nonfinite_loss", "diverging", "loss_spike", "lr_too_high", "avg_loss_flat", "stuck_at_chance",
    "softmax_saturated", "initial_loss_off", "overfitting", "data_problem", "both_rising", "grad_explosion",
    "vanishing_gradient", "loss_scale_collapse", "oom", "crashed", "stalled", "lr_sanity",
}


def test_default_pack_has_every_rule_with_summary_and_advice():
    rules, _ = load_rules([], [], True)
    by_id = {r.id: r for r in rules}
    assert REQUIRED_IDS <= set(by_id)
    for r in rules:
        assert r.summary and len(r.advice) > 40, r.id
    stoppers = {r.id for r in rules if "stop" in r.actions}
    assert stoppers == {"nonfinite_loss", "diverging"}
    for rid in ("avg_loss_flat", "lr_too_high"):
        assert {"nonfinite_loss", "diverging"} <= set(by_id[rid].inhibited_by)


def test_every_shipped_pack_loads(tmp_path, monkeypatch):
    """default.yaml and any other pack beside it (gpu.yaml, ...) all load by default."""
    d = tmp_path / "rules"
    d.mkdir()
    (d / "default.yaml").write_text(Path(shipped_rule_files()[0]).read_text())
    (d / "gpu.yaml").write_text("version: 1\nrules:\n  - id: gpu_idle\n    when: gpu.util < 10\n    for: 10m\n")
    monkeypatch.setattr(engine_pkg, "RULES_DIR", d)
    assert [Path(p).name for p in shipped_rule_files()] == ["default.yaml", "gpu.yaml"]
    e = build_engine([], [], True)
    assert "gpu_idle" in {r.rule.id for r in e.rules} and "nonfinite_loss" in {r.rule.id for r in e.rules}


def test_stall_fires_on_tick_and_resolves_when_data_returns():
    e = build_engine([], [], True)
    for i in range(60):
        e.process("r", None, batch([(i, {"loss": 2.0 - i * 0.001})], t=1000.0 + 10 * i))
    last_t = 1000.0 + 10 * 59
    assert e.tick("r", None, last_t + 300) == []
    out = e.tick("r", None, last_t + 700)
    assert [(a.rule, a.state) for a in out] == [("stalled", "firing")]
    assert "no new loss for 700s" in out[0].message
    e.process("r", None, batch([(60, {"loss": 1.9})], t=last_t + 710))
    out = e.tick("r", None, last_t + 711)
    assert [(a.rule, a.state) for a in out] == [("stalled", "resolved")]
