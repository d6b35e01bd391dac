"""Arguments and set-up shared by several commands (rules, formats, reading a whole log)."""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
from collections.abc import Callable

from losswatch.errors import UsageError
from losswatch.ingest import formats
from losswatch.monitor import Monitor, Run

CHUNK = 1 << 20


def add_format_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", dest="format_name", metavar="NAME", help="log format (default: detect)")
    p.add_argument("--format-file", action="append", default=[], metavar="FILE",
                   help="YAML file with a `formats:` section of named regexes (repeatable)")


def add_rule_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rules", action="append", default=[], metavar="FILE",
                   help="rule file to add (same id replaces a shipped rule; repeatable)")
    p.add_argument("--disable", action="append", default=[], metavar="ID", help="disable a rule (repeatable)")
    p.add_argument("--no-default-rules", action="store_true", help="do not load the shipped rule packs")
    p.add_argument("--var", action="append", default=[], metavar="NAME=VALUE",
                   help="set a rule variable in every rule that declares it, e.g. --var classes=10 "
                        "(the class count initial_loss_off and stuck_at_chance use; repeatable)")


_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def parse_vars(items: list[str]) -> dict[str, float]:
    """`--var NAME=VALUE` options as {name: number}; a later one wins. A bad form is a UsageError."""
    out: dict[str, float] = {}
    for item in items:
        name, eq, text = item.partition("=")
        name = name.strip()
        if not eq:
            raise UsageError(f"--var {item}: expected NAME=VALUE, e.g. --var classes=10")
        if not _VAR_NAME.match(name):
            raise UsageError(f"--var {item}: bad name {name!r}: letters, digits and '_', not starting with a digit")
        try:
            value = float(text)
        except ValueError:
            raise UsageError(f"--var {item}: VALUE must be a number, got {text!r}") from None
        if not math.isfinite(value):
            raise UsageError(f"--var {item}: VALUE must be a finite number")
        out[name] = value
    return out


def check_format_args(args: argparse.Namespace) -> None:
    """Load user formats and validate --format before anything starts."""
    for path in getattr(args, "format_file", []) or []:
        from losswatch.ingest.formats.custom import load_format_file

        for cls in load_format_file(path):
            formats.register(cls)
    name = getattr(args, "format_name", None)
    if name is not None:
        try:
            formats.get_format(name)
        except KeyError as e:
            raise UsageError(e.args[0]) from None


def make_engine(args: argparse.Namespace):
    """The rule engine for these arguments, or None where no rule is loaded (nothing then passes
    samples through an engine; with no rule file at all it is not even imported) or the engine is
    not available."""
    overrides = parse_vars(getattr(args, "var", []) or [])
    rule_files = getattr(args, "rules", []) or []
    disable = getattr(args, "disable", []) or []
    defaults = not getattr(args, "no_default_rules", False)
    if not (defaults or rule_files or disable or overrides):
        return None
    try:
        from losswatch.engine import build_engine
    except ImportError:
        return None
    engine = build_engine(rule_files=rule_files, disable=disable, defaults=defaults, overrides=overrides)
    return engine if engine.rules else None


def check_readable(path: str) -> None:
    if not os.path.exists(path):
        raise UsageError("no such file", path)
    if os.path.isdir(path):
        raise UsageError("is a directory, not a log file", path)
    if not os.access(path, os.R_OK):
        raise UsageError("permission denied", path)


def read_whole(monitor: Monitor, run: Run, path: str, progress: Callable[[int, int], None] | None = None) -> None:
    """Feed a finished log to the monitor in chunks, then finish it."""
    try:
        size = os.path.getsize(path)
        done = 0
        with open(path, "rb") as f:
            while True:
                data = f.read(CHUNK)
                if not data:
                    break
                monitor.feed(run, data)
                done += len(data)
                if progress is not None:
                    progress(done, size)
    except OSError as e:
        raise UsageError(e.strerror or str(e), path) from None
    monitor.finish(run)


def stderr_progress(label: str) -> Callable[[int, int], None] | None:
    """A progress bar on stderr for big files, only when stderr is a terminal."""
    if not sys.stderr.isatty():
        return None
    state = {"last": -1}

    def show(done: int, total: int) -> None:
        if total < 8 * CHUNK:
            return
        pct = int(100 * done / max(total, 1))
        if pct != state["last"]:
            state["last"] = pct
            bar = "█" * (pct // 4) + " " * (25 - pct // 4)
            end = "\n" if done >= total else ""
            sys.stderr.write(f"\r{label} |{bar}| {pct:3d}% {done >> 20}/{total >> 20} MiB{end}")
            sys.stderr.flush()

    return show


def reload_rules(monitor, args: argparse.Namespace) -> str:
    """Read the rule files again (the TUI's reload key); a bad file keeps the old rules and says why.

    The new rules see the data that comes next; alerts already reported stay as they are.
    """
    try:
        engine = make_engine(args)
    except UsageError as e:
        return f"rules not reloaded: {e}"
    monitor.engine = engine
    return f"{len(getattr(engine, 'rules', []) or [])} rules loaded"
