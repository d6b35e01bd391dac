"""Bytes → logical lines: what a terminal would show for each physical line of a log.

A physical line ends with '\\n' and is numbered from 1. Its logical text is the last non-empty
'\\r' frame (tqdm and Keras redraw progress bars with '\\r'), with backspaces applied, ANSI escape
sequences and NUL bytes removed, and invalid UTF-8 replaced. A line still being written (no '\\n'
yet) is held back until it is complete; its memory is bounded: only the current '\\r' frame is kept,
and a single line longer than `max_line_bytes` keeps its first `max_line_bytes` (the rest of the
file is still read).

The fast path (no '\\r', ESC, '\\b' or NUL in a chunk) is one `decode` per chunk: no per-line work.

Completed bars: tqdm written to a file (not a terminal) draws one bar after another on the same
physical line, so a middle frame can be the final state of a bar whose last values a parser needs
(Lightning's "Epoch N: 100%|…, val_loss=…" just before the bar is reset for epoch N+1). A tqdm
frame with a progress counter n > 0 followed by a frame of another bar (its counter back at 0, or
another description: "Epoch 3:" after "Epoch 2:") is such an end state; `LineSplitter.bar_ends`
lists them, with their physical line number, beside the block (the block keeps one logical line per
physical line). A tqdm frame is one of a bar with a total ("…  40%|████  | 4/10 [", counter `n/N`) or
of a bar without one, whose data has no length (an IterableDataset): Lightning's "Epoch 0: |  | 12/? ["
and tqdm's own "Epoch 0: 12it [00:01, 9.60it/s, loss=0.52]". (tqdm draws a new or reset bar at 0
first, so "back at 0" is how a bar's end shows; a counter that falls to another value above 0 is not
looked for.) An ordinary bar only counts up, so it gives none; Keras bars give none. Only blocks with
a tqdm bar (`may_end_bar`: '%|', '/? [' or 'it [') are looked at, and in them only lines with a counter
at 0 or frames of several descriptions are split into frames, so the hot paths pay a few C-speed scans.
"""

from __future__ import annotations

import re

from losswatch.ingest import rowscan
from losswatch.ingest.textscan import line_numbers, trigger_lines

ANSI_RE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
_SPECIAL = re.compile(r"[\r\x1b\b\x00]")
# a progress counter: tqdm "| 3/8 [", "0/? [", "12it [" (no total), Keras " 3/38 ━"; the first one of a frame counts
_COUNTER = re.compile(r"(?:^|(?<= ))(\d+)(?:/[\d?]|it \[)")

_PERCENT_TAIL = re.compile(r"\s*\d+%$")
_PERCENT = re.compile(r"\s*\d+%\|")
_DESC_START = re.compile(r"\r[^\s\d\r]")  # a frame that starts with a description (or other text)

MAX_LINE_BYTES = 1 << 20
_TRIM_AT = 1 << 16
_CR = 0x0D


def clean_line(line: str) -> str:
    """Logical text of one physical line (without its '\\n')."""
    if "\x1b" in line:
        line = ANSI_RE.sub("", line)
    if "\x00" in line:
        line = line.replace("\x00", "")
    if "\r" in line:
        last = line.rpartition("\r")[2]
        if last.strip():  # the usual case: the last frame is the one shown
            line = last
        else:
            frames = line.split("\r")
            line = ""
            for frame in reversed(frames):
                if frame.strip():
                    line = frame
                    break
    if "\b" in line:
        out: list[str] = []
        for ch in line:
            if ch == "\b":
                if out:
                    out.pop()
            else:
                out.append(ch)
        line = "".join(out)
    return line


def _bar_state(frame: str) -> tuple[int, str] | None:
    """A frame's progress counter and its bar's description ("Epoch 3:"), or None if it has no counter.

    A 0 counts only after a space (" 0/8": what the pre-filter looks for), not at the frame start.
    """
    m = _COUNTER.search(frame)
    if m is None or (m.start() == 0 and m.group(1) == "0"):
        return None
    label = frame[:m.start()]
    bar = label.find("|")
    if bar >= 0:
        label = label[:bar]
    desc = _DESCRIPTIONS.get(label)
    if desc is None:  # a bar redraws the same few labels ("Epoch 3:  45%") thousands of times
        if len(_DESCRIPTIONS) >= 4096:
            _DESCRIPTIONS.clear()
        desc = _DESCRIPTIONS[label] = _PERCENT_TAIL.sub("", label.rstrip()).strip()
    return int(m.group(1)), desc


