"""The contract every log format implements.

A format is one small module in this package defining a `FormatParser` subclass with a unique
`name`; the registry discovers it by itself (no list to edit). A parser instance is made per run
and may keep state between blocks (the current epoch from a Keras "Epoch 3/30" header, the step of
the last DeepSpeed engine line, ...), so a parser never re-reads earlier lines.
"""

from __future__ import annotations

from typing import ClassVar

from losswatch.model import SampleBatch


class FormatParser:
    """Base class of a log format family.

    Subclasses set `name` (short, used by `--format`), `description` (one line for
    `losswatch formats`), implement `detect` and `parse`.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    # Among formats that score the same, the higher priority wins (specific beats generic).
    priority: ClassVar[int] = 0

    @classmethod
    def detect(cls, lines: list[str]) -> float:
        """How sure we are (0..1) that these first logical lines of a log are this format.

        ≥ 0.5 means sure enough to decide without reading further.
        """
        return 0.0

    def parse(self, block: str, first_line: int, out: SampleBatch) -> None:
        """Read complete logical lines and add their samples to `out`.

        `block` is the lines joined by '\\n' (no trailing newline); line i of it is physical line
        `first_line + i` of the log. Add samples in line order with canonical metric names
        (`out.add`) and record each original name once (`out.name`). Never invent or drop a
        value: NaN/Inf are added as they are; a token that is not a number is not a sample.
        """
        raise NotImplementedError

    def finish(self, out: SampleBatch) -> None:
        """End of a finished log: add what a parser still holds back (a record waiting for the rest
        of a wrapped line). Most parsers hold nothing."""


class StepCounter:
    """Per-metric counters for logs that print no step: the n-th value of a metric gets step n-1."""

    __slots__ = ("_next",)

    def __init__(self) -> None:
        self._next: dict[str, int] = {}

    def __call__(self, metric: str) -> int:
        n = self._next.get(metric, 0)
        self._next[metric] = n + 1
        return n
