"""`losswatch replay`: a finished log played as if live, paced by its own time stamps or a line rate."""

from __future__ import annotations

import json
import time

from losswatch.ingest.pace import is_stamped, line_time, schedule
from tests.cli import losswatch

lw = losswatch


def test_stamps_of_common_loggers():
    assert line_time(b"2021-12-07 13:57:38,253 - mmdet - INFO - Epoch [1][50/7330]") == 1638885458.253
    assert line_time(b"I0602 09:59:17.500000 20329 solver.cpp:218] Iteration 40") - \
        line_time(b"I0602 09:59:16.000000 20329 solver.cpp:218] Iteration 20") == 1.5
    assert line_time(b"[11/16 02:58:19] d2.utils.events INFO:  eta: 0:01") - \
        line_time(b"[11/16 02:58:09] d2.utils.events INFO:  eta: 0:01") == 10
    assert line_time(b"step=1 loss=0.5 time=12:00:01") is None


def test_schedule_follows_stamps_scaled_and_capped():
    lines = [b"2024-01-01 00:00:00 loss=1\n", b"no stamp loss=2\n", b"2024-01-01 00:00:10 loss=3\n",
             b"2024-01-01 00:00:30 loss=4\n", b"2024-01-01 05:00:00 loss=5\n"]
    assert is_stamped(lines)
    got = list(schedule(iter(lines), True, speed=10, lines_per_second=0, max_gap=3, slot=0.05))
    assert got == [(0.0, lines[0] + lines[1]), (1.0, lines[2]), (3.0, lines[3]), (6.0, lines[4])]
    flat = list(schedule(iter(lines), False, speed=2, lines_per_second=5, max_gap=3, slot=0.05))
    assert [d for d, _ in flat] == [0.1, 0.2, 0.30000000000000004, 0.4, 0.5]
    assert b"".join(b for _, b in schedule(iter(lines), True, 0, 0, 0)) == b"".join(lines)


def test_replay_headless_plays_every_sample_then_ends(tmp_path):
    path = tmp_path / "train.log"
    path.write_text("".join(f"step={i} loss={1 / (i + 1)}\n" for i in range(3000)) + "step=3000 loss=nan")
    proc = lw("replay", "--speed", "0", "--headless", "--emit", "samples", "--format", "kv", str(path))
    assert proc.returncode == 0, proc.stderr
    samples = [o for o in map(json.loads, proc.stdout.splitlines()) if o["event"] == "sample"]
    assert [o["step"] for o in samples] == list(range(3001))
    assert samples[-1]["value"] == "nan" and samples[5]["value"] == 1 / 6


def test_replay_is_paced_by_the_log_stamps(tmp_path):
    path = tmp_path / "train.log"
    path.write_text("".join(f"2024-01-01 00:00:{2 * i:02d},000 INFO step={i} loss={i + 0.5}\n" for i in range(6)))
    t0 = time.monotonic()
    proc = lw("replay", "--speed", "10", "--headless", "--emit", "samples", "--format", "kv", str(path))
    elapsed = time.monotonic() - t0
    assert proc.returncode == 0, proc.stderr
    samples = [o for o in map(json.loads, proc.stdout.splitlines()) if o["event"] == "sample"]
    assert [(o["step"], o["value"]) for o in samples if o["metric"] == "loss"] == [(i, i + 0.5) for i in range(6)]
    assert elapsed >= 1.0  # 10 s of log at 10× speed
    times = [o["time"] for o in samples if o["metric"] == "loss"]
    assert len(set(times)) == 6  # each line arrived on its own, as written


def test_replay_missing_file_is_exit_2(tmp_path):
    proc = lw("replay", str(tmp_path / "nope.log"))
    assert proc.returncode == 2 and "nope.log" in proc.stderr and "Traceback" not in proc.stderr
