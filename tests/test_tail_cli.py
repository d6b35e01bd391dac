"""`losswatch tail --headless` as a real subprocess on a file a writer appends to."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time

import pytest

from tests.conftest import ROOT

ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def spawn(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "losswatch", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=ENV, cwd=ROOT)


def json_lines(proc: subprocess.Popen) -> queue.Queue:
    q: queue.Queue = queue.Queue()

    def pump() -> None:
        for line in proc.stdout:
            q.put(json.loads(line))
        q.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return q


def take_until(q: queue.Queue, cond, timeout: float = 30.0) -> list[dict]:
    got: list[dict] = []
    end = time.monotonic() + timeout
    while not cond(got):
        obj = q.get(timeout=max(0.01, end - time.monotonic()))
        assert obj is not None, f"tail ended early after {got}"
        got.append(obj)
    return got


@pytest.mark.parametrize("mode", [[], ["--poll", "--poll-interval", "0.05"]], ids=["inotify", "poll"])
def test_tail_headless_emits_every_sample_as_written(tmp_path, mode):
    path = tmp_path / "train.log"
    path.write_text("step=0 loss=2.5\n")
    proc = spawn("tail", "--headless", *mode, "--emit", "samples", "--format", "kv", str(path))
    try:
        q = json_lines(proc)

        def samples(objs):
            return [o for o in objs if o["event"] == "sample"]

        got = take_until(q, lambda objs: len(samples(objs)) >= 1)
        with open(path, "a") as f:
            for i in range(1, 50):
                f.write(f"step={i} loss={2.5 - i / 100}\n")
                f.flush()
            f.write("step=50 loss=nan\n")
        got += take_until(q, lambda objs: len(samples(got + objs)) >= 51)
        s = samples(got)
        assert [o["step"] for o in s] == list(range(51))
        assert [o["value"] for o in s[:50]] == [2.5 - i / 100 for i in range(50)]
        assert s[50]["value"] == "nan"
        assert all(o["metric"] == "loss" and o["run"] == str(path) and o["line"] == o["step"] + 1 for o in s)
        following = [o for o in got if o["event"] == "run" and o["kind"] == "following"]
        assert following and following[0]["mode"] == ("poll" if mode else "inotify")
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err


def test_tail_waits_for_a_missing_file(tmp_path):
    path = tmp_path / "later.log"
    proc = spawn("tail", "--headless", "--emit", "samples", str(path))
    try:
        q = json_lines(proc)
        take_until(q, lambda objs: any(o.get("kind") == "waiting" for o in objs))
        with open(path, "w") as f:
            f.write("".join(f"step={i} loss={1 + i}\n" for i in range(20)))
        got = take_until(q, lambda objs: sum(o["event"] == "sample" for o in objs) >= 20)
        assert [o["value"] for o in got if o["event"] == "sample"] == [1 + i for i in range(20)]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=10)


def test_tail_bad_input_is_one_line_exit_2(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "losswatch", "tail", "--headless", str(tmp_path)],
                          capture_output=True, text=True, env=ENV, cwd=ROOT, timeout=30)
    assert proc.returncode == 2
    assert str(tmp_path) in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    proc = subprocess.run([sys.executable, "-m", "losswatch", "tail", "--headless", "--format", "nope",
                           str(tmp_path / "x.log")], capture_output=True, text=True, env=ENV, cwd=ROOT, timeout=30)
    assert proc.returncode == 2 and "nope" in proc.stderr and "Traceback" not in proc.stderr
