"""Bytes → logical lines: progress frames, backspaces, long lines, in pieces of any size, in bounded memory."""

from __future__ import annotations

from losswatch.ingest.events import EVENT_PATTERNS, TRIGGERS, scan_events
from losswatch.ingest.lines import MAX_LINE_BYTES, LineSplitter
from tests.regex_triggers import holds_one_of


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
        assert holds_one_of(pattern, TRIGGERS[metric]), metric
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


# --- completed bars: the end state of a bar overwritten by the next bar on the same physical line --

def _bar(desc: str, n: int, total: int, post: str = "") -> bytes:
    pct = 100 * n // total
    return f"\r{desc}{pct:3d}%|{'#' * (pct // 10):10s}| {n}/{total} [00:00<00:00, 9.99it/s{post}]".encode()


def feed_ends(data: bytes, pieces) -> tuple[list[str], list[tuple[int, str]]]:
    """Logical lines and completed bars of `data` fed in pieces of the given sizes (cycled)."""
    sp = LineSplitter()
    lines: list[str] = []
    ends: list[tuple[int, str]] = []
    i = k = 0
    while i < len(data):
        size = pieces[k % len(pieces)]
        got = sp.feed(data[i:i + size])
        ends.extend(sp.bar_ends)
        if got is not None:
            lines.extend(got[1].split("\n"))
        i += size
        k += 1
    got = sp.flush()
    ends.extend(sp.bar_ends)
    if got is not None:
        lines.append(got[1])
    return lines, ends


def test_lightning_epoch_end_in_a_middle_frame_is_a_completed_bar():
    """tqdm in a file: the epoch's bar redrawn with its val_loss, reset, then the next epoch, one line."""
    line = (b"\r" + b" " * 20 + b"\x1b[A" + _bar("Epoch 0: ", 8, 8, ", train_loss=0.468, val_loss=0.403")
            + _bar("Epoch 0: ", 0, 8, ", train_loss=0.468, val_loss=0.403") + b"        "
            + _bar("Epoch 1: ", 0, 8, ", train_loss=0.468, val_loss=0.403")
            + b"".join(_bar("Epoch 1: ", k, 8, f", train_loss=0.{k}00, val_loss=0.403") for k in range(1, 9)))
    data = b"step=1\n" + line + b"\nValidation: |  | 0/? [00:00<?, ?it/s]\x1b[A\n"
    lines, ends = feed_ends(data, [len(data)])
    assert lines[1].startswith("Epoch 1: 100%|") and "train_loss=0.800" in lines[1]
    assert ends == [(2, "Epoch 0: 100%|##########| 8/8 [00:00<00:00, 9.99it/s, train_loss=0.468, val_loss=0.403]")]
    for pieces in ([1], [7], [3, 50, 1], [333]):
        assert feed_ends(data, pieces) == (lines, ends), pieces


def _no_total(desc: str, n: int, kind: str, post: str = "") -> bytes:
    """A frame of a bar without a total: Lightning's "12/? [" (kind "/?") or tqdm's own "12it [" (kind "it")."""
    rate = "?it/s" if n == 0 else "9.99it/s"
    if kind == "/?":
        return f"\r{desc}{n}/? [00:00<00:00, {rate}{post}]".encode()
    return f"\r{desc}{n}it [00:00, {rate}{post}]".encode()


def test_bars_without_a_total_end_like_bars_with_one():
    """A counter back at 0 or another description ends a bar without a total too (tqdm's own '12it [':
    when the next frame is a new bar's first, drawn with '?it/s'); one that only counts up ends none;
    in any pieces."""
    for desc0, desc1, kind in (("Epoch 0: |   | ", "Epoch 1: |   | ", "/?"), ("Epoch 0: ", "Epoch 1: : ", "it")):
        line = (b"".join(_no_total(desc0, k, kind, f", loss=0.{k}") for k in range(1, 6))
                + _no_total(desc0, 5, kind, ", loss=0.5, val_loss=0.25") + _no_total(desc0, 0, kind, ", loss=0.5")
                + b"".join(_no_total(desc1, k, kind, f", loss=0.{k}") for k in range(1, 4))
                + _no_total("Epoch 2: ", 1, kind))  # another description, counter not at 0
        data = b"banner\n" + line + b"\n"
        lines, ends = feed_ends(data, [len(data)])
        assert ends[0] == (2, _no_total(desc0, 5, kind, ", loss=0.5, val_loss=0.25").decode()[1:])
        if kind == "/?":
            assert ends[1:] == [(2, _no_total(desc1, 3, kind, ", loss=0.3").decode()[1:])]
        else:  # "Epoch 2: 1it [00:00, 9.99it/s]" is not a new bar's first frame (its rate is known)
            assert ends[1:] == []
        assert lines[1].startswith("Epoch 2: ")
        for pieces in ([1], [7], [3, 50, 1], [333]):
            assert feed_ends(data, pieces) == (lines, ends), pieces
        counting = b"".join(_no_total(desc0, k, kind) for k in range(0, 30)) + b"\n"
        assert feed_ends(counting, [len(counting)])[1] == [] and feed_ends(counting, [3])[1] == []


