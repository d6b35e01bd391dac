"""The GPU sampler attached to the real live loop (LiveLoop + Monitor + a followed file): batches are
added to every run on the loop's thread, statuses become run events, and a hung NVML call never holds
up the log."""

from __future__ import annotations

import sys
import threading
import time

import pytest

from losswatch.events import RunChanged, SamplesAdded
from losswatch.gpu import attach_to_loop
from losswatch.live import LiveLoop
from losswatch.monitor import Monitor
from tests.fakenvml import FakeDevice, FakeNvml, build_module


@pytest.fixture
def install(monkeypatch):
    def put(fake: FakeNvml):
        monkeypatch.setitem(sys.modules, "pynvml", build_module(fake))
    return put


def wait_for(cond, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.01)
    return cond()


class Recorder:
    def __init__(self, monitor: Monitor) -> None:
        self.events: list = []
        self.threads: set[str] = set()
        monitor.subscribe(self)

    def __call__(self, ev) -> None:
        self.threads.add(threading.current_thread().name)
        self.events.append(ev)

    def gpu_status(self) -> list[tuple[str, str]]:
        return [(e.run, e.detail["status"]) for e in self.events if isinstance(e, RunChanged) and e.kind == "gpu"]


def test_batches_reach_every_run_on_the_loop_thread(install, tmp_path):
    install(FakeNvml(devices=[FakeDevice(util=[10, 20, 30, 40, 50, 60, 70, 80])]))
    monitor = Monitor()
    a, b = monitor.add_run("a.log"), monitor.add_run("b.log")
    rec = Recorder(monitor)
    loop = LiveLoop(monitor, tick_interval=0.2)
    loop.start()
    sampler = attach_to_loop(loop, monitor, interval=0.02)
    try:
        assert wait_for(lambda: a.store.get("gpu.util") is not None and a.store.get("gpu.util").count >= 5)
    finally:
        sampler.stop()
        loop.stop()
    for run in (a, b):
        s = run.store.get("gpu0.util")
        assert list(s.values)[:5] == [10, 20, 30, 40, 50] and list(s.steps)[:5] == [0, 1, 2, 3, 4]
        assert all(ln == 0 for ln in s.lines) and list(s.times) == sorted(s.times)
    assert rec.threads == {"losswatch-live"}
    assert rec.gpu_status()[:2] == [("a.log", "ready"), ("b.log", "ready")]
    assert all(isinstance(e, (SamplesAdded, RunChanged)) for e in rec.events)


def test_no_gpu_is_one_event_per_run_and_no_series(install):
    install(FakeNvml(init_error="LibraryNotFound"))
    monitor = Monitor()
    run = monitor.add_run("train.log")
    rec = Recorder(monitor)
    loop = LiveLoop(monitor, tick_interval=0.05)
    loop.start()
    sampler = attach_to_loop(loop, monitor, interval=0.01)
    try:
        assert wait_for(lambda: rec.gpu_status())
        time.sleep(0.2)  # would be ~20 readings at this rate if the sampler kept going
    finally:
        sampler.stop()
        loop.stop()
    assert rec.gpu_status() == [("train.log", "no_gpu")] and sampler.state == "no_gpu"
    assert run.store.metrics() == []


def test_log_keeps_flowing_while_nvml_hangs(install, tmp_path):
    release = threading.Event()
    fake = FakeNvml(devices=[FakeDevice(util=[50])])
    install(fake)
    path = tmp_path / "train.log"
    path.write_text("")
    monitor = Monitor()
    rec = Recorder(monitor)
    loop = LiveLoop(monitor, tick_interval=0.1)
    loop.follow(str(path), "train.log", format_name="kv")
    run = monitor.runs["train.log"]
    loop.start()
    sampler = attach_to_loop(loop, monitor, interval=0.02)
    sampler.hang_after = 0.3
    try:
        assert wait_for(lambda: run.store.get("gpu.util") is not None)
        fake.devices[0].hang["nvmlDeviceGetMemoryInfo"] = release  # the driver stops answering
        assert wait_for(lambda: ("train.log", "hung") in rec.gpu_status())
        gpu_points = run.store.get("gpu.util").count
        with open(path, "a") as f:
            for i in range(20):
                f.write(f"step={i} loss={1.0 / (i + 1)}\n")
        assert wait_for(lambda: run.store.get("loss") is not None and run.store.get("loss").count == 20)
        assert run.store.get("gpu.util").count == gpu_points  # nothing sampled, nothing invented meanwhile
        del fake.devices[0].hang["nvmlDeviceGetMemoryInfo"]
        release.set()
        assert wait_for(lambda: run.store.get("gpu.util").count > gpu_points)
    finally:
        release.set()
        sampler.stop()
        loop.stop()
    assert ("train.log", "answering") in rec.gpu_status()


def test_gpu_series_keep_a_bounded_recent_window():
    """Days of 1 Hz GPU readings for several runs must not cost the memory of a log's main series."""
    from losswatch.model import SampleBatch
    from losswatch.store import SAMPLED_RECENT, Store

    store = Store()
    n = 3 * SAMPLED_RECENT
    for i in range(n):
        b = SampleBatch(1e9 + i)
        b.add("gpu0.util", i, float(i % 100), 0)
        b.add("loss", i, 1.0, i + 1)
        store.add_batch(b)
    gpu, loss = store.get("gpu0.util"), store.get("loss")
    assert gpu.count == n and len(gpu.values) < 2 * SAMPLED_RECENT and gpu.values[-1] == (n - 1) % 100
    assert len(loss.values) == n  # a log's series keeps its (larger) default window
    assert gpu.max.value == 99 and len(gpu.overview.steps) > 0
