"""Helpers shared by the text-log parsers: the number token, its conversion, line numbers of matches.

Not a format (the registry skips modules whose name starts with '_').
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Callable, Iterable

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


def floats(texts) -> list[float | None]:
    """Numbers of a column of number tokens: one C-level pass when all are plain floats."""
    try:
        return column_floats(texts)
    except (ValueError, TypeError):
        return [None if t is None else num(t) for t in texts]


def column_floats(texts) -> list[float]:
    """Floats of a column of plain float texts (ValueError where one is not).

    A column that repeats its values (HF 'epoch' rounded to 2 decimals, a constant lr) converts
    each distinct text once: float() of a 16-digit text costs ~0.3 µs, a dict look-up a tenth.
    """
    if len(texts) > 64 and len(set(texts[:64])) <= 16:
        conv = {t: float(t) for t in set(texts)}
        return list(map(conv.__getitem__, texts))
    return list(map(float, texts))


def interleave(cols) -> list:
    """Columns of equal length row by row: [c0[0], c1[0], …, c0[1], c1[1], …].

    Strided slice assignment, a C-level copy per column: ~8× faster than chaining `zip(*cols)`,
    which makes a tuple per row. ValueError where the lengths differ.
    """
    k = len(cols)
    if k == 1:
        return list(cols[0])
    out = [None] * (len(cols[0]) * k)
    for j, col in enumerate(cols):
        out[j::k] = col
    return out


def emit_rows(out, metrics: tuple[str, ...], steps: list[float], cols: list[list[float | None]],
              lines: list[int], values: list[float] | None = None) -> None:
    """Add rows of samples column-wise: row r gives `metrics[j]` = `cols[j][r]` at `steps[r]`, `lines[r]`.

    Samples stay in line order (row by row). Where a value is None (not a number) only that sample
    is left out. Columnar so that a million rows cost a few C-level passes, not a million calls.
    `values` instead of `cols`: the values already row by row (row r's at r*k..r*k+k-1), none None.
    """
    n = len(lines)
    if not n:
        return
    k = len(metrics)
    if values is not None:
        out.metrics.extend(metrics * n)
        out.values.extend(values)
        if k == 1:
            out.steps.extend(steps)
            out.lines.extend(lines)
        else:
            out.steps.extend(interleave([steps] * k))
            out.lines.extend(interleave([lines] * k))
        return
    if any(None in c for c in cols):
        for r in range(n):
            for j in range(k):
                v = cols[j][r]
                if v is not None:
                    out.add(metrics[j], steps[r], v, lines[r])
        return
    out.metrics.extend(metrics * n)
    if k == 1:
        out.steps.extend(steps)
        out.values.extend(cols[0])
        out.lines.extend(lines)
        return
    out.steps.extend(interleave([steps] * k))
    out.values.extend(interleave(cols))
    out.lines.extend(interleave([lines] * k))


def merge_rows(row_idx: list[int], others: Iterable[tuple[int, str]], emit: Callable[[int, int], None],
               read: Callable[[int, str], None]) -> None:
    """Rows read column-wise and other lines read one by one, in line order.

    `row_idx`: the block index of each row (ascending); `others`: (block index, text) of the other
    lines (ascending). `emit(a, b)` adds rows a..b; `read(i, text)` reads an other line.
    """
    done = 0
    for i, text in others:
        j = bisect_left(row_idx, i, done)
        if j > done:
            emit(done, j)
            done = j
        read(i, text)
    if done < len(row_idx):
        emit(done, len(row_idx))


def drop_columns(flat: list, width: int, cols_desc: list[int]) -> None:
    """Remove columns `cols_desc` (descending) from the row-major rows of `width` in `flat`, in place."""
    for c in cols_desc:
        del flat[c::width]
        width -= 1
