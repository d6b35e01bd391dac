"""`losswatch replay PATH`: play a finished log as if it were being written (TUI, or JSON events).

Paced by the log's own time stamps where it has them (`--speed` times faster), else at
`--lines-per-second` (times `--speed`). `--speed 0` plays as fast as it can be read. Headless output
is the same JSON events as `tail`; it ends when the log has been played.
"""

from __future__ import annotations

import argparse

from losswatch.commands.common import (
    add_format_args,
    add_rule_args,
    check_format_args,
    check_readable,
    make_engine,
)
from losswatch.commands.tail import add_face_args, run_headless, want_tui
from losswatch.errors import UsageError
from losswatch.headless import JsonPrinter
from losswatch.ingest.playback import Playback
from losswatch.live import LiveLoop
from losswatch.monitor import Monitor


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("replay", help="play a finished log as if live (TUI, or JSON events with --headless)")
    p.add_argument("path", metavar="PATH")
    p.add_argument("--speed", type=float, default=1.0, metavar="X",
                   help="times faster than written (default 1; 0 = as fast as possible)")
    p.add_argument("--lines-per-second", type=float, default=200.0, metavar="N",
                   help="pace of a log without time stamps, before --speed (default 200)")
    p.add_argument("--max-gap", type=float, default=5.0, metavar="SECONDS",
                   help="longest wait between two lines (default 5)")
    add_face_args(p)
    add_format_args(p)
    add_rule_args(p)
    return p


def run(args: argparse.Namespace) -> int:
    check_format_args(args)
    check_readable(args.path)
    for name in ("speed", "lines_per_second", "max_gap"):
        if getattr(args, name) < 0:
            raise UsageError(f"--{name.replace('_', '-')} must be ≥ 0")
    monitor = Monitor(engine=make_engine(args))
    run_ = monitor.add_run(args.path, args.format_name)
    loop = LiveLoop(monitor)
    playback = Playback(loop, run_, args.path, args.speed, args.lines_per_second, args.max_gap)
    if want_tui(args):
        from losswatch import tui

        return int(tui.run_tui(monitor, playback, [args.path]) or 0)
    monitor.subscribe(JsonPrinter(samples="samples" in args.emit))
    rc = run_headless(playback, args)
    if playback.error is not None:
        if isinstance(playback.error, OSError):
            raise UsageError(playback.error.strerror or str(playback.error), args.path)
        raise playback.error
    return rc
