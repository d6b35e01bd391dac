"""The GPU rule pack (losswatch/rules/gpu.yaml) through the real engine, on series read by the real
GpuReader from a scripted fake `pynvml`, with a real kv log fed next to them. One reading per
simulated second: the readings' wall times are set to that clock (the rules' `for: 10m` is wall time)."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from losswatch.engine import build_engine
from losswatch.events import AlertChanged
from losswatch.gpu import GpuReader, Job, reading_to_batch
from losswatch.monitor import Monitor
from tests.fakenvml import FakeDevice, FakeNvml, build_module

T0 = 1_800_000_000.0


@pytest.fixture
def install(monkeypatch):
    def put(fake: FakeNvml):
        monkeypatch.setitem(sys.modules, "pynvml", build_module(fake))
    return put


def simulate(seconds: int, job: Job | None = None, log_every: int | None = 10, log_until: int | None = None):
    """Feed `seconds` readings (1 Hz) and a loss line every `log_every` s; return the GPU rules' alerts."""
    monitor = Monitor(engine=build_engine([], [], True))
    run = monitor.add_run("train.log", "kv")
    alerts: list = []
    monitor.subscribe(lambda ev: alerts.append(ev.alert) if isinstance(ev, AlertChanged) else None)
    reader = GpuReader(job=job)
    step = 0
    for i in range(seconds):
        t = T0 + i
        if log_every and i % log_every == 0 and (log_until is None or i < log_until):
            step += 10
            monitor.feed(run, f"step={step} loss={2.0 / math.sqrt(step)}\n".encode(), wall_time=t)
        r = reader.read()
        r.wall_time = t
        monitor.add_samples(run, reading_to_batch(r, i))
        monitor.tick(t + 0.5)
    return [a for a in alerts if a.rule.startswith("gpu_")]


def fired(alerts, rule):
    return [a for a in alerts if a.rule == rule and a.state == "firing"]


def wobble(base: float, amp: float, n: int, period: int = 7) -> list[float]:
    return [base + amp * math.sin(2 * math.pi * i / period) for i in range(n)]


def healthy_device(n: int) -> FakeDevice:
    return FakeDevice(util=wobble(95, 4, n), mem_used_mib=wobble(50000, 200, n, 13), temp=wobble(66, 2, n, 31),
                      slowdown=90, power_w=wobble(350, 20, n))


def test_healthy_run_raises_no_gpu_alert(install):
    install(FakeNvml(devices=[healthy_device(1500), healthy_device(1500)]))
    assert simulate(1500) == []


def test_underutilized_fires_after_warmup_and_window(install):
    n = 1500
    util = [int(u) for u in wobble(40, 10, n)]  # NVML reports whole percents
    install(FakeNvml(devices=[FakeDevice(util=util, mem_used_mib=[30000])]))
    alerts = simulate(n)
    f = fired(alerts, "gpu_underutilized")
    assert len(f) == 1 and f[0].severity == "info"
    assert 1190 <= f[0].step <= 1260  # warm-up 600 readings, then 10 minutes pending
    k = int(f[0].step)
    p95 = float(np.quantile(util[k - 299:k + 1], 0.95))  # what the rule saw: the last 300 readings
    assert f[0].value == pytest.approx(p95) and 45 < p95 < 50
    assert "input-pipeline or CPU bound" in f[0].advice and f"p95 {p95:.0f}%" in f[0].message


def test_underutilized_catches_a_fluctuating_gpu(install):
    n = 1500
    util = [0 if i % 5 == 0 else 100 for i in range(n)]  # busy, but idle 20% of the time
    install(FakeNvml(devices=[FakeDevice(util=util, mem_used_mib=[30000])]))
    f = fired(simulate(n), "gpu_underutilized")
    assert len(f) == 1 and f[0].value == 100 and "p5 0%" in f[0].message


