"""`losswatch rules list|show|lint|test` as a user runs them."""

from __future__ import annotations

import textwrap
from pathlib import Path

from tests.cli import losswatch

ROOT = Path(__file__).resolve().parent.parent


lw = losswatch


def test_list_and_show():
    p = lw("rules", "list")
    assert p.returncode == 0
    ids = [line.split()[0] for line in p.stdout.splitlines()]
    assert "nonfinite_loss" in ids and "stuck_at_chance" in ids
    p = lw("rules", "show", "overfitting")
    assert p.returncode == 0
    assert "when:" in p.stdout and "best(val_loss)" in p.stdout and "advice:" in p.stdout
    p = lw("rules", "show", "nope")
    assert p.returncode == 2 and "no rule `nope`" in p.stderr


def test_lint_reports_position_and_ok(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text("version: 1\nrules:\n  - id: mine\n    when: ema(loss, 20) > 3\n    inhibited_by: [ghost]\n")
    p = lw("rules", "lint", str(good))
    assert p.returncode == 0, p.stderr
    assert "1 rule(s) OK" in p.stdout and "unknown rule `ghost`" in p.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nrules:\n  - id: mine\n    when: ema(loss, 20) >> 3\n")
    p = lw("rules", "lint", str(bad))
    assert p.returncode == 2
    assert p.stderr.startswith(f"losswatch: error: {bad}:4:26:")


def test_shipped_rule_tests_pass():
    p = lw("rules", "test", str(ROOT / "tests" / "rules" / "default_pack_test.yaml"))
    assert p.returncode == 0, p.stdout
    assert "FAIL" not in p.stdout


def test_failing_rule_test_exits_1_and_says_why(tmp_path):
    rules = tmp_path / "r.yaml"
    rules.write_text("version: 1\nrules:\n  - id: big\n    when: loss > 5\n    for: 2 evals\n")
    t = tmp_path / "t.yaml"
    t.write_text(textwrap.dedent("""\
        rule_files: [r.yaml]
        default_rules: false
        tests:
          - name: fires at the second big value
            series: {loss: "1 6 6 6 1"}
            expect: [{rule: big, step: 2}]
            firing_at: [{step: 3, rules: [big]}, {step: 4, rules: []}]
          - name: wrong on purpose
            series: {loss: "1 6 6"}
            expect: [{rule: big, step: 1}]
    """))
    p = lw("rules", "test", str(t))
    assert p.returncode == 1
    assert "PASS" in p.stdout and "FAIL" in p.stdout
    assert "expected big firing at step 1; it did not" in p.stdout
    assert "unexpected big firing at step 2" in p.stdout
    assert "1/2 rule tests passed" in p.stdout


def test_documented_example_rule_file_lints():
    p = lw("rules", "lint", str(ROOT / "docs" / "examples" / "my_rules.yaml"))
    assert p.returncode == 0, p.stderr
    assert "3 rule(s) OK" in p.stdout
