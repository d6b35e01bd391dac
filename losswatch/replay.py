"""Play a finished log into a `Monitor` as if it were being written, from a thread of its own.

For `losswatch replay PATH --speed X` and the screenshots. Lines are fed at `lines_per_second`
(0 = as fast as the core reads them), in small blocks so the faces see the run grow. Same shape
as the live loop (`start`, `stop`, `post`, `done`), so a face does not care which one feeds it.
Core methods that a face wants called (`post(fn)`) run on this thread, between blocks.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable

from losswatch.monitor import Monitor, Run

BLOCK_BYTES = 1 << 16


class Replay:
    def __init__(self, monitor: Monitor, run: Run, path: str, lines_per_second: float = 0.0) -> None:
        self.monitor = monitor
        self.run = run
        self.path = path
        self.lines_per_second = lines_per_second
        self.done = threading.Event()
        self._stop = threading.Event()
        self._calls: queue.SimpleQueue[Callable[[], object]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def post(self, fn: Callable[[], object]) -> None:
        """Call `fn` on the feeding thread (thread-safe); after the log is done, it is called at once."""
        if self.done.is_set():
            fn()
        else:
            self._calls.put(fn)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._main, name="losswatch-replay", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def _calls_due(self) -> None:
        while True:
            try:
                fn = self._calls.get_nowait()
            except queue.Empty:
                return
            fn()

    def _main(self) -> None:
        try:
            self.play()
        except BaseException as e:  # reported to whoever waits on `done`
            self.error = e
        finally:
            self._calls_due()
            self.done.set()

    def play(self) -> None:
        """Feed the whole file (on the calling thread), paced when `lines_per_second` > 0."""
        with open(self.path, "rb") as f:
            if self.lines_per_second <= 0:
                while not self._stop.is_set():
                    data = f.read(BLOCK_BYTES)
                    if not data:
                        break
                    self.monitor.feed(self.run, data)
                    self._calls_due()
            else:
                block = max(1, int(self.lines_per_second / 20))
                t0 = time.monotonic()
                sent = 0
                while not self._stop.is_set():
                    lines = [ln for ln in (f.readline() for _ in range(block)) if ln]
                    if not lines:
                        break
                    self.monitor.feed(self.run, b"".join(lines))
                    self._calls_due()
                    sent += len(lines)
                    delay = t0 + sent / self.lines_per_second - time.monotonic()
                    if delay > 0 and self._stop.wait(delay):
                        break
        if not self._stop.is_set():
            self.monitor.finish(self.run)