def test_idle_while_running_needs_a_living_job(install):
    n = 900
    util = [95] * 400 + [0] * (n - 400)  # the job stops computing at 400 s, and stops logging
    job = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        install(FakeNvml(devices=[FakeDevice(util=util, mem_used_mib=[30000])]))
        f = fired(simulate(n, job=Job(job.pid, env={}), log_until=400), "gpu_idle_while_running")
    finally:
        job.kill()
        job.wait()
    assert len(f) == 1 and f[0].severity == "warning" and f[0].actions == ["notify"]
    # the last loss is at 390 s; quiet for > 300 s from 691 s, then `for: 1m`; the step is where the log stopped
    assert 745 <= f[0].wall_time - T0 <= 760 and f[0].step == 400 and "training looks hung" in f[0].message
    # the same series after the job has ended: finished, not hung
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    install(FakeNvml(devices=[FakeDevice(util=util, mem_used_mib=[30000])]))
    assert fired(simulate(n, job=Job(ended.pid, env={}), log_until=400), "gpu_idle_while_running") == []


def test_mem_near_full(install):
    n = 400
    mem = [60000] * 100 + [79000] * 200 + [60000] * 100  # 81920 MiB GPU: 96% from 100 s to 300 s
    install(FakeNvml(devices=[FakeDevice(util=[95], mem_used_mib=mem)]))
    alerts = simulate(n)
    f = fired(alerts, "gpu_mem_near_full")
    assert len(f) == 1 and 155 <= f[0].step <= 165 and "96% full" in f[0].message
    resolved = [a for a in alerts if a.rule == "gpu_mem_near_full" and a.state == "resolved"]
    assert len(resolved) == 1 and 355 <= resolved[0].step <= 365


def test_mem_creep_fires_on_growth_not_on_one_allocation(install):
    n = 1800
    total = 81920
    creep = [total * (0.40 + 0.10 * i / 3600) for i in range(n)]  # +10% of the GPU per hour
    install(FakeNvml(devices=[FakeDevice(util=[95], mem_used_mib=creep)]))
    f = fired(simulate(n), "gpu_mem_creep")
    assert len(f) == 1 and f[0].severity == "warning" and "leak" in f[0].message
    assert f[0].value == pytest.approx(0.10, rel=0.05) and 1190 <= f[0].step <= 1260
    step_up = [total * (0.40 if i < 900 else 0.60) for i in range(n)]  # one allocation (e.g. first eval)
    install(FakeNvml(devices=[FakeDevice(util=[95], mem_used_mib=step_up)]))
    assert fired(simulate(n), "gpu_mem_creep") == []


def test_hot_gpu_uses_the_slowdown_threshold_nvml_reports(install):
    n = 500
    temp = [70] * 100 + [84] * 200 + [70] * 200
    install(FakeNvml(devices=[FakeDevice(util=[95], mem_used_mib=[30000], temp=temp, slowdown=88)]))
    alerts = simulate(n)
    f = fired(alerts, "gpu_hot")
    assert len(f) == 1 and 155 <= f[0].step <= 165 and f[0].value == 4 and "84C" in f[0].message
    assert [a.state for a in alerts if a.rule == "gpu_hot"][-1] == "resolved"
    # the same temperatures on a GPU whose threshold is higher: nothing
    install(FakeNvml(devices=[FakeDevice(util=[95], mem_used_mib=[30000], temp=temp, slowdown=95)]))
    assert fired(simulate(n), "gpu_hot") == []


def test_no_gpu_means_inactive_gpu_rules(install):
    install(FakeNvml(init_error="DriverNotLoaded"))
    assert simulate(1300) == []


def test_quantile_function():
    """The window function added to the engine for these rules, against numpy."""
    from losswatch.engine import functions as F

    xs = [3.0, 1.0, math.nan, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0, 5.0, 3.0]
    for q in (0.0, 0.05, 0.5, 0.95, 1.0):
        s = F.Quantile(False, 5, q)
        finite = []
        for i, x in enumerate(xs):
            s.push(i, x, 0.0)
            if x == x:
                finite.append(x)
            got = s.get()
            if len(finite) < 5:
                assert got is None
            else:
                assert got == pytest.approx(float(np.quantile(finite[-5:], q)))


def test_gpu_pack_yaml_unit_tests_pass():
    """tests/rules/gpu_pack_test.yaml through `losswatch rules test` (the promtool-style runner)."""
    import os

    from tests.conftest import ROOT

    p = subprocess.run([sys.executable, "-m", "losswatch", "rules", "test", "tests/rules/gpu_pack_test.yaml"],
                       capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                       timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "5/5 rule tests passed" in p.stdout
