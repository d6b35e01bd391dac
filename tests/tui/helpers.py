"""Shared set-up for the TUI tests: a monitor fed from a real log, and waiting for the screen."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from losswatch.ingest.playback import Playback
from losswatch.live import LiveLoop
from losswatch.monitor import Monitor
from losswatch.tui import make_app

FIXED_CLOCK = 1_700_000_000.0


def replayed(paths: list[str | Path], **app_kw):
    """(app, monitor, players): each log played whole, as fast as it reads, once the app starts.

    The real live loop owns the monitor; one `Playback` per log hands it the bytes.
    """
    monitor = Monitor(**({"engine": app_kw.pop("engine")} if "engine" in app_kw else {}))
    loop = LiveLoop(monitor)
    players = []
    for p in paths:
        run = monitor.add_run(str(p))
        run.started = FIXED_CLOCK - 65
        players.append(Playback(loop, run, str(p), speed=0))
    app = make_app(monitor, Players(loop, players), [str(p) for p in paths], clock=lambda: FIXED_CLOCK, **app_kw)
    return app, monitor, players


class Players:
    """Several playbacks on one live loop, with the loop's shape (start, stop, post)."""

    def __init__(self, loop: LiveLoop, players: list[Playback]) -> None:
        self.loop = loop
        self.players = players
        self.posted = 0

    def start(self) -> None:
        for p in self.players:
            p._start_player()
        self.loop.start()

    def stop(self) -> None:
        for p in self.players:
            p._stop.set()
        self.loop.stop()

    def post(self, fn) -> None:
        self.posted += 1
        self.loop.post(fn)


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
