"""`--var NAME=VALUE`: a rule variable set from the command line, in every rule that declares it.

Real `check` runs on real framework logs (tests/fixtures/frameworks): the class count decides whether
`initial_loss_off` fires. Bad forms are user mistakes: one line naming the option, exit 2, nothing started.
"""

from __future__ import annotations

import json
import sys

import pytest

from tests.cli import losswatch
from tests.conftest import ROOT

FW = ROOT / "tests" / "fixtures" / "frameworks"
# nanoGPT-style run on 10 classes with shuffled labels; the log states no class count; first loss 2.3523
SHUFFLED = FW / "torch_shuffled_labels.log"
# the log says "Number of classes: 10"; first loss 24.17, far above ln 10
BAD_INIT = FW / "torch_bad_init.log"


def alerts(path, rule: str, *opts: str) -> list[dict]:
    """The alerts of `rule` that `check` reports on a log."""
    cp = losswatch("check", "--json", *opts, str(path))
    assert cp.returncode in (0, 1), cp.stderr
    return [a for a in json.loads(cp.stdout)["alerts"] if a["rule"] == rule]


def initial_loss_alerts(path, *opts: str) -> list[dict]:
    return alerts(path, "initial_loss_off", *opts)


def test_class_count_from_the_command_line_decides_the_alert():
    # no count stated, none given: the rule is inactive
    assert initial_loss_alerts(SHUFFLED) == []
    # 10 classes: 2.35 is near ln 10 = 2.30, a healthy start
    assert initial_loss_alerts(SHUFFLED, "--var", "classes=10") == []
    # 2 classes: 2.35 is more than 2 ln 2 away from ln 2 → fires at the first loss, naming C
    fired = initial_loss_alerts(SHUFFLED, "--var", "classes=2")
    assert len(fired) == 1 and fired[0]["line"] == 3 and "ln(2)" in fired[0]["message"]
    # a later --var wins
    assert initial_loss_alerts(SHUFFLED, "--var", "classes=2", "--var", "classes=10.0") == []


def test_var_wins_over_the_count_the_log_states():
    fired = initial_loss_alerts(BAD_INIT)
    assert len(fired) == 1 and "ln(10)" in fired[0]["message"]
    # 1e8 classes: ln C = 18.4, and 24.17 is within ln C of it
    assert initial_loss_alerts(BAD_INIT, "--var", "classes=100000000") == []
    fired = initial_loss_alerts(BAD_INIT, "--var", "classes=3")
    assert len(fired) == 1 and "ln(3)" in fired[0]["message"]


STUCK_LN2 = ROOT / "tests" / "fixtures" / "calibration" / "stuck_ln2.log"  # loss pinned at ln 2 = 0.6931


def stuck_alerts(path, *opts: str) -> list[dict]:
    return alerts(path, "stuck_at_chance", *opts)


def test_known_class_count_narrows_stuck_at_chance_to_ln_c():
    """Without a count any common ln C counts; with one, only its own: 0.6931 is chance for 2 classes,
    progress for 10."""
    for opts in ((), ("--var", "classes=2")):
        fired = stuck_alerts(STUCK_LN2, *opts)
        assert fired and "ln(2)" in fired[0]["message"], opts
    assert stuck_alerts(STUCK_LN2, "--var", "classes=10") == []
    # shuffled labels on 10 classes: the loss sits at ln 10 — chance for 10, not for 2
    assert stuck_alerts(SHUFFLED, "--var", "classes=10")
    assert stuck_alerts(SHUFFLED, "--var", "classes=2") == []


