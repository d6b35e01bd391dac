"""Reading a log file for display: its tail as a terminal would show it, and the lines around one.

For the raw log pane and the alert context view. Progress-bar frames separated by '\\r' show as
their last frame and ANSI escapes are removed, as the terminal that wrote them would show them.
"""

from __future__ import annotations

import os
import re

ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")


def display(line: str) -> str:
    """What a terminal shows of one physical line: the last '\\r' frame, no escapes, tabs expanded."""
    line = line.rstrip("\r")
    if "\r" in line:
        frames = [f for f in line.split("\r") if f.strip()]
        line = frames[-1] if frames else ""
    return ANSI_RE.sub("", line).expandtabs(4)


def tail_lines(path: str, n: int, max_bytes: int = 256 * 1024) -> list[str]:
    """The last `n` lines of a file (as displayed), reading at most `max_bytes` from its end."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            start = max(0, size - max_bytes)
            f.seek(start)
            data = f.read()
    except OSError:
        return []
    text = data.decode("utf-8", errors="replace")
    lines = text.split("\n")
    if start > 0:
        lines = lines[1:]  # first one is cut
    if lines and lines[-1] == "":
        lines.pop()
    return [display(ln) for ln in lines[-n:]]


def lines_around(path: str, line_no: int, before: int = 8, after: int = 4) -> list[tuple[int, str]]:
    """(number, text) of the lines `line_no - before` .. `line_no + after` (1-based, '\\n'-ended)."""
    lo, hi = max(1, line_no - before), line_no + after
    out: list[tuple[int, str]] = []
    try:
        with open(path, "rb") as f:
            for i, raw in enumerate(f, start=1):
                if i >= lo:
                    out.append((i, display(raw.decode("utf-8", errors="replace").rstrip("\n"))))
                if i >= hi:
                    break
    except OSError:
        return []
    return out
