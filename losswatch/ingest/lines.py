"""Bytes → logical lines: what a terminal would show for each physical line of a log.

A physical line ends with '\\n' and is numbered from 1. Its logical text is the last non-empty
'\\r' frame (tqdm and Keras redraw progress bars with '\\r'), with backspaces applied, ANSI escape
sequences and NUL bytes removed, and invalid UTF-8 replaced. A line still being written (no '\\n'
yet) is held back until it is complete; its memory is bounded: only the current '\\r' frame is kept,
and a single line longer than `max_line_bytes` keeps its first `max_line_bytes` (the rest of the
file is still read).

The fast path (no '\\r', ESC, '\\b' or NUL in a chunk) is one `decode` per chunk: no per-line work.
"""

from __future__ import annotations

import re

ANSI_RE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
_SPECIAL = re.compile(r"[\r\x1b\b\x00]")

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


class LineSplitter:
    """Incremental splitter: feed byte chunks as they arrive, get blocks of complete logical lines.

    `feed` returns `(first_line_no, block)` where `block` is the logical lines joined by '\\n'
    (line i of the block is physical line `first_line_no + i`), or None when no line was completed.
    """

    def __init__(self, max_line_bytes: int = MAX_LINE_BYTES) -> None:
        self.max_line_bytes = max_line_bytes
        self.lines_done = 0
        self._pending = bytearray()  # the line being written; appended in place (no quadratic copies)
        self._overflow = False  # the pending line hit max_line_bytes: drop bytes until '\n'
        self._trim_at = _TRIM_AT  # look for old '\r' frames to drop once the pending line is this long

    @property
    def pending_bytes(self) -> int:
        return len(self._pending)

    @property
    def pending_text(self) -> str:
        """The line being written, as it would show now (for a live raw-log view)."""
        return clean_line(self._pending.decode("utf-8", "replace"))

    def feed(self, data: bytes) -> tuple[int, str] | None:
        if not data:
            return None
        size = len(data)
        nl = data.rfind(b"\n")
        if nl < 0:
            self._hold(data)
            return None
        if self._pending or self._overflow:
            first_nl = data.find(b"\n")
            self._hold(data[:first_nl])
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
            complete = complete.replace(b"\r\n", b"\n")
            if complete.endswith(b"\r"):
                complete = complete[:-1]  # the last line's CRLF
            cr = b"\r" in complete
        first = self.lines_done + 1
        self.lines_done += n
        self._hold(tail)
        text = complete.decode("utf-8", "replace")
        # memchr-fast byte checks first: most blocks need no cleaning at all
        if b"\x1b" in complete or b"\x08" in complete or b"\x00" in complete:
            text = clean_block(text)
        elif cr:
            text = last_frames(text, n)
        return first, text

    def flush(self) -> tuple[int, str] | None:
        """End of a finished file: the last line, even without '\\n'."""
        if not self._pending and not self._overflow:
            return None
        data = bytes(self._pending)
        self._reset_pending()
        self.lines_done += 1
        return self.lines_done, clean_line(data.decode("utf-8", "replace"))

    # -- bounded memory for the line being written -------------------------------------------------

    def _reset_pending(self) -> None:
        self._pending = bytearray()
        self._overflow = False
        self._trim_at = _TRIM_AT

    def _hold(self, data: bytes) -> None:
        if not data or self._overflow:
            return
        buf = self._pending
        buf += data
        if len(buf) > self._trim_at:
            self._drop_old_frames(buf)
            # scan again only after the line has doubled: linear time however small the pieces
            self._trim_at = max(_TRIM_AT, 2 * len(buf))
        if len(buf) > self.max_line_bytes:
            self._drop_old_frames(buf)
        if len(buf) > self.max_line_bytes:
            del buf[self.max_line_bytes:]
            self._overflow = True

    @staticmethod
    def _drop_old_frames(buf: bytearray) -> None:
        """Keep only the last non-empty '\\r' frame of a long progress-bar line (in place)."""
        cr = buf.rfind(b"\r")
        if cr < 0:
            return
        if buf[cr + 1:].strip():
            del buf[:cr]
            return
        prev = buf.rfind(b"\r", 0, cr)
        del buf[:prev if prev >= 0 else 0]

    def _cap(self, line: bytes) -> bytes:
        buf = bytearray(line)
        self._drop_old_frames(buf)
        return bytes(buf[: self.max_line_bytes])

    def _cap_long_lines(self, block: bytes) -> bytes:
        parts = block.split(b"\n")
        m = self.max_line_bytes
        return b"\n".join(p if len(p) <= m else self._cap(p) for p in parts)
