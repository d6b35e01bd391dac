"""The hot loops of the text parsers in one native pass each, where the C extension is built:
the lines of a block that have one shape (`scan`), CRLF (`lf`), progress bars' last frames
(`last_frames`) and the text-event pre-filter's search for a few words (`contains_any`).

A parser describes its usual line as a template (literals and number slots) and asks `scan` for the
values of every line of the block that starts with (or holds) a word. The C scanner
(`_rowscan.c`) reads a line only when it is exactly of the template's shape; strict, it reads all
such lines or none (None: the parser reads the block its own pure-Python way), otherwise it hands
the other lines back for the parser to read one by one. `scan` also returns None when the extension
is not built or is switched off (`LOSSWATCH_PURE_PYTHON=1`). So the samples never depend on which
path ran: the template accepts only lines the parser's regex reads the same way (each item is taken
greedily, as `re` tries it first), and numbers are converted exactly as `float()` converts them.
tests/test_rowscan.py holds both paths to the same samples.
"""

from __future__ import annotations

import os
import re
from array import array
from typing import NamedTuple

try:
    from losswatch.ingest import _rowscan as _native
except ImportError:  # no C compiler at install time: the pure-Python path
    _native = None

if os.environ.get("LOSSWATCH_PURE_PYTHON"):
    _native = None

# Template items besides literal strings (the values of _rowscan.c's enum).
NUM = 1  # [-+]?\d+\.?\d*(?:[eE][-+]?\d+)?, kept
INT = 2  # \d+ without a leading zero, kept
WS = 3  # [ \t]*
REST = 4  # the rest of the line (last item only)
STAR = 5  # (STAR, chars): [chars]*
PLUS = 6  # (PLUS, chars): [chars]+
OPT = 7  # (OPT, literal): (?:literal)?
GROUP = 8  # (GROUP, items): (?:items)?, without NUM/INT inside

NUM_RE = re.compile(r"[-+]?\d+\.?\d*(?:[eE][-+]?\d+)?", re.ASCII)  # what a NUM slot reads

Template = tuple  # of str | int | tuple[int, str] | tuple[int, Template]


class Rows(NamedTuple):
    values: list[float]  # the kept values, row by row
    lines: list[int]  # line number of each row (first_line + index in the block)
    other_lines: list[int]  # lines holding `marker` that were not selected
    other_texts: list[str]  # their texts


def available() -> bool:
    """Is the native scanner in use?"""
    return _native is not None


def contains_any(data: str | bytes, needles: tuple[bytes, ...]) -> bool:
    """Does `data` hold any of the (ASCII, 2+ byte) `needles`? One native pass; only where `available()`."""
    assert _native is not None
    try:
        return _native.contains_any(data, needles)
    except UnicodeEncodeError:  # a lone surrogate (not from a log file): may hold one
        return True


def lf(data: bytes) -> bytes:
    """`data` with CRLF made LF and a last '\\r' dropped; only where `available()`."""
    assert _native is not None
    return _native.lf(data)


def last_frames(data: bytes) -> bytes | None:
    """Each line of `data` replaced by its last '\\r' frame; None where one is blank (the caller's
    `clean_line` then decides); only where `available()`."""
    assert _native is not None
    return _native.last_frames(data)


def scan(block: str, select: str, template: Template, *, by_prefix: bool = True, marker: str | None = None,
         first_line: int = 0, strict: bool = True) -> Rows | None:
    """Values of every line of `block` that starts with `select` (or holds it: by_prefix=False).

    None when the native scanner is not in use, or (strict) a selected line is not of the
    template's shape; not strict, such lines come back with the others. Lines holding `marker`
    (a part of `select`) but not selected come back as `other_lines`.
    """
    if _native is None:
        return None
    try:
        got = _native.scan(block, select, by_prefix, template, marker, first_line, strict)
    except UnicodeEncodeError:  # a lone surrogate (not from a log file): the parser's own way
        return None
    if got is None:
        return None
    raw, lines, other_lines, other_texts = got
    values = array("d")
    values.frombytes(raw)
    return Rows(values.tolist(), lines, other_lines, other_texts)
