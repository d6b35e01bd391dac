"""Stop escalation on real processes: the right signals, to the whole job, never to anything else."""

from __future__ import annotations

import math
import os
import signal

import psutil

from losswatch.act.audit import AuditLog, read
from losswatch.act.stop import Stopper, StopPolicy, StopStep, parse_signal
from losswatch.act.target import Target, from_pid
from losswatch.model import Alert
from tests.jobs import pid_alive, spawn, wait_until

FAST = StopPolicy(steps=(StopStep(signal.SIGINT, 3.0), StopStep(signal.SIGTERM, 0.5), StopStep(signal.SIGKILL, 3.0)))


def alert(rule: str = "nonfinite_loss") -> Alert:
    return Alert(rule, "critical", "train.log", "firing", 120, 121, math.nan, "loss is NaN", actions=["stop"])


def test_parse_signal_spellings():
    assert parse_signal("SIGINT") == signal.SIGINT
    assert parse_signal("term") == signal.SIGTERM
    assert parse_signal(10) == signal.SIGUSR1
    assert parse_signal("9") == signal.SIGKILL


def test_sigint_lets_the_job_save_a_checkpoint(tmp_path):
    proc, _ = spawn(tmp_path)
    audit = AuditLog(tmp_path / "audit.jsonl")
    stopper = Stopper(FAST, audit)
    r = stopper.stop(from_pid(proc.pid), alert())
    assert r.result == "stopping"
    out = proc.stdout.read().decode()
    assert proc.wait(5) == 3
    assert "checkpoint saved" in out
    stopper.wait(5)
    recs = read(tmp_path / "audit.jsonl")
    sent = [x for x in recs if x["result"] == "signal-sent"]
    assert [x["signal"] for x in sent] == ["SIGINT"]
    assert sent[0]["mode"] == "group"
    done = recs[-1]
    assert done["result"] == "done" and done["outcome"] == "exited after SIGINT"
    assert done["rule"] == "nonfinite_loss" and done["value"] == "nan" and done["target"]["pid"] == proc.pid


def test_ignoring_sigint_gets_sigterm_then_sigkill(tmp_path):
    proc, _ = spawn(tmp_path, IGNORE="SIGINT,SIGTERM")
    audit = AuditLog(tmp_path / "audit.jsonl")
    policy = StopPolicy(steps=(StopStep(signal.SIGINT, 0.3), StopStep(signal.SIGTERM, 0.3),
                               StopStep(signal.SIGKILL, 3.0)))
    Stopper(policy, audit).stop(from_pid(proc.pid), alert())
    assert proc.wait(10) == -signal.SIGKILL
    assert wait_until(lambda: read(tmp_path / "audit.jsonl")[-1]["result"] == "done")
    recs = read(tmp_path / "audit.jsonl")
    assert [x["signal"] for x in recs if x["result"] == "signal-sent"] == ["SIGINT", "SIGTERM", "SIGKILL"]
    assert recs[-1]["outcome"] == "exited after SIGKILL"


def test_sigterm_is_enough_when_only_sigint_is_ignored(tmp_path):
    proc, _ = spawn(tmp_path, IGNORE="SIGINT")
    stopper = Stopper(StopPolicy(steps=(StopStep(signal.SIGINT, 0.3), StopStep(signal.SIGTERM, 3.0),
                                        StopStep(signal.SIGKILL, 3.0))))
    t = from_pid(proc.pid)
    stopper.stop(t, alert())
    assert proc.wait(10) == -signal.SIGTERM
    stopper.wait(5)
    assert stopper.outcome(t) == "exited after SIGTERM"


def test_parent_and_workers_all_end(tmp_path):
    proc, pids = spawn(tmp_path, WORKERS="3", IGNORE="SIGINT")
    assert len(pids) == 4
    stopper = Stopper(StopPolicy(steps=(StopStep(signal.SIGINT, 0.3), StopStep(signal.SIGTERM, 5.0))))
    t = from_pid(proc.pid)
    stopper.stop(t, alert())
    proc.wait(10)
    assert wait_until(lambda: not any(pid_alive(p) for p in pids[1:]))
    stopper.wait(5)
    assert stopper.outcome(t) == "exited after SIGTERM"


def test_workers_orphaned_by_the_job_are_still_stopped(tmp_path):
    # The job exits on SIGINT at once; its workers ignore SIGINT and outlive it, reparented away from
    # its tree. They were seen in the tree, so the escalation goes on for them (one at a time).
    proc, pids = spawn(tmp_path, WORKERS="2", WORKER_IGNORE="SIGINT")
    audit = AuditLog(tmp_path / "audit.jsonl")
    stopper = Stopper(StopPolicy(steps=(StopStep(signal.SIGINT, 0.5), StopStep(signal.SIGTERM, 5.0))), audit)
    t = from_pid(proc.pid)
    stopper.stop(t, alert())
    assert proc.wait(10) == 3
    assert wait_until(lambda: not any(pid_alive(p) for p in pids[1:]))
    stopper.wait(5)
    assert stopper.outcome(t) == "exited after SIGTERM"
    sent = [x for x in read(tmp_path / "audit.jsonl") if x["result"] == "signal-sent"]
    assert sent[1]["signal"] == "SIGTERM" and sent[1]["mode"] == "tree" and sorted(sent[1]["pids"]) == sorted(pids[1:])


