"""The live loop: one thread owns the monitor; data, posted calls and ticks arrive on it, in order."""

from __future__ import annotations

import threading

from losswatch.events import SamplesAdded
from losswatch.live import LiveLoop
from losswatch.monitor import Monitor
from tests.follow_harness import wait_until


class RecordingEngine:
    """The engine protocol, recording which thread called it (the real engine lives elsewhere)."""

    def __init__(self) -> None:
        self.ticks = 0
        self.processed = 0
        self.threads: set[str] = set()

    def process(self, run, store, batch):
        self.processed += len(batch)
        self.threads.add(threading.current_thread().name)
        return []

    def tick(self, run, store, now):
        self.ticks += 1
        self.threads.add(threading.current_thread().name)
        return []


def test_data_posts_and_ticks_run_on_the_loop_thread_in_order(tmp_path):
    path = tmp_path / "train.log"
    path.write_text("step=1 loss=1.0\n")
    engine = RecordingEngine()
    monitor = Monitor(engine=engine)
    order: list[str] = []
    monitor.subscribe(lambda ev: order.append("samples") if isinstance(ev, SamplesAdded) else None)
    loop = LiveLoop(monitor, tick_interval=0.05)
    loop.follow(str(path), "run", format_name="kv")
    loop.start()
    try:
        wait_until(lambda: engine.processed == 1)
        loop.post(lambda: order.append("posted"))
        wait_until(lambda: "posted" in order)
        with open(path, "a") as f:
            f.write("step=2 loss=0.5\n")
        wait_until(lambda: engine.processed == 2)
        wait_until(lambda: engine.ticks >= 3, what="ticks while idle")
        assert order == ["samples", "posted", "samples"]
        assert engine.threads == {"losswatch-live"}
    finally:
        loop.stop()


def test_a_failing_call_does_not_stop_the_loop():
    loop = LiveLoop(Monitor(), tick_interval=0.05)
    loop.start()
    done = threading.Event()
    try:
        loop.post(lambda: 1 / 0)
        loop.post(done.set)
        assert done.wait(10)
        assert loop.errors == 1
    finally:
        loop.stop()


def test_back_pressure_bounds_what_is_queued(tmp_path):
    path = tmp_path / "big.log"
    path.write_bytes(b"".join(b"step=%d loss=0.5\n" % i for i in range(400_000)))  # ~7 MB
    monitor = Monitor()
    loop = LiveLoop(monitor, max_pending_bytes=1 << 20)
    follower = loop.follow(str(path), "run", format_name="kv")
    try:
        wait_until(lambda: follower.bytes_read > 0)
        # nobody runs the loop yet: the follower must stop reading at about the limit
        wait_until(lambda: loop._pending_bytes > (1 << 20), what="queue filled")
        assert follower.bytes_read <= (1 << 20) + 2 * follower.chunk
        loop.start()
        store = monitor.runs["run"].store
        wait_until(lambda: "loss" in store and store.get("loss").count >= 400_000, what="all samples")
        loop.post(lambda: None)
        assert store.get("loss").count == 400_000 and store.get("loss").last.step == 399_999
    finally:
        loop.stop()


def test_an_undecided_young_log_is_decided_once_quiet(tmp_path):
    path = tmp_path / "train.log"
    path.write_text("step=1 loss=1.0\nstep=2 loss=0.9\n")  # too few lines to be sure of a format
    monitor = Monitor()
    loop = LiveLoop(monitor, tick_interval=0.05)
    loop.follow(str(path), "run")
    loop.start()
    try:
        wait_until(lambda: "loss" in monitor.runs["run"].store, what="samples of a quiet young log")
        assert monitor.runs["run"].format_name == "kv"
        assert monitor.runs["run"].store.get("loss").count == 2
    finally:
        loop.stop()


def test_follow_from_another_thread_while_running(tmp_path):
    monitor = Monitor()
    loop = LiveLoop(monitor, tick_interval=0.05)
    loop.start()
    try:
        wait_until(lambda: loop.loop_thread is not None)
        path = tmp_path / "late.log"
        path.write_text("step=1 loss=0.25\n")
        loop.follow(str(path), "late", format_name="kv")
        wait_until(lambda: "late" in monitor.runs and "loss" in monitor.runs["late"].store)
        assert monitor.runs["late"].store.get("loss").last.value == 0.25
    finally:
        loop.stop()
