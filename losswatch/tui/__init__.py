"""The Textual face of losswatch. The core never imports this package; it only subscribes to events.

`run_tui(monitor, loop, runs, ...)` opens the screen over a `Monitor` that `loop` (a live loop,
a replay, a job pump: anything with start/stop/post) feeds from its own thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from losswatch.monitor import Monitor
from losswatch.tui.job import JobControl, JobInfo

__all__ = ["JobControl", "JobInfo", "run_tui", "make_app"]


def make_app(monitor: Monitor, loop: Any = None, runs: list[str] | None = None, **kw: Any):
    """The app, subscribed to the monitor, not yet running (tests drive it with `run_test`)."""
    from losswatch.tui.app import LosswatchApp

    return LosswatchApp(monitor, loop, runs, **kw)


def run_tui(
    monitor: Monitor,
    loop: Any = None,
    runs: list[str] | None = None,
    *,
    job: JobControl | Callable[[str], JobControl | None] | None = None,
    reload_rules: Callable[[], str] | None = None,
    silence: Callable[[str, str, float], object] | None = None,
    title: str | None = None,
) -> int:
    """Run the TUI until the user quits; starts `loop` once the screen is up and stops it at the end.

    Quitting never stops the job. Returns 0.
    """
    app = make_app(monitor, loop, runs, job=job, reload_rules=reload_rules, silence=silence, title=title)
    app.run()
    return 0