def test_ordinary_bars_give_no_completed_bars():
    """One tqdm bar counting up, Keras bars (counters from 1, backspaces), HF bars between dict lines."""
    tqdm_line = b"".join(_bar("Epoch 3: ", k, 40) for k in range(0, 41))
    keras = b"Epoch 1/2\n" + b"".join(
        b"\x1b[1m%2d/12\x1b[0m \x1b[32m" % k + "━".encode() * k + b"\x1b[0m - loss: 0.5%d" % k + b"\b" * 40 + b"\r"
        for k in range(1, 13)) + b"12/12 - loss: 0.4 - val_loss: 0.5\n"
    hf = b"".join(_bar("", k, 120) for k in range(0, 6)) + b"\r" + b" " * 40 + b"\r{'loss': '1.4', 'epoch': '0.1'}\n"
    for data in (tqdm_line + b"\n", keras, hf):
        assert feed_ends(data, [len(data)])[1] == []
        assert feed_ends(data, [5])[1] == []


def test_thousands_of_frames_with_several_bars_in_small_pieces():
    """A 100 KB+ line of five bars one after another: four completed bars, whole or 7 bytes at a time,
    with the pending line still bounded (the frames are judged as they are dropped)."""
    line = b"".join(_bar(f"Epoch {e}: ", k, 1000, f", loss={e}.{k:03d}") for e in range(5) for k in range(1001))
    assert len(line) > 100_000
    data = b"a=1\n" + line + b"\nb=2\n"
    whole = feed_ends(data, [len(data)])
    assert [ln for ln, _ in whole[1]] == [2, 2, 2, 2]
    assert [f.rsplit("loss=", 1)[1] for _, f in whole[1]] == ["0.1000]", "1.1000]", "2.1000]", "3.1000]"]
    assert whole[0][1].endswith("loss=4.1000]") and whole[0][2] == "b=2"
    sp = LineSplitter()
    got = []
    for i in range(0, len(data), 7):
        sp.feed(data[i:i + 7])
        got.extend(sp.bar_ends)
        assert sp.pending_bytes <= (1 << 16) + 128
    assert got == whole[1]
    assert feed_ends(data, [4096, 1, 70_000]) == whole


def test_a_long_bar_line_cut_in_two_anywhere_keeps_its_completed_bars():
    """A 70 KB line of three epochs' bars arriving in two reads (as a chunk boundary of `check` cuts it):
    holding the rest of the line drops old frames; their completed bars must still be handed over."""
    line = b"".join(_bar(f"Epoch {e}: ", k, 300, f", loss=0.{k % 10}, v_num=0" + (f", val_loss=0.{e}" if k == 300 else ""))
                    for e in range(3) for k in range(301))
    assert len(line) > 1 << 16
    data = line + b"\n"
    whole = feed_ends(data, [len(data)])
    assert [f.rsplit("val_loss=", 1)[1] for _, f in whole[1]] == ["0.0]", "0.1]"]
    for cut in (1000, 40_000, 60_000, 66_000, len(data) - 2):
        assert feed_ends(data, [cut, len(data)]) == whole, cut


def test_random_bars_in_random_pieces_give_the_same_completed_bars():
    import random

    rng = random.Random(7)
    alphabet = [_bar("Epoch 0: ", 8, 8, ", val_loss=0.4"), _bar("Epoch 0: ", 0, 8), _bar("Epoch 1: ", 3, 8),
                _bar("", 5, 120), _bar("", 0, 13), b"\r", b"\n", b"\r\n", b"\x1b[A", b"   ", b"\b", b"x 0/", b" 0/? [",
                # bars without a total: Lightning's "n/?" and tqdm's own "nit [" (and ": :" after set_description)
                _no_total("Epoch 0: |  | ", 5, "/?", ", val_loss=0.4"), _no_total("Epoch 0: |  | ", 0, "/?"),
                _no_total("Epoch 1: |  | ", 2, "/?"), _no_total("Epoch 2: ", 7, "it", ", loss=1"),
                _no_total("Epoch 2: ", 0, "it"), _no_total("Epoch 3: : ", 4, "it"), b"0it [", b" 0it [", b"?",
                b"x 3it [", b"Epoch 4: 2it ["]
    for _ in range(1000):
        data = b"".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 60)))
        whole = feed_ends(data, [len(data) or 1])
        pieces = [rng.randrange(1, 40) for _ in range(20)]
        assert feed_ends(data, pieces) == whole, data
        assert [n for n, _ in whole[1]] == sorted(n for n, _ in whole[1])
