"""`losswatch tail` acting on a job started elsewhere: --pid, or the process found writing the log."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from tests.conftest import ROOT
from tests.jobs import pid_alive, wait_until, write_train
from tests.test_run_cli import env, rules


class Tail:
    """`losswatch tail --headless` in the background, its JSON events collected as they come."""

    def __init__(self, tmp, *args: str) -> None:
        self.p = subprocess.Popen([sys.executable, "-m", "losswatch", "tail", "--headless", *args], cwd=tmp,
                                  env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.events: list[dict] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.p.stdout:
            self.events.append(json.loads(line))

    def actions(self, name: str) -> list[dict]:
        return [e for e in self.events if e.get("event") == "action" and e["action"] == name]

    def close(self) -> str:
        self.p.send_signal(signal.SIGTERM)
        _, err = self.p.communicate(timeout=10)
        return err.decode()


def start_job(tmp, log, **job_env: str) -> subprocess.Popen:
    train = tmp / "train.py"
    if not train.exists():
        write_train(tmp)
    return subprocess.Popen([sys.executable, str(train)], env=env(LOG=str(log), **job_env), stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, start_new_session=True)


@pytest.fixture
def cleanup():
    procs: list[subprocess.Popen] = []
    yield procs
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_writer_of_the_log_is_found_and_stopped(tmp_path, cleanup):
    log = tmp_path / "train.log"
    job = start_job(tmp_path, log, NAN_AT="60", DELAY="0.02")
    cleanup.append(job)
    assert wait_until(lambda: log.exists() and log.stat().st_size > 0)
    tail = Tail(tmp_path, str(log), "--rules", rules(tmp_path))
    try:
        assert job.wait(20) == 3
        assert b"checkpoint saved" in job.stdout.read()
        assert wait_until(lambda: any(a["result"] == "done" for a in tail.actions("stop")))
        first = tail.actions("stop")[0]
        assert first["result"] == "stopping" and first["target"]["pid"] == job.pid
        assert first["target"]["source"] == "writer"
        assert [a["detail"]["outcome"] for a in tail.actions("stop") if a["result"] == "done"] == [
            "exited after SIGINT"]
        assert any(e.get("rule") == "nonfinite_loss" and e.get("state") == "firing" for e in tail.events)
    finally:
        tail.close()


def test_pid_option_names_the_job_even_with_other_writers(tmp_path, cleanup):
    log = tmp_path / "train.log"
    log.write_text("")
    # Someone else also holds the log open for writing: without --pid that would be ambiguous.
    other = subprocess.Popen([sys.executable, "-c", f"f = open({str(log)!r}, 'a'); import time; time.sleep(60)"])
    cleanup.append(other)
    job = start_job(tmp_path, log, NAN_AT="60", DELAY="0.02")
    cleanup.append(job)
    tail = Tail(tmp_path, str(log), "--pid", str(job.pid), "--rules", rules(tmp_path))
    try:
        assert job.wait(20) == 3
        assert wait_until(lambda: tail.actions("stop"))
        assert tail.actions("stop")[0]["target"]["source"] == "pid"
        assert other.poll() is None
    finally:
        tail.close()


def test_ambiguous_writers_mean_no_stop_but_alerts_still_fire(tmp_path, cleanup):
    log = tmp_path / "train.log"
    a = start_job(tmp_path, log, NAN_AT="30", STEPS="3000", DELAY="0.02")
    b = start_job(tmp_path, log, NAN_AT="100000", STEPS="3000", DELAY="0.02")
    cleanup += [a, b]
    assert wait_until(lambda: log.exists() and log.stat().st_size > 0)
    tail = Tail(tmp_path, str(log), "--rules", rules(tmp_path))
    try:
        assert wait_until(lambda: tail.actions("stop"), 20)
        stop = tail.actions("stop")[0]
        assert stop["result"] == "refused" and "unrelated processes write" in stop["detail"]["reason"]
        assert any(e.get("rule") == "nonfinite_loss" for e in tail.events)
        assert pid_alive(a.pid) and pid_alive(b.pid)
    finally:
        tail.close()


def test_no_writer_means_no_stop(tmp_path):
    log = tmp_path / "train.log"
    lines = [f"iter {i}: loss {1 / i:.4f}, time 10.00ms, mfu 5.00%" for i in range(1, 30)]
    log.write_text("\n".join(lines + ["iter 30: loss nan, time 10.00ms, mfu 5.00%"]) + "\n")
    tail = Tail(tmp_path, str(log), "--rules", rules(tmp_path))
    try:
        assert wait_until(lambda: tail.actions("stop"), 20)
        stop = tail.actions("stop")[0]
        assert stop["result"] == "refused" and "no process has" in stop["detail"]["reason"]
    finally:
        tail.close()


def test_pid_that_does_not_exist_is_a_usage_error(tmp_path):
    p = subprocess.Popen(["true"])
    p.wait()
    t0 = time.monotonic()
    cp = subprocess.run([sys.executable, "-m", "losswatch", "tail", "--headless", str(tmp_path / "x.log"),
                         "--pid", str(p.pid)], env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
                        timeout=30)
    assert cp.returncode == 2 and f"--pid {p.pid}: no process with pid {p.pid}" in cp.stderr.decode()
    assert time.monotonic() - t0 < 20
