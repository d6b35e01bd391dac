"""Play a finished log through a `LiveLoop` as if it were being written (`losswatch replay`).

A thread reads the file and hands blocks of lines to the loop when they are due (see `pace`), so
the rules, the faces and the timing-based alerts see the run grow as they would live. The object
has the live loop's shape (`start`, `stop`, `post`, `run`) so a face does not care which feeds it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

from losswatch.ingest.pace import is_stamped, schedule
from losswatch.live import LiveLoop
from losswatch.monitor import Run

SNIFF_LINES = 500


class Playback:
    def __init__(self, loop: LiveLoop, run: Run, path: str, speed: float = 1.0,
                 lines_per_second: float = 200.0, max_gap: float = 5.0) -> None:
        self.loop = loop
        self.monitor = loop.monitor
        self.run_ = run
        self.path = path
        self.speed = speed
        self.lines_per_second = lines_per_second
        self.max_gap = max_gap
        self.done = threading.Event()  # the whole log has been fed and finished
        self.stamped = False
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._stop_loop: threading.Event | None = None

    @staticmethod
    def _lines(head: list[bytes], f) -> Iterator[bytes]:
        yield from head
        yield from f

    def _play(self) -> None:
        try:
            with open(self.path, "rb") as f:
                head = [ln for ln in (f.readline() for _ in range(SNIFF_LINES)) if ln]
                self.stamped = is_stamped(head)
                t0 = time.monotonic()
                for due, block in schedule(self._lines(head, f), self.stamped, self.speed, self.lines_per_second,
                                           self.max_gap):
                    delay = t0 + due - time.monotonic()
                    if delay > 0 and self._stop.wait(delay):
                        return
                    if self._stop.is_set():
                        return
                    self.loop.feed(self.run_, block)
            self.loop.finish(self.run_)
        except BaseException as e:  # reported to whoever waits on `done`
            self.error = e
        self.loop.post(self._finished)

    def _finished(self) -> None:
        """On the loop thread, after the last block and the finish were processed."""
        self.done.set()
        if self._stop_loop is not None:
            self._stop_loop.set()

    # -- the live loop's shape -------------------------------------------------------------------

    def post(self, fn: Callable[[], object]) -> None:
        self.loop.post(fn)

    def start(self) -> None:
        """Loop and player on background threads (what the TUI calls)."""
        self._start_player()
        self.loop.start()

    def _start_player(self) -> None:
        self._thread = threading.Thread(target=self._play, name="losswatch-replay", daemon=True)
        self._thread.start()

    def run(self, stop: threading.Event | None = None) -> None:
        """Play on this thread's loop until the log is done (or `stop`)."""
        self._stop_loop = stop or threading.Event()
        self._start_player()
        self.loop.run(self._stop_loop)

    def stop(self) -> None:
        self._stop.set()
        self.loop.stop()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5)
