"""Bytes → logical lines: progress frames, backspaces, long lines, in pieces of any size, in bounded memory."""

from __future__ import annotations

import re

from losswatch.ingest.events import EVENT_PATTERNS, TRIGGERS, scan_events
from losswatch.ingest.lines import MAX_LINE_BYTES, LineSplitter


def feed_all(sp: LineSplitter, data: bytes, piece: int, watch_pending: int | None = None) -> list[str]:
    out: list[str] = []
    for i in range(0, len(data), piece):
        got = sp.feed(data[i:i + piece])
        if watch_pending is not None:
            assert sp.pending_bytes <= watch_pending
        if got is not None:
            assert got[0] == len(out) + 1
            out.extend(got[1].split("\n"))
    got = sp.flush()
    if got is not None:
        out.append(got[1])
    return out


def test_progress_line_of_thousands_of_frames_in_small_pieces():
    """A 100 KB+ tqdm line fed 7 bytes at a time: right last frame, pending line never above 64 KB + frame."""
    frames = b"".join(b"\r" + f" {k:5d}/5000 [00:01<00:02, loss={k / 1000:.3f}]".encode() for k in range(5000))
    assert len(frames) > 100_000
    data = b"step=1 loss=1.0\n" + frames + b"\x1b[0m\n" + b"step=2 loss=2.0\n"
    lines = feed_all(LineSplitter(), data, 7, watch_pending=(1 << 16) + 64)
    assert lines == ["step=1 loss=1.0", "  4999/5000 [00:01<00:02, loss=4.999]", "step=2 loss=2.0"]


def test_ten_megabyte_line_is_capped_and_the_rest_is_read():
    data = b"a=1\n" + b"x" * (10 << 20) + b"\nb=2\nc=3"
    for piece in (4096, 1 << 20, 3 << 20):
        lines = feed_all(LineSplitter(), data, piece, watch_pending=MAX_LINE_BYTES)
        assert len(lines) == 4
        assert lines[0] == "a=1" and lines[2:] == ["b=2", "c=3"]
        assert lines[1] == "x" * MAX_LINE_BYTES


def test_backspaces_crlf_ansi_nul_and_bad_utf8():
    data = ("loss=0.59\b\b7\r\n\x1b[1;31mval_loss=2\x1b[0m\r\nnote=h\u00e9llo\x00 \xff\r\n").encode("utf-8", "surrogateescape")
    data = data.replace("\u00ff".encode(), b"\xff")
    for piece in (1, 2, 3, 64):
        assert feed_all(LineSplitter(), data, piece) == ["loss=0.7", "val_loss=2", "note=h\u00e9llo \ufffd"]


def test_every_event_pattern_is_covered_by_the_prefilter():
    """`scan_events` only looks at lines holding one of a metric's `TRIGGERS`; each pattern must contain one."""
    for metric, pattern in EVENT_PATTERNS:
        for alt in re.split(r"\|(?![^(]*\))", pattern):
            literal = re.sub(r"\\[bdsw]\+?|\^|\$|\\|\.\*|\+", "", alt)
            assert any(h in literal for h in TRIGGERS[metric]), alt
    assert scan_events("a\nRuntimeError: CUDA out of memory. Tried\nb", 10) == [(11, "event.oom")]
    assert scan_events("step=1 loss=2\n" * 100, 1) == []
    block = "\n".join([
        "Epoch [1][50/100] lr: 1e-3, memory: 3412, loss: 0.5",  # 'memory' is not an event
        "Traceback (most recent call last):",
        "  x = 1  # Traceback (most recent call last): not at the line start",
        "RuntimeError: CUDA out of memory. Tried to allocate 20 MiB",
        "[deepspeed] OVERFLOW! Rank 0 Skipping step. Attempted loss scale: 65536, reducing to 32768",
        "Gradient overflow.  Skipping step, loss scaler 0 reducing loss scale to 16384",
        "slurmstepd: error: *** JOB 42 ON node CANCELLED AT 2024-01-01 ***",
        "Killed",
    ])
    assert scan_events(block, 100) == [(101, "event.traceback"), (103, "event.oom"), (104, "event.overflow"),
                                       (105, "event.overflow"), (106, "event.killed"), (107, "event.killed")]


def reference_lines(data: bytes) -> list[str]:
    """What a terminal shows, line by line, computed the slow obvious way."""
    from losswatch.ingest.lines import clean_line

    parts = data.replace(b"\r\n", b"\n").split(b"\n")
    if parts and parts[-1] == b"":
        parts.pop()
    return [clean_line(p.decode("utf-8", "replace")) for p in parts]


def test_random_bytes_in_random_pieces_match_the_reference():
    import random

    rng = random.Random(3)
    alphabet = [b"a", b"b", b" ", b"\r", b"\n", b"\r\n", b"\x1b[1m", b"\b", b"\x00", "é".encode(), b"\xff",
                b"loss=1.5", b"\r 50%|###|", b"\r\r"]
    for _ in range(300):
        data = b"".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 200)))
        if rng.random() < 0.5:  # a block dense with progress bars (the other cleaning path)
            data = b"".join(b"x\r" * 5 + b"step=%d\n" % i for i in range(50)) + data
        sp = LineSplitter()
        out: list[str] = []
        i = 0
        while i < len(data):
            k = rng.randrange(1, 40)
            got = sp.feed(data[i:i + k])
            if got is not None:
                assert got[0] == len(out) + 1
                out.extend(got[1].split("\n"))
            i += k
        got = sp.flush()
        if got is not None:
            out.append(got[1])
        assert out == reference_lines(data), data
