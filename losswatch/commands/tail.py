"""`losswatch tail PATH...`: follow logs live; the TUI on a terminal, else JSON events on stdout.

Headless output is one JSON object per line per event (DESIGN.md): alerts, actions, run changes
(format detected, file waiting/rotated/truncated) and, with `--emit samples`, every sample.
Runs until interrupted (Ctrl-C, SIGTERM) or until stdout is closed.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

from losswatch.act.dispatcher import for_command
from losswatch.commands.common import (
    add_format_args,
    add_rule_args,
    check_format_args,
    make_engine,
    reload_rules,
)
from losswatch.commands.gpu import add_gpu_sampling_arg, gpu_sampling
from losswatch.errors import UsageError
from losswatch.headless import JsonPrinter
from losswatch.live import LiveLoop
from losswatch.monitor import Monitor

DEFAULT_POLL = 0.25


def add_poll_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--poll", action="store_true",
                   help="poll the file instead of using inotify (chosen by itself on NFS and other file "
                        "systems where inotify cannot see writes)")
    p.add_argument("--poll-interval", type=float, default=DEFAULT_POLL, metavar="SECONDS",
                   help=f"how often to poll (default {DEFAULT_POLL})")


def poll_of(args: argparse.Namespace) -> float | None:
    """The polling interval asked for, None for inotify where it works."""
    if args.poll_interval <= 0:
        raise UsageError("--poll-interval must be > 0")
    return args.poll_interval if args.poll else None


def add_face_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--headless", action="store_true", help="print JSON events on stdout, even on a terminal")
    p.add_argument("--emit", action="append", default=[], choices=["samples"],
                   help="also print these events (samples: one JSON object per data point)")


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("tail", help="follow training logs live (TUI, or JSON events with --headless)")
    p.add_argument("paths", nargs="+", metavar="PATH", help="log files (they may not exist yet)")
    p.add_argument("--pid", type=int, default=None, help="the job's process id (the target of stop actions)")
    p.add_argument("--dry-run", action="store_true", help="show what actions would do, do nothing")
    p.add_argument("--quiet", action="store_true", help="no notifications (alerts are still reported)")
    add_gpu_sampling_arg(p)
    add_face_args(p)
    add_poll_arg(p)
    add_format_args(p)
    add_rule_args(p)
    return p


def _check_path(path: str) -> None:
    """A path that may not exist yet is fine (we wait for it); a directory or an unreadable file is not."""
    if os.path.isdir(path):
        raise UsageError("is a directory, not a log file", path)
    if os.path.exists(path) and not os.access(path, os.R_OK):
        raise UsageError("permission denied", path)
    parent = os.path.dirname(os.path.abspath(path))
    if os.path.exists(parent) and not os.path.isdir(parent):
        raise UsageError("a parent of this path is not a directory", path)


def want_tui(args: argparse.Namespace) -> bool:
    """TUI when stdout is a terminal, not asked to be headless, and the TUI is installed."""
    if args.headless or not sys.stdout.isatty():
        return False
    try:
        import losswatch.tui  # noqa: F401
    except ImportError:
        return False
    return True


def run_headless(loop, args: argparse.Namespace) -> int:
    """Run the loop on this thread until SIGINT/SIGTERM or a closed stdout."""
    stop = threading.Event()

    def on_signal(signum, frame) -> None:
        stop.set()
        loop.post(lambda: None)  # wake the loop now rather than at its next tick

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        loop.run(stop)
    except BrokenPipeError:
        pass
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        loop.stop()
    return 0


def run(args: argparse.Namespace) -> int:
    check_format_args(args)
    for path in args.paths:
        _check_path(path)
    monitor = Monitor(engine=make_engine(args))
    loop = LiveLoop(monitor)
    # stop/notify/webhook/exec: target from --pid or the process found writing the log
    monitor.actions = for_command(args, monitor.engine, list(args.paths), loop.post, monitor.emit)
    if want_tui(args):
        from losswatch import tui

        for path in args.paths:
            loop.follow(path, path, poll=poll_of(args), format_name=args.format_name)
        with gpu_sampling(loop, monitor, args):
            return int(tui.run_tui(monitor, loop, list(args.paths), reload_rules=lambda: reload_rules(monitor, args),
                                   silence=monitor.actions.silence) or 0)
    monitor.subscribe(_broken_pipe_safe(JsonPrinter(samples="samples" in args.emit), loop))
    for path in args.paths:
        loop.follow(path, path, poll=poll_of(args), format_name=args.format_name)
    with gpu_sampling(loop, monitor, args):
        return run_headless(loop, args)


def _broken_pipe_safe(printer: JsonPrinter, loop: LiveLoop):
    """Stop following when whoever reads stdout goes away (`| head`)."""

    def emit(ev) -> None:
        if loop.stopped:
            return
        try:
            printer(ev)
        except BrokenPipeError:
            try:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, sys.stdout.fileno())
            except OSError:
                pass
            loop._stop.set()

    return emit
