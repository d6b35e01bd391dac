"""Shared set-up for the TUI tests: a monitor fed from a real log, and waiting for the screen."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from losswatch.monitor import Monitor
from losswatch.replay import Replay
from losswatch.tui import make_app

FIXED_CLOCK = 1_700_000_000.0


def replayed(paths: list[str | Path], **app_kw):
    """(app, monitor, replays): each log played fully by a Replay thread once the app starts."""
    monitor = Monitor(**({"engine": app_kw.pop("engine")} if "engine" in app_kw else {}))
    replays = []
    for p in paths:
        run = monitor.add_run(str(p))
        run.started = FIXED_CLOCK - 65
        replays.append(Replay(monitor, run, str(p)))
    loop = app_kw.pop("loop", None)
    if loop is None and replays:
        loop = Group(replays)
    app = make_app(monitor, loop, [str(p) for p in paths], clock=lambda: FIXED_CLOCK, **app_kw)
    return app, monitor, replays


class Group:
    """Starts/stops several replays as one loop."""

    def __init__(self, replays: list[Replay]) -> None:
        self.replays = replays
        self.posted = 0

    def start(self) -> None:
        for r in self.replays:
            r.start()

    def stop(self) -> None:
        for r in self.replays:
            r.stop()

    def post(self, fn) -> None:
        self.posted += 1
        self.replays[0].post(fn)


async def settle(pilot, app, replays=(), timeout: float = 10.0) -> None:
    """Wait until the replays are done and the app has drawn everything they produced."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(r.done.is_set() for r in replays) and not app.bridge.pending() and app._flush_timer is None:
            await pilot.pause()
            await asyncio.sleep(0.05)
            if not app.bridge.pending() and app._flush_timer is None:
                await pilot.pause()
                return
        await asyncio.sleep(0.02)
    raise AssertionError("the screen did not settle")


def screen_text(app) -> str:
    """The text the active screen shows now, one line per terminal row."""
    strips = app.screen._compositor.render_strips()
    return "\n".join(strip.text for strip in strips)