_DESCRIPTIONS: dict[str, str] = {}  # label before the counter -> the bar's description


def bar_ends(line: str, carry: str | None = None) -> tuple[list[str], str | None]:
    """The completed-bar frames of one physical line (its '\\r' frames), and its last non-blank frame.

    A frame is a completed bar when it is a tqdm bar ('%|') with a counter above 0 and the next
    non-blank frame starts another bar: its counter is back at 0 (tqdm draws a new or reset bar at 0
    first) or its description differs ("Epoch 3:" after "Epoch 2:"). `carry` is the last non-blank
    frame of earlier text of the same line (already dropped from memory), judged against this
    text's first frame. The returned last frame is not judged: it is the line's shown text, or the
    next piece's `carry`. Frames come back cleaned.
    """
    if "\x1b" in line:
        line = ANSI_RE.sub("", line)
    ends: list[str] = []
    prev = carry
    prev_state = _bar_state(carry) if carry is not None else None
    for frame in line.split("\r"):
        if not frame.strip():
            continue
        state = _bar_state(frame)
        if state is not None and prev_state is not None and prev_state[0] > 0 and (
                state[0] == 0 or state[1] != prev_state[1]) and _tqdm_pair(prev, frame):  # type: ignore[arg-type]
            shown = clean_line(prev)  # type: ignore[arg-type]
            if shown.strip():
                ends.append(shown)
        prev, prev_state = frame, state
    return ends, prev


def _tqdm_pair(frame: str, nxt: str) -> bool:
    """`frame` is a tqdm bar that `nxt` can end: a bar with a total ('%|'), Lightning's without one
    ('/? ['), or tqdm's own without one ('it [') when `nxt` is a new or reset bar's first frame, which
    tqdm draws with its rate unknown ('?it/s'). (Each pair so judged holds the marks `may_end_bar`
    looks for, so a line read whole or in pieces gives the same ends.)"""
    return "%|" in frame or "/? [" in frame or ("it [" in frame and "?" in nxt)


def may_end_bar(data: bytes) -> bool:
    """Cheap test: could these bytes hold a bar's end (see `bar_ends`)? Only tqdm bars end (not Keras').

    memchr first: most blocks without tqdm bars hold no '%' and no '?' at all (Keras bars neither)."""
    if b"%" in data and b"%|" in data:
        return True
    return b"?" in data and (b"/? [" in data or b"it [" in data)


def _same_desc(line: str) -> bool:
    """Cheap test (C-speed scans, no per-frame work): every frame of this line is drawn by one tqdm
    bar description, so no frame ends a bar by a change of description."""
    cr = line.find("\r")
    if cr < 0:
        return True
    if line[:cr].strip():
        return False  # text before the bar
    while True:
        nxt = line.find("\r", cr + 1)
        frame = line[cr + 1:nxt if nxt >= 0 else len(line)]
        if frame.strip():
            break
        if nxt < 0:
            return True
        cr = nxt
    m = _PERCENT.search(frame)
    desc = frame[:m.start()] if m is not None else ""
    return bool(desc) and line.count("\r" + desc) == line.count("\r")


def block_bar_ends(text: str, first_line: int, skip_first: bool = False) -> list[tuple[int, str]]:
    """`bar_ends` of the lines of a '\\n'-joined block that may hold one, as (line number, frame).

    Only lines with a counter at 0 (" 0/8", " 0/?", " 0it ["), or with frames whose description may change,
    are split into frames: a log full of ordinary bars costs two C-speed scans of the block.
    """
    # a bar drawn new or reset (with a total or Lightning's "0/?"; tqdm's "0it [")
    starts = {start for zero in (" 0/", " 0it [") for start, _ in trigger_lines(text, zero)}
    m = _DESC_START.search(text)
    while m is not None:
        start = text.rfind("\n", 0, m.start()) + 1
        end = text.find("\n", m.start())
        if end < 0:
            end = len(text)
        if start not in starts and not _same_desc(text[start:end]):
            starts.add(start)
        m = _DESC_START.search(text, end)
    out: list[tuple[int, str]] = []
    ordered = sorted(starts)
    for start, line_no in zip(ordered, line_numbers(text, first_line, ordered), strict=True):
        if skip_first and start == 0:
            continue
        end = text.find("\n", start)
        line = text[start:end if end >= 0 else len(text)]
        if "\r" in line:
            out.extend((line_no, f) for f in bar_ends(line)[0])
    return out


