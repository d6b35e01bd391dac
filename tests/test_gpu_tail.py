"""`losswatch tail --headless` samples the GPUs next to the log: GPU series as samples of the run, and
one clear event on a machine without a GPU (the real NVML here), none with --no-gpu."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.test_tail_cli import json_lines, take_until

FAKE_DIR = ROOT / "tests" / "fake_pynvml"


def spawn(*args, scenario=None, tmp_path=None):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LOSSWATCH_GPU_INTERVAL": "0.05"}
    if scenario is not None:
        path = tmp_path / "scenario.json"
        path.write_text(json.dumps(scenario))
        env["PYTHONPATH"] = f"{FAKE_DIR}{os.pathsep}{ROOT}"
        env["LOSSWATCH_FAKE_NVML"] = str(path)
    return subprocess.Popen([sys.executable, "-m", "losswatch", "tail", "--headless", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT)


def finish(proc):
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert b"Traceback" not in err
    return err


def gpu_events(objs):
    return [o for o in objs if o["event"] == "run" and o["kind"] == "gpu"]


def test_gpu_samples_flow_with_the_log(tmp_path):
    log = tmp_path / "train.log"
    log.write_text("step=1 loss=2.0\n")
    scenario = {"devices": [{"util": [10, 20, 30, 40, 50], "mem_used_mib": [1024], "temp": [50]}]}
    proc = spawn("--emit", "samples", "--format", "kv", str(log), scenario=scenario, tmp_path=tmp_path)
    try:
        q = json_lines(proc)
        got = take_until(q, lambda objs: sum(o.get("metric") == "gpu.util" for o in objs) >= 6)
    finally:
        finish(proc)
    util = [o for o in got if o.get("metric") == "gpu.util"]
    assert [o["value"] for o in util[:6]] == [10, 20, 30, 40, 50, 50]
    assert [o["step"] for o in util[:6]] == [0, 1, 2, 3, 4, 5]
    assert all(o["run"] == str(log) and o["line"] == 0 for o in util)
    assert any(o.get("metric") == "loss" for o in got)
    assert [e["status"] for e in gpu_events(got)] == ["ready"]


def test_no_gpu_is_one_event_then_quiet(tmp_path):
    probe = subprocess.run([sys.executable, "-m", "losswatch", "gpu"], capture_output=True, env={
        **os.environ, "PYTHONPATH": str(ROOT)})
    if probe.returncode == 0:
        pytest.skip("a real GPU is present")
    log = tmp_path / "train.log"
    log.write_text("step=1 loss=2.0\n")
    proc = spawn("--emit", "samples", "--format", "kv", str(log))
    try:
        q = json_lines(proc)
        got = take_until(q, lambda objs: gpu_events(objs))
        with open(log, "a") as f:
            for i in range(2, 40):
                f.write(f"step={i} loss={2.0 / i}\n")
        got += take_until(q, lambda objs: any(o.get("step") == 39 for o in objs))
    finally:
        err = finish(proc)
    ev = gpu_events(got)
    assert len(ev) == 1 and ev[0]["status"] == "no_gpu" and ev[0]["message"].startswith("no GPU: ")
    assert not any(str(o.get("metric", "")).startswith("gpu") for o in got)
    assert err == b""


def test_no_gpu_flag(tmp_path):
    log = tmp_path / "train.log"
    log.write_text("step=1 loss=2.0\n")
    scenario = {"devices": [{"util": [99]}]}
    proc = spawn("--no-gpu", "--emit", "samples", "--format", "kv", str(log), scenario=scenario, tmp_path=tmp_path)
    try:
        q = json_lines(proc)
        got = take_until(q, lambda objs: any(o.get("metric") == "loss" for o in objs))
        with open(log, "a") as f:
            f.write("step=2 loss=1.0\n")
        got += take_until(q, lambda objs: any(o.get("step") == 2 for o in objs))
    finally:
        finish(proc)
    assert gpu_events(got) == [] and not any(str(o.get("metric", "")).startswith("gpu") for o in got)
