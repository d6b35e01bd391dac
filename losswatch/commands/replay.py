"""`losswatch replay PATH [--speed X]`: play a finished log as if it were being written.

TUI when stdout is a terminal (unless --headless), else one JSON object per event per line, as `tail`.
`--speed` is in lines per second (0: as fast as it can be read).
"""

from __future__ import annotations

import argparse
import sys

from losswatch.commands.common import (
    add_format_args,
    add_rule_args,
    check_format_args,
    check_readable,
    make_engine,
)
from losswatch.errors import UsageError
from losswatch.headless import JsonPrinter
from losswatch.monitor import Monitor
from losswatch.replay import Replay


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("replay", help="play a finished log as if live (TUI or headless)")
    p.add_argument("path", metavar="PATH")
    p.add_argument("--speed", type=float, default=200.0, metavar="X",
                   help="lines per second (default 200; 0 = as fast as possible)")
    p.add_argument("--headless", action="store_true", help="print JSON events instead of the TUI")
    add_format_args(p)
    add_rule_args(p)
    return p


def run(args: argparse.Namespace) -> int:
    check_format_args(args)
    check_readable(args.path)
    if args.speed < 0:
        raise UsageError("--speed must be ≥ 0")
    monitor = Monitor(engine=make_engine(args))
    run_ = monitor.add_run(args.path, args.format_name)
    replay = Replay(monitor, run_, args.path, args.speed)
    if sys.stdout.isatty() and not args.headless:
        from losswatch.tui import run_tui

        return run_tui(monitor, replay, [args.path])
    monitor.subscribe(JsonPrinter())
    replay.start()
    replay.done.wait()
    if replay.error is not None:
        raise replay.error
    return 0