def clean_block(text: str) -> str:
    """Apply `clean_line` to every line of a '\\n'-joined block, touching only lines that need it.

    CRLF line ends must already be LF (the splitter does that on the bytes).
    """
    m = _SPECIAL.search(text)
    if m is None:
        return text
    out: list[str] = []
    pos, n = 0, len(text)
    while m is not None:
        start = text.rfind("\n", 0, m.start()) + 1
        end = text.find("\n", m.end())
        if end < 0:
            end = n
        out.append(text[pos:start])
        out.append(clean_line(text[start:end]))
        pos = end
        m = _SPECIAL.search(text, end)
    out.append(text[pos:])
    return "".join(out)


def last_frames(text: str, n_lines: int) -> str:
    """`clean_block` for a block whose only special character is '\\r' (progress bars)."""
    if text.count("\r") * 30 < n_lines:  # a few bars among many lines: clean just those
        return clean_block(text)
    return "\n".join([(last if (last := ln.rpartition("\r")[2]).strip() else clean_line(ln)) if "\r" in ln else ln
                      for ln in text.split("\n")])


def _bar_carry(frame: str | None) -> str | None:
    """A dropped last frame worth judging against the next one: only a tqdm bar frame can be a
    completed bar (`_tqdm_pair`); any other (a Keras bar) is let go, and with it the per-frame work."""
    if frame is not None and ("%|" in frame or "/? [" in frame or "it [" in frame):
        return frame
    return None


def _last_frame(data: bytes) -> str | None:
    """The last non-blank '\\r' frame of some bytes, decoded and without ANSI codes."""
    text = data.decode("utf-8", "replace")
    if "\x1b" in text:
        text = ANSI_RE.sub("", text)
    for frame in reversed(text.split("\r")):
        if frame.strip():
            return frame
    return None


