"""Finding the few lines of a block that hold a word, without splitting the block into lines.

Shared by the text-event scan and the stated-facts scan: both look for rare words in blocks of
thousands of lines, so they search the block with `str.find` and only then look at the lines found.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator


def trigger_lines(block: str, trigger: str) -> Iterator[tuple[int, int]]:
    """(start, end) offsets of each line of `block` that holds `trigger`, once per line, in order."""
    pos = block.find(trigger)
    while pos >= 0:
        start = block.rfind("\n", 0, pos) + 1
        end = block.find("\n", pos)
        if end < 0:
            end = len(block)
        yield start, end
        pos = block.find(trigger, end)


def line_numbers(block: str, first_line: int, starts: Iterable[int]) -> Iterator[int]:
    """The line number of each line start in `starts` (ascending offsets into `block`)."""
    line_no, last = first_line, 0
    for start in starts:
        line_no += block.count("\n", last, start)
        last = start
        yield line_no