def test_var_sets_every_rule_that_declares_it(tmp_path):
    """Two user rules declare `limit`; one --var changes both; a rule without it is left alone."""
    rules = tmp_path / "mine.yaml"
    rules.write_text(
        "version: 1\nrules:\n"
        "  - id: above_a\n    when: loss > limit\n    vars: {limit: 100}\n    severity: info\n"
        "  - id: above_b\n    when: loss > 2 * limit\n    vars: {limit: 100}\n    severity: info\n"
        "  - id: other\n    when: loss > 1000\n    severity: info\n")
    log = tmp_path / "train.log"
    log.write_text("".join(f"step={i} loss={5 - i * 0.5}\n" for i in range(8)))

    def fired(*opts: str) -> set[str]:
        cp = losswatch("check", "--json", "--no-default-rules", "--rules", str(rules), *opts, str(log))
        assert cp.returncode in (0, 1), cp.stderr
        return {a["rule"] for a in json.loads(cp.stdout)["alerts"]}

    assert fired() == set()
    assert fired("--var", "limit=3") == {"above_a"}  # 5 > 3; never above 6
    assert fired("--var", "limit=2") == {"above_a", "above_b"}  # 5 > 4


@pytest.mark.parametrize("opts, says", [
    (["--var", "classes"], "--var classes: expected NAME=VALUE"),
    (["--var", "classes=abc"], "--var classes=abc: VALUE must be a number"),
    (["--var", "classes="], "--var classes=: VALUE must be a number"),
    (["--var", "classes=inf"], "--var classes=inf: VALUE must be a finite number"),
    (["--var", "=3"], "--var =3: bad name"),
    (["--var", "clases=10"], "--var clases=10: no loaded rule declares a var `clases`"),
    (["--no-default-rules", "--var", "classes=10"], "--var classes=10: no loaded rule declares a var `classes`"),
    (["--disable", "initial_loss_off", "--disable", "stuck_at_chance", "--var", "classes=10"],
     "no loaded rule declares a var `classes`"),
])
def test_bad_var_is_one_line_and_exit_2(opts, says):
    cp = losswatch("check", *opts, str(SHUFFLED))
    assert cp.returncode == 2
    assert cp.stdout == ""
    lines = cp.stderr.splitlines()
    assert len(lines) == 1 and says in lines[0] and lines[0].startswith("losswatch: error: "), cp.stderr
    assert "Traceback" not in cp.stderr


def test_bad_var_starts_no_job(tmp_path):
    marker = tmp_path / "started"
    cp = losswatch("run", "--log", str(tmp_path / "train.log"), "--var", "classes=ten", "--",
                   sys.executable, "-c", f"open({str(marker)!r}, 'w').close()", cwd=tmp_path)
    assert cp.returncode == 2 and "--var classes=ten: VALUE must be a number" in cp.stderr
    assert cp.stderr.count("\n") == 1 and "Traceback" not in cp.stderr
    assert not marker.exists() and not (tmp_path / "train.log").exists()


@pytest.mark.parametrize("command", ["tail", "replay"])
def test_tail_and_replay_refuse_a_bad_var(command, tmp_path):
    cp = losswatch(command, "--headless", "--var", "nosuch=1", str(SHUFFLED), timeout=30)
    assert cp.returncode == 2 and cp.stdout == ""
    assert cp.stderr.splitlines() == [cp.stderr.strip()] and "--var nosuch=1: no loaded rule declares" in cp.stderr


def test_replay_with_var_fires_with_the_given_count():
    cp = losswatch("replay", "--headless", "--speed", "0", "--var", "classes=2", str(SHUFFLED), timeout=30)
    assert cp.returncode == 0, cp.stderr
    events = [json.loads(x) for x in cp.stdout.splitlines()]
    assert any(e.get("event") == "alert" and e["rule"] == "initial_loss_off" and e["state"] == "firing"
               for e in events)


def test_help_shows_var():
    cp = losswatch("check", "--help")
    assert "--var NAME=VALUE" in cp.stdout and "classes=10" in cp.stdout


def test_rules_show_and_list_take_var():
    cp = losswatch("rules", "show", "stuck_at_chance", "--var", "classes=10")
    assert cp.returncode == 0 and "var classes: 10" in cp.stdout
    assert "var classes: 0" in losswatch("rules", "show", "stuck_at_chance").stdout
    cp = losswatch("rules", "list", "--var", "clases=10")
    assert cp.returncode == 2 and cp.stdout == "" and "no loaded rule declares a var `clases`" in cp.stderr
