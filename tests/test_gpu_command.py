"""`losswatch gpu` as a real subprocess: on this machine's real NVML (no driver here), and on the fake
`pynvml` put first on PYTHONPATH with a JSON scenario (tests/fake_pynvml, tests/fakenvml.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.test_gpu import require_pid_namespace

FAKE_DIR = ROOT / "tests" / "fake_pynvml"


def losswatch(*args, scenario=None, tmp_path=None, wrap=()):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if scenario is not None:
        path = tmp_path / "scenario.json"
        path.write_text(json.dumps(scenario))
        env["PYTHONPATH"] = f"{FAKE_DIR}{os.pathsep}{ROOT}"
        env["LOSSWATCH_FAKE_NVML"] = str(path)
    return subprocess.run([*wrap, sys.executable, "-m", "losswatch", "gpu", *args], capture_output=True,
                          text=True, env=env, timeout=60)


SCENARIO = {"devices": [
    {"name": "NVIDIA H100 80GB HBM3", "uuid": "GPU-aaaa", "util": [97], "mem_used_mib": [70000], "temp": [66],
     "power_w": [612.3], "limit_w": 700, "slowdown": 87},
    {"name": "NVIDIA H100 80GB HBM3", "uuid": "GPU-bbbb", "util": [{"error": "GpuIsLost"}]},
]}


def test_no_driver_real_nvml():
    p = losswatch()
    if p.returncode == 0:
        pytest.skip("a real GPU is present")
    assert p.returncode == 1 and p.stderr == ""
    assert p.stdout.startswith("no GPU: ") and p.stdout.count("\n") == 1
    j = json.loads(losswatch("--json").stdout)
    assert j["state"] == "no_gpu" and j["reason"]


def test_table_and_json_on_fake(tmp_path):
    p = losswatch(scenario=SCENARIO, tmp_path=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "NVIDIA H100 80GB HBM3" in p.stdout and "97%" in p.stdout and "70000 / 81920" in p.stdout
    assert "612 / 700" in p.stdout and "66C (87)" in p.stdout
    assert "gpu1 lost" in p.stdout and "GPU is lost" in p.stdout
    j = json.loads(losswatch("--json", scenario=SCENARIO, tmp_path=tmp_path).stdout)
    assert j["state"] == "ok" and j["driver"] == "550.54.15"
    assert [d["index"] for d in j["devices"]] == [0]
    assert j["series"]["gpu.util"] == 97 and j["series"]["gpu0.power"] == 612.3
    assert j["series"]["gpu.temp_margin"] == 21
    assert [n["status"] for n in j["notes"]] == ["device_lost"]


def test_job_pid_memory(tmp_path):
    job = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"],
                           env={**os.environ, "CUDA_VISIBLE_DEVICES": "0"})
    try:
        scenario = {"devices": [
            {"util": [55], "mem_used_mib": [5000], "processes": [[[job.pid, 4321.5], [1, 100]]]},
            {"uuid": "GPU-b", "util": [5], "mem_used_mib": [10], "processes": [[]]}]}
        j = json.loads(losswatch("--json", "--pid", str(job.pid), scenario=scenario, tmp_path=tmp_path).stdout)
        assert j["job"]["pids"] == "visible" and j["job"]["gpu_mem_mib"] == 4321.5
        assert j["job"]["devices"] == [0] and j["series"]["gpu.util"] == 55 and j["series"]["job.gpu_mem"] == 4321.5
        assert j["devices"][0]["processes"][0]["name"] == f"{sys.executable} -c import time; time.sleep(30)"
        text = losswatch("--pid", str(job.pid), scenario=scenario, tmp_path=tmp_path).stdout
        assert f"job pid {job.pid} (running) on gpu0: GPU memory 4322 MiB" in text
    finally:
        job.kill()
        job.wait()


def test_bad_pid_is_a_usage_error(tmp_path):
    with open("/proc/sys/kernel/pid_max") as f:
        ghost = int(f.read()) + 5
    p = losswatch("--pid", str(ghost), scenario=SCENARIO, tmp_path=tmp_path)
    assert p.returncode == 2 and f"no process with pid {ghost}" in p.stderr and "Traceback" not in p.stderr


def test_in_a_pid_namespace_matches_are_not_trusted(tmp_path):
    """In a container (own pid namespace) NVML's pids are the host's: even a pid that happens to exist
    here is not taken as the job's. Real namespace via unshare; the fake lists pid 2 = the job inside."""
    require_pid_namespace()
    scenario = {"devices": [{"util": [50], "mem_used_mib": [1000], "processes": [[[2, 900]]]}]}
    path = tmp_path / "s.json"
    path.write_text(json.dumps(scenario))
    env = {**os.environ, "PYTHONPATH": f"{FAKE_DIR}{os.pathsep}{ROOT}", "LOSSWATCH_FAKE_NVML": str(path)}
    script = f"sleep 20 & {sys.executable} -m losswatch gpu --json --pid $!; kill $!"
    p = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "sh", "-c", script], capture_output=True,
                       text=True, env=env, timeout=60)
    j = json.loads(p.stdout)
    assert j["job"]["pid"] == 2 and j["job"]["pids"] == "hidden"
    assert "job.gpu_mem" not in j["series"]
    assert any(n["status"] == "pids_hidden" and "pid namespace" in n["message"] for n in j["notes"])


def test_a_hung_driver_does_not_hang_the_command(tmp_path):
    scenario = {"devices": [{"util": [50]}, {"util": [50], "hang": ["nvmlDeviceGetMemoryInfo"]}]}
    p = losswatch("--timeout", "0.5", scenario=scenario, tmp_path=tmp_path)
    assert p.returncode == 1 and p.stdout == ""
    assert "nvmlDeviceGetMemoryInfo on gpu1 did not return within 0.5 s" in p.stderr
