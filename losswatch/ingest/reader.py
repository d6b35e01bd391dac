"""One log's ingest: bytes → logical lines → detected format → samples.

The same `LogReader` serves `check` (whole file), `tail` (a growing file, fed as it is written) and
`run` (the job's output), so an alert fires at the same step whichever way a log is read.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

from losswatch.ingest import formats
from losswatch.ingest.events import scan_events
from losswatch.ingest.formats.base import FormatParser
from losswatch.ingest.lines import LineSplitter
from losswatch.ingest.meta import scan_meta
from losswatch.model import SampleBatch


class LogReader:
    """Incremental reader of one log. Feed bytes; get `SampleBatch`es.

    With `format_name` the format is fixed; otherwise it is detected from the first lines and then
    kept (detection never flaps mid-file). Samples are held back while undecided.
    """

    def __init__(self, format_name: str | None = None) -> None:
        self.splitter = LineSplitter()
        self.format_name: str | None = None
        self.parser: FormatParser | None = None
        self._undecided: list[tuple[int, str, bool]] = []
        self._undecided_lines: list[str] = []
        # Detection runs again once this many lines are waiting (grows by a quarter after each
        # unsure try): a live log fed line by line must not re-detect on every line (quadratic).
        self._next_detect = 0
        self.last_step = math.nan
        if format_name is not None:
            self._choose(format_name)

    @property
    def lines_read(self) -> int:
        return self.splitter.lines_done

    def _choose(self, name: str) -> None:
        self.format_name = name
        self.parser = formats.get_format(name)()

    def feed(self, data: bytes, wall_time: float | None = None) -> SampleBatch:
        batch = SampleBatch(time.time() if wall_time is None else wall_time)
        got = self.splitter.feed(data)
        if got is not None:
            self._blocks(got[0], got[1], batch, final=False)
        return batch

    def finish(self, wall_time: float | None = None) -> SampleBatch:
        """End of a finished log: read the last line even without '\\n' and decide the format."""
        batch = SampleBatch(time.time() if wall_time is None else wall_time)
        got = self.splitter.flush()
        if got is not None:
            self._blocks(got[0], got[1], batch, final=True)
        elif self.parser is None:
            self._decide(batch, final=True)
        if self.parser is not None:
            start = len(batch)
            self.parser.finish(batch)
            if len(batch) > start:
                self.last_step = batch.steps[-1]
        return batch

    @property
    def undecided(self) -> bool:
        """Lines were read but the format is not decided yet (their samples are held back)."""
        return self.parser is None and bool(self._undecided_lines)

    def decide(self, wall_time: float | None = None) -> SampleBatch:
        """Decide the format now from the lines seen so far (a live log gone quiet early on)."""
        batch = SampleBatch(time.time() if wall_time is None else wall_time)
        if self.undecided:
            self._decide(batch, final=True)
        return batch

    def restart(self) -> None:
        """The file was truncated or replaced: line numbers start again; the format is kept."""
        self.splitter = LineSplitter()
        rewind = getattr(self.parser, "rewind", None)
        if rewind is not None:  # a rewritten whole-document file (trainer_state.json): no repeats
            rewind()
        elif self.format_name is not None:
            self.parser = formats.get_format(self.format_name)()

    def _blocks(self, first_line: int, block: str, batch: SampleBatch, final: bool) -> None:
        """A block from the splitter, with the completed-bar frames it found read just before their
        line, each as a one-line block of that line's number (a bar's end state, e.g. Lightning's
        epoch bar with its val_loss, overwritten on the same physical line by the next bar)."""
        ends = self.splitter.bar_ends
        if not ends:
            self._block(first_line, block, batch, final)
            return
        if self.parser is not None:
            self._parse_with_ends(first_line, block, batch, ends)
            return
        pieces = list(self._pieces(first_line, block, ends))
        for n, (line_no, text, frame) in enumerate(pieces):
            self._block(line_no, text, batch, final and n == len(pieces) - 1, bar_end=frame)

    @staticmethod
    def _pieces(first_line: int, block: str, ends: list[tuple[int, str]]) -> Iterator[tuple[int, str, bool]]:
        """The block cut before each completed-bar frame's line, the frames in between, in line order:
        (first line number, text, is a frame)."""
        pos, cur = 0, first_line
        for line_no, frame in ends:
            if line_no > cur:
                end = pos
                for _ in range(line_no - cur):
                    end = block.index("\n", end) + 1
                yield cur, block[pos:end - 1], False
                pos, cur = end, line_no
            yield line_no, frame, True
        yield cur, block[pos:], False

    def _parse_with_ends(self, first_line: int, block: str, batch: SampleBatch, ends: list[tuple[int, str]]) -> None:
        """`_blocks` once the format is known: the parser reads the pieces and frames in line order,
        and the events and stated facts of the whole block are found in one scan (a tqdm log can end
        a bar on every line: one scan per piece was the cost)."""
        parser = self.parser
        assert parser is not None
        start = len(batch)
        for line_no, text, _ in self._pieces(first_line, block, ends):
            parser.parse(text, line_no, batch)
        self._events(first_line, block, batch, start)

    def _block(self, first_line: int, block: str, batch: SampleBatch, final: bool, bar_end: bool = False) -> None:
        if self.parser is None:
            self._undecided.append((first_line, block, bar_end))
            self._undecided_lines.extend(block.split("\n"))
            n = len(self._undecided_lines)
            if final or n >= self._next_detect or n >= formats.MAX_UNDECIDED_LINES:
                self._decide(batch, final)
            return
        self._parse(first_line, block, batch)

    def _decide(self, batch: SampleBatch, final: bool) -> None:
        lines = self._undecided_lines[: formats.MAX_UNDECIDED_LINES]
        n = len(self._undecided_lines)
        name = formats.detect(lines, final=final or n >= formats.MAX_UNDECIDED_LINES)
        if name is None:
            self._next_detect = n + max(1, n // 4)
            return
        self._choose(name)
        pending, self._undecided, self._undecided_lines = self._undecided, [], []
        for first_line, block, bar_end in pending:
            self._parse(first_line, block, batch, bar_end)

    def _parse(self, first_line: int, block: str, batch: SampleBatch, bar_end: bool = False) -> None:
        assert self.parser is not None
        start = len(batch)
        self.parser.parse(block, first_line, batch)
        if bar_end:  # a completed bar frame: its samples only (no event or stated fact in a bar)
            if len(batch) > start:
                self.last_step = batch.steps[-1]
            return
        self._events(first_line, block, batch, start)

    def _events(self, first_line: int, block: str, batch: SampleBatch, start: int) -> None:
        """The block's text events and stated facts, merged in line order among its samples (from `start`)."""
        events = scan_events(block, first_line)
        meta = scan_meta(block, first_line)
        if events or meta:
            found = [(line_no, metric, 1.0) for line_no, metric in events]
            if meta:  # stable: at one line, events first, then the stated facts
                found = sorted(found + meta, key=lambda e: e[0])
            self._merge_events(batch, start, found)
        if len(batch) > start:
            self.last_step = batch.steps[-1]

    def _merge_events(self, batch: SampleBatch, start: int, events: list[tuple[int, str, float]]) -> None:
        """Insert event (and meta) samples among the block's samples in line order, at the step last seen."""
        ms, ss, vs, ls = batch.metrics[start:], batch.steps[start:], batch.values[start:], batch.lines[start:]
        del batch.metrics[start:], batch.steps[start:], batch.values[start:], batch.lines[start:]
        step = self.last_step if start == 0 else batch.steps[start - 1]
        i = 0
        for line_no, metric, value in events:
            while i < len(ls) and ls[i] <= line_no:
                batch.add(ms[i], ss[i], vs[i], ls[i])
                step = ss[i]
                i += 1
            batch.add(metric, 0.0 if math.isnan(step) else step, value, line_no)
            batch.name(metric, metric)
        for j in range(i, len(ls)):
            batch.add(ms[j], ss[j], vs[j], ls[j])
