"""`losswatch formats [detect PATH...]`: list the known log formats, or say which one a log is."""

from __future__ import annotations

import argparse
import sys

from losswatch.commands.common import check_format_args
from losswatch.errors import UsageError
from losswatch.ingest import formats
from losswatch.ingest.lines import LineSplitter


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("formats", help="list log formats, or detect the format of a log")
    p.add_argument("action", nargs="?", choices=["list", "detect"], default="list")
    p.add_argument("paths", nargs="*", metavar="PATH")
    p.add_argument("--format-file", action="append", default=[], metavar="FILE",
                   help="YAML file with a `formats:` section of named regexes (repeatable)")
    return p


def first_lines(path: str, limit: int = formats.MAX_UNDECIDED_LINES) -> list[str]:
    splitter = LineSplitter()
    lines: list[str] = []
    try:
        with open(path, "rb") as f:
            while len(lines) < limit:
                data = f.read(1 << 20)
                if not data:
                    got = splitter.flush()
                    if got:
                        lines.append(got[1])
                    break
                got = splitter.feed(data)
                if got:
                    lines.extend(got[1].split("\n"))
    except OSError as e:
        raise UsageError(e.strerror or str(e), path) from None
    return lines[:limit]


def run(args: argparse.Namespace) -> int:
    check_format_args(args)
    if args.action == "list":
        for name, cls in formats.all_formats().items():
            print(f"{name:24} {cls.description}")
        from losswatch.ingest import rowscan

        print("native row scanner: " + ("in use" if rowscan.available() else
              "not in use (not built, or LOSSWATCH_PURE_PYTHON is set): the same samples, read slower"),
              file=sys.stderr)
        return 0
    if not args.paths:
        raise UsageError("formats detect needs a PATH")
    for path in args.paths:
        lines = first_lines(path)
        scores = formats.score_formats(lines)
        name = formats.detect(lines, final=True)
        others = ", ".join(f"{n} {s:.2f}" for s, _, n in scores[:4] if s > 0)
        print(f"{path}: {name}" + (f"  ({others})" if others else ""))
    return 0
