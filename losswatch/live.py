"""The live loop: the one thread that owns the `Monitor` while logs are followed.

The monitor is single-threaded on purpose. Everything that happens elsewhere — file followers
(watchdog threads), the job-output pump of `losswatch run`, the GPU sampler, the TUI — reaches it
through this loop: followers hand their bytes over a queue (`follow`), everyone else posts a
function to run on the loop thread (`post`). The loop feeds the monitor in arrival order and calls
`monitor.tick()` every `tick_interval` seconds so that time-based rules (stalls) work while nothing
is written. With nothing to do it sleeps on a condition variable: no busy polling.

Back-pressure: followers block once `max_pending_bytes` are queued and not yet fed, so a huge
backlog or a burst of a million lines never piles up in memory faster than it is parsed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from losswatch.events import RunChanged
from losswatch.ingest.follow import Follower
from losswatch.monitor import Monitor, Run

log = logging.getLogger(__name__)

MAX_PENDING_BYTES = 32 << 20
# A followed log whose format is still undecided after this long without new bytes is decided on
# what it has (a young log may print few lines for a long time; its samples must not wait).
DECIDE_WHEN_QUIET = 1.0
_JOIN_BYTES = 4 << 20  # consecutive chunks of one run are fed together up to this size

# Queue items: ("data", run, bytes) | ("restart", run, reason) | ("call", fn)
_Item = tuple


class LiveLoop:
    """Owns a Monitor on one thread; other threads talk to it through `follow` and `post`."""

    def __init__(self, monitor: Monitor, tick_interval: float = 1.0,
                 max_pending_bytes: int = MAX_PENDING_BYTES) -> None:
        self.monitor = monitor
        self.tick_interval = tick_interval
        self.max_pending_bytes = max_pending_bytes
        self.followers: list[Follower] = []
        self._items: deque[_Item] = deque()
        self._pending_bytes = 0
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._observer = None
        self.loop_thread: threading.Thread | None = None
        self.errors = 0
        self._last_data: dict[str, float] = {}

    # -- sources -----------------------------------------------------------------------------------

    def follow(self, path: str, run: Run | str | None = None, poll: float | None = None,
               format_name: str | None = None) -> Follower:
        """Start following `path` for `run` (a Run, a run name, or None: the path names the run).

        The file is read from its start. Called from another thread while the loop runs, the run
        is created on the loop thread (the monitor is not thread-safe) and this waits for it.
        """
        if self.loop_thread is not None and threading.current_thread() is not self.loop_thread:
            made: list[Follower] = []
            ready = threading.Event()

            def on_loop() -> None:
                try:
                    made.append(self.follow(path, run, poll, format_name))
                finally:
                    ready.set()

            self.post(on_loop)
            if not ready.wait(10) or not made:
                raise RuntimeError(f"the live loop did not start following {path}")
            return made[0]
        if not isinstance(run, Run):
            name = run or path
            run = self.monitor.runs.get(name) or self.monitor.add_run(name, format_name)
        r = run
        observer = None if poll is not None else self._shared_observer()
        follower = Follower(
            path,
            on_data=lambda data: self._submit(("data", r, data), len(data)),
            on_restart=lambda reason: self._submit(("restart", r, reason), 0),
            on_status=lambda kind, detail: self.post(
                lambda: self.monitor.emit(RunChanged(r.name, kind, {"path": path, **detail}))),
            poll=poll,
            observer=observer,
        )
        self.followers.append(follower)
        follower.start()
        return follower

    def feed(self, run: Run, data: bytes) -> None:
        """Bytes of a run's log from a source thread (a job-output pump, a replay): fed in order.

        Blocks while too much is queued (back-pressure), so call it from the source's own thread.
        """
        self._submit(("data", run, data), len(data))

    def finish(self, run: Run) -> None:
        """The run's log is complete (a replay's end, a job's exit): read its last unfinished line."""
        self.post(lambda: self.monitor.finish(run))

    def post(self, fn: Callable[[], object]) -> None:
        """Run `fn()` on the loop thread, after what is already queued. Safe from any thread; never blocks."""
        with self._cond:
            self._items.append(("call", fn))
            self._cond.notify()

    def _submit(self, item: _Item, nbytes: int) -> None:
        with self._cond:
            while (self._pending_bytes > self.max_pending_bytes and not self._stop.is_set()
                   and threading.current_thread() is not self.loop_thread):
                self._cond.wait(0.5)
            if self._stop.is_set():
                return
            self._items.append(item)
            self._pending_bytes += nbytes
            self._cond.notify_all()

    def _shared_observer(self):
        if self._observer is None:
            from watchdog.observers import Observer

            self._observer = Observer()
            self._observer.daemon = True
            self._observer.start()
        return self._observer

    # -- the loop ----------------------------------------------------------------------------------

    def run(self, stop: threading.Event | None = None) -> None:
        """Process queued work until `stop` (or `self.stop()`); tick the monitor every tick_interval."""
        stop = stop or self._stop
        self.loop_thread = threading.current_thread()
        next_tick = time.monotonic() + self.tick_interval
        try:
            while not stop.is_set() and not self._stop.is_set():
                with self._cond:
                    while not self._items and not stop.is_set() and not self._stop.is_set():
                        timeout = next_tick - time.monotonic()
                        if timeout <= 0:
                            break
                        self._cond.wait(min(timeout, 1.0))
                    items = list(self._items)
                    self._items.clear()
                    self._pending_bytes = 0
                    self._cond.notify_all()
                self._process(items)
                now = time.monotonic()
                if now >= next_tick:
                    self._safely(self._settle_formats, now)
                    self._safely(self.monitor.tick)
                    next_tick = now + self.tick_interval
        finally:
            self.loop_thread = None

    def _process(self, items: list[_Item]) -> None:
        i, n = 0, len(items)
        while i < n:
            item = items[i]
            kind = item[0]
            if kind == "data":
                run, data = item[1], item[2]
                # join consecutive chunks of the same run: fewer, larger feeds
                j = i + 1
                if j < n and items[j][0] == "data" and items[j][1] is run:
                    parts, size = [data], len(data)
                    while j < n and items[j][0] == "data" and items[j][1] is run and size < _JOIN_BYTES:
                        parts.append(items[j][2])
                        size += len(items[j][2])
                        j += 1
                    data = b"".join(parts)
                self._safely(self.monitor.feed, run, data)
                self._last_data[run.name] = time.monotonic()
                i = j
                continue
            if kind == "restart":
                self._safely(self.monitor.restart, item[1], item[2])
            elif kind == "call":
                self._safely(item[1])
            i += 1

    def _settle_formats(self, now: float) -> None:
        for name, last in list(self._last_data.items()):
            run = self.monitor.runs.get(name)
            if run is None or not run.reader.undecided or now - last < DECIDE_WHEN_QUIET:
                continue
            batch = run.reader.decide()
            if run.format_name is not None:
                self.monitor.emit(RunChanged(run.name, "format", {"format": run.format_name}))
            self.monitor.add_samples(run, batch)

    def _safely(self, fn: Callable, *args) -> None:
        """A bug in one rule or face must not stop the monitoring of a job: log it and go on."""
        try:
            fn(*args)
        except Exception:
            self.errors += 1
            log.exception("error in the live loop")

    def drain(self) -> None:
        """Process everything queued now, on the calling thread (tests, `replay` end, shutdown)."""
        with self._cond:
            items = list(self._items)
            self._items.clear()
            self._pending_bytes = 0
            self._cond.notify_all()
        self._process(items)

    # -- background thread convenience -------------------------------------------------------------

    def start(self) -> None:
        """Run the loop on a background thread."""
        self._thread = threading.Thread(target=self.run, name="losswatch-live", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop following and stop the loop (its thread too, when started with `start`)."""
        for f in self.followers:
            f._stopping.set()
        with self._cond:
            self._stop.set()
            self._cond.notify_all()
        for f in self.followers:
            f.stop(timeout)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout)
            self._observer = None

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()
