"""A live pipeline on a real file for the follow tests: Follower → LiveLoop → Monitor (kv format).

Collects every sample and run event the monitor emits, so a test can compare them with exactly what
its writer wrote. Waiting is on conditions with a deadline, never on fixed sleeps.
"""

from __future__ import annotations

import time
from array import array
from collections.abc import Callable

from losswatch.events import RunChanged, SamplesAdded
from losswatch.live import LiveLoop
from losswatch.monitor import Monitor

DEADLINE = 30.0


def wait_until(cond: Callable[[], bool], timeout: float = DEADLINE, what: str = "condition") -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.002)


class Pipeline:
    def __init__(self, path, poll: float | None = None, metric: str = "loss", format_name: str | None = "kv",
                 keep_all: bool = False) -> None:
        self.metric = metric
        self.keep_all = keep_all
        self.all: list[tuple] = []  # (metric, step, value, line) of every sample, with keep_all
        self.steps = array("d")
        self.values = array("d")
        self.kinds: list[str] = []
        self.monitor = Monitor()
        self.monitor.subscribe(self._on_event)
        self.loop = LiveLoop(self.monitor, tick_interval=0.2)
        self.follower = self.loop.follow(str(path), "run", poll=poll, format_name=format_name)
        self.loop.start()

    def _on_event(self, ev) -> None:
        if isinstance(ev, SamplesAdded):
            b = ev.batch
            if self.keep_all:
                self.all.extend(zip(b.metrics, b.steps, b.values, b.lines, strict=True))
            if b.metrics.count(self.metric) == len(b):  # the usual case: every sample is the metric
                self.steps.extend(b.steps)
                self.values.extend(b.values)
                return
            for m, s, v in zip(b.metrics, b.steps, b.values, strict=True):
                if m == self.metric:
                    self.steps.append(s)
                    self.values.append(v)
        elif isinstance(ev, RunChanged):
            self.kinds.append(ev.kind)

    @property
    def count(self) -> int:
        return len(self.steps)

    def wait_count(self, n: int, timeout: float = DEADLINE) -> None:
        wait_until(lambda: self.count >= n, timeout, f"{n} samples (have {self.count})")

    def wait_kind(self, kind: str, timeout: float = DEADLINE) -> None:
        wait_until(lambda: kind in self.kinds, timeout, f"run event {kind!r} (have {self.kinds})")

    def wait_read(self, nbytes: int, timeout: float = DEADLINE) -> None:
        """Until the follower has read `nbytes` bytes in total (it saw everything written so far)."""
        wait_until(lambda: self.follower.bytes_read >= nbytes, timeout,
                   f"{nbytes} bytes read (have {self.follower.bytes_read})")

    def pairs(self) -> list[tuple[float, float]]:
        return list(zip(self.steps, self.values, strict=True))

    def close(self) -> None:
        self.loop.stop()