def test_job_not_leading_its_group_is_stopped_as_a_tree_and_nothing_else(tmp_path):
    # Same process group as pytest: killpg would hit the test runner; the tree mode must be chosen.
    proc, pids = spawn(tmp_path, new_group=False, WORKERS="2")
    audit = AuditLog(tmp_path / "audit.jsonl")
    stopper = Stopper(FAST, audit)
    stopper.stop(from_pid(proc.pid), alert())
    assert proc.wait(10) == 3
    assert wait_until(lambda: not any(pid_alive(p) for p in pids))
    stopper.wait(5)
    sent = [x for x in read(tmp_path / "audit.jsonl") if x["result"] == "signal-sent"]
    assert sent[0]["mode"] == "tree" and sorted(sent[0]["pids"]) == sorted(pids)


def test_unrelated_process_with_same_command_line_is_never_touched(tmp_path):
    job, _ = spawn(tmp_path, IGNORE="SIGINT")
    twin, _ = spawn(tmp_path, IGNORE="SIGINT")
    assert psutil.Process(job.pid).cmdline() == psutil.Process(twin.pid).cmdline()
    try:
        stopper = Stopper(StopPolicy(steps=(StopStep(signal.SIGINT, 0.2), StopStep(signal.SIGKILL, 3.0))))
        stopper.stop(from_pid(job.pid), alert())
        assert job.wait(10) == -signal.SIGKILL
        stopper.wait(5)
        assert twin.poll() is None and pid_alive(twin.pid)
    finally:
        twin.kill()
        twin.wait()


def test_reused_pid_is_never_signalled(tmp_path):
    # A target recorded for this pid at another start time: the process now holding the pid is not the job.
    other, _ = spawn(tmp_path, IGNORE="SIGINT")
    try:
        real = psutil.Process(other.pid).create_time()
        stale = Target(other.pid, real - 100.0, "pid")
        audit = AuditLog(tmp_path / "audit.jsonl")
        r = Stopper(FAST, audit).stop(stale, alert())
        assert r.result == "refused"
        assert "pid now names another process" in r.detail["reason"]
        assert other.poll() is None and pid_alive(other.pid)
        assert read(tmp_path / "audit.jsonl")[-1]["result"] == "refused"
    finally:
        other.kill()
        other.wait()


def test_job_that_died_is_not_signalled(tmp_path):
    proc, _ = spawn(tmp_path)
    t = from_pid(proc.pid)
    proc.kill()
    proc.wait()
    assert Stopper(FAST).stop(t, alert()).result == "refused"


def test_stop_runs_once_per_job(tmp_path):
    proc, _ = spawn(tmp_path, IGNORE="SIGINT")
    audit = AuditLog(tmp_path / "audit.jsonl")
    stopper = Stopper(StopPolicy(steps=(StopStep(signal.SIGINT, 0.5), StopStep(signal.SIGKILL, 3.0))), audit)
    t = from_pid(proc.pid)
    assert stopper.stop(t, alert("nonfinite_loss")).result == "stopping"
    second = stopper.stop(t, alert("diverging"))
    assert second.result == "already-stopping" and second.detail["first_rule"] == "nonfinite_loss"
    proc.wait(10)
    stopper.wait(5)
    sent = [x for x in read(tmp_path / "audit.jsonl") if x["result"] == "signal-sent"]
    assert [x["signal"] for x in sent] == ["SIGINT", "SIGKILL"]


def test_checkpoint_signal_first(tmp_path):
    proc, _ = spawn(tmp_path, IGNORE="SIGUSR1")
    stopper = Stopper(StopPolicy(steps=(StopStep(signal.SIGUSR1, 0.2), StopStep(signal.SIGINT, 3.0))))
    t = from_pid(proc.pid)
    stopper.stop(t, alert())
    assert proc.wait(10) == 3
    stopper.wait(5)
    assert stopper.outcome(t) == "exited after SIGINT"


def test_dry_run_signals_nothing(tmp_path):
    proc, pids = spawn(tmp_path, WORKERS="1")
    try:
        r = Stopper(FAST, dry_run=True).stop(from_pid(proc.pid), alert())
        assert r.result == "dry-run"
        assert sorted(r.detail["would_signal"]) == sorted(pids) and r.detail["mode"] == "group"
        assert r.detail["steps"] == ["SIGINT+3s", "SIGTERM+0.5s", "SIGKILL+3s"]
        assert proc.poll() is None
    finally:
        for p in pids:
            os.kill(p, signal.SIGKILL)
        proc.wait()


def test_exec_instead_of_signals(tmp_path):
    proc, _ = spawn(tmp_path)
    mark = tmp_path / "exec.txt"
    # The command sees the job's pid through the template, and does the stopping itself.
    policy = StopPolicy(exec=f"sh -c 'echo {{pid}} {{rule}} > {mark}; kill -INT {{pid}}'", exec_wait=5.0)
    stopper = Stopper(policy)
    t = from_pid(proc.pid)
    stopper.stop(t, alert())
    assert proc.wait(10) == 3
    stopper.wait(5)
    assert mark.read_text().split() == [str(proc.pid), "nonfinite_loss"]
    assert stopper.outcome(t) == "exited after exec"