class LineSplitter:
    """Incremental splitter: feed byte chunks as they arrive, get blocks of complete logical lines.

    `feed` returns `(first_line_no, block)` where `block` is the logical lines joined by '\\n'
    (line i of the block is physical line `first_line_no + i`), or None when no line was completed.
    After each `feed`/`flush`, `bar_ends` holds the completed-bar frames of that block's lines (see
    the module doc), as (line number, text) in line order; usually empty.
    """

    def __init__(self, max_line_bytes: int = MAX_LINE_BYTES) -> None:
        self.max_line_bytes = max_line_bytes
        self.lines_done = 0
        self._pending = bytearray()  # the line being written; appended in place (no quadratic copies)
        self._overflow = False  # the pending line hit max_line_bytes: drop bytes until '\n'
        self._trim_at = _TRIM_AT  # look for old '\r' frames to drop once the pending line is this long
        self.bar_ends: list[tuple[int, str]] = []
        self._held_ends: list[str] = []  # completed bars among the frames dropped from the pending line
        self._carry: str | None = None  # the last frame dropped from it, not judged yet

    @property
    def pending_bytes(self) -> int:
        return len(self._pending)

    def feed(self, data: bytes) -> tuple[int, str] | None:
        if self.bar_ends:
            self.bar_ends = []
        if not data:
            return None
        size = len(data)
        nl = data.rfind(b"\n")
        if nl < 0:
            self._hold(data)
            return None
        joined = False
        if self._pending or self._overflow:
            first_nl = data.find(b"\n")
            self._hold(data[:first_nl])
            # holding the rest of the line may have dropped old frames (their ends are held): those
            # ends are taken now, with the line's, before the pending state is reset
            joined = self._carry is not None or bool(self._held_ends)
            if joined:
                first_line = self._pending_ends(b"")
            data = bytes(self._pending) + data[first_nl:]
            self._reset_pending()
            nl = data.rfind(b"\n")
        complete = data[:nl]
        tail = data[nl + 1:]
        n = complete.count(b"\n") + 1
        if n == 1:
            if len(complete) > self.max_line_bytes:
                complete = self._cap(complete)
        elif size > self.max_line_bytes + 1:  # only then can a whole line inside be too long
            complete = self._cap_long_lines(complete)
        cr = b"\r" in complete
        if cr:
            if rowscan.available():
                complete = rowscan.lf(complete)
            else:
                complete = complete.replace(b"\r\n", b"\n")
                if complete.endswith(b"\r"):
                    complete = complete[:-1]  # the last line's CRLF
            cr = b"\r" in complete
        first = self.lines_done + 1
        self.lines_done += n
        if joined:
            self.bar_ends = [(first, f) for f in first_line]
        self._hold(tail)
        # memchr-fast byte checks first: most blocks need no cleaning at all
        special = b"\x1b" in complete or b"\x08" in complete or b"\x00" in complete
        ends = cr and may_end_bar(complete)
        if cr and not special and not ends and rowscan.available():  # Keras bars: the last frames, natively
            shown = rowscan.last_frames(complete)
            if shown is not None:
                return first, shown.decode("utf-8", "replace")
        text = complete.decode("utf-8", "replace")
        if ends:
            self.bar_ends.extend(block_bar_ends(text, first, skip_first=joined))
        if special:
            text = clean_block(text)
        elif cr:
            text = last_frames(text, n)
        return first, text

    def flush(self) -> tuple[int, str] | None:
        """End of a finished file: the last line, even without '\\n'."""
        self.bar_ends = []
        if not self._pending and not self._overflow:
            return None
        ends = self._pending_ends(b"")
        data = bytes(self._pending)
        self._reset_pending()
        self.lines_done += 1
        self.bar_ends = [(self.lines_done, f) for f in ends]
        return self.lines_done, clean_line(data.decode("utf-8", "replace"))

    def _pending_ends(self, rest: bytes) -> list[str]:
        """Completed bars of the pending line, which `rest` (up to its '\\n') finishes."""
        line = (bytes(self._pending) + rest).replace(b"\r\n", b"\n").rstrip(b"\r\n")
        ends = self._held_ends
        if self._carry is not None or may_end_bar(line):
            ends = ends + bar_ends(line.decode("utf-8", "replace"), self._carry)[0]
        self._held_ends, self._carry = [], None
        return ends

    # -- bounded memory for the line being written -------------------------------------------------

    def _reset_pending(self) -> None:
        self._pending = bytearray()
        self._overflow = False
        self._trim_at = _TRIM_AT
        self._held_ends, self._carry = [], None

    def _hold(self, data: bytes) -> None:
        if not data or self._overflow:
            return
        buf = self._pending
        buf += data
        if len(buf) > self._trim_at:
            self._harvest(self._drop_old_frames(buf))
            # scan again only after the line has doubled: linear time however small the pieces
            self._trim_at = max(_TRIM_AT, 2 * len(buf))
        if len(buf) > self.max_line_bytes:
            self._harvest(self._drop_old_frames(buf))
        if len(buf) > self.max_line_bytes:
            del buf[self.max_line_bytes:]
            self._overflow = True

    def _harvest(self, dropped: bytes) -> None:
        """Keep the completed bars among frames dropped from the pending line (and its last frame)."""
        if not dropped or (self._carry is None and not may_end_bar(dropped)):
            if dropped.strip():  # the frame to judge next is now the last one dropped
                self._carry = _bar_carry(_last_frame(dropped))
            return
        ends, carry = bar_ends(dropped.decode("utf-8", "replace"), self._carry)
        self._carry = _bar_carry(carry)
        self._held_ends.extend(ends)

    @staticmethod
    def _drop_old_frames(buf: bytearray) -> bytes:
        """Keep only the last non-empty '\\r' frame of a long progress-bar line (in place); return the rest."""
        cr = buf.rfind(b"\r")
        if cr < 0:
            return b""
        if buf[cr + 1:].strip():
            dropped = bytes(buf[:cr])
            del buf[:cr]
            return dropped
        prev = buf.rfind(b"\r", 0, cr)
        cut = prev if prev >= 0 else 0
        dropped = bytes(buf[:cut])
        del buf[:cut]
        return dropped

    def _cap(self, line: bytes) -> bytes:
        buf = bytearray(line)
        self._drop_old_frames(buf)
        return bytes(buf[: self.max_line_bytes])

    def _cap_long_lines(self, block: bytes) -> bytes:
        parts = block.split(b"\n")
        m = self.max_line_bytes
        return b"\n".join(p if len(p) <= m else self._cap(p) for p in parts)
