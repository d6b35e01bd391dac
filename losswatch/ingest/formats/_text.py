"""Helpers shared by the text-log parsers: the number token, its conversion, line numbers of matches.

Not a format (the registry skips modules whose name starts with '_').
"""

from __future__ import annotations

import math

from losswatch.model import parse_number

# A number as training logs print it, NaN/Inf spellings included ('-nan', 'inf', '-nan(ind)', '1.#INF').
NUM = (
    r"[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?"
    r"|(?i:nan(?:\(ind\))?|inf(?:inity)?)|1\.#(?:INF|IND|QNAN)\d*)"
)


def num(text: str) -> float | None:
    """The float of a number token (NaN/Inf kept), None when it is not a number."""
    try:
        return float(text)
    except ValueError:
        pass
    if "#" in text:  # MSVC: 1.#INF00, -1.#IND00, 1.#QNAN0
        t = text.upper()
        if "INF" in t:
            return -math.inf if t.startswith("-") else math.inf
        return math.nan
    return parse_number(text.strip("'\""))


def count_lines_upto(block: str, counted_pos: int, counted_line: int, pos: int) -> int:
    """Line index (0-based) of `pos` in `block`, counting on from a known (pos, line) pair."""
    return counted_line + block.count("\n", counted_pos, pos)


def any_match(pattern, lines: list[str], limit: int = 2000) -> int:
    """How many of the first `limit` lines `pattern` (a compiled regex) finds something in."""
    return sum(1 for ln in lines[:limit] if pattern.search(ln))
