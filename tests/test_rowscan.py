"""The native row scanner (losswatch/ingest/_rowscan.c) gives exactly what the pure-Python code gives.

- It is built where CI installs the package (a missing build fails CI, skips elsewhere).
- Each function against its pure-Python meaning, on random input: number conversion bit for bit
  against float(); template matching against the regex made of the same items (every line the scan
  reads, the regex reads with the same groups); CRLF, last frames, the multi-word search.
- Whole logs read with it and without it (`LOSSWATCH_PURE_PYTHON`'s switch) give the same samples,
  names and line numbers: the corpus, the framework fixtures, the benchmark generators with odd
  lines mixed in, in several chunkings.
"""

from __future__ import annotations

import random
import re
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench import gen_logs
from losswatch.ingest import rowscan
from losswatch.ingest.events import _BYTE_LITERALS
from losswatch.ingest.lines import last_frames as py_last_frames
from losswatch.ingest.reader import LogReader
from tests.conftest import CORPUS, FIXTURES, require_native, under_ci

native = rowscan._native


def test_native_scanner_is_built():
    require_native(native, "the native row scanner (losswatch/ingest/_rowscan.c)")
    assert rowscan.available()


needs_native = pytest.mark.skipif(native is None and not under_ci(), reason="native row scanner not built")


# -- numbers: bit for bit what float() gives --------------------------------------------------------

def _bits(x: float) -> bytes:
    return struct.pack("<d", x)


def _num_texts(draw_float: float, digits: int, style: int) -> str:
    if style == 0:
        return repr(draw_float)
    if style == 1:
        return f"{draw_float:.{digits}f}"
    if style == 2:
        return f"{draw_float:.{digits}e}"
    return f"{draw_float:.{digits}g}"


def _assert_converted_as_float(texts: list[str]) -> None:
    if not texts:
        return
    block = "\n".join("v=" + t for t in texts)
    got = rowscan.scan(block, "v=", ("v=", rowscan.NUM))
    if got is None:  # a token longer than the scanner takes: declined, never misread
        assert any(len(t) > 64 for t in texts)
        return
    assert [_bits(v) for v in got.values] == [_bits(float(t)) for t in texts]


@needs_native
@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.floats(allow_nan=False, allow_infinity=False), st.integers(0, 25), st.integers(0, 3)),
                min_size=1, max_size=40))
def test_numbers_convert_as_float_does(items):
    texts = [_num_texts(f, d, s) for f, d, s in items]
    _assert_converted_as_float([t for t in texts if re.fullmatch(r"[-+]?\d+\.?\d*(?:[eE][-+]?\d+)?", t)])


@needs_native
@settings(max_examples=300, deadline=None)
@given(st.lists(st.from_regex(r"\A[-+]?\d{1,30}(\.\d{0,30})?([eE][-+]?\d{1,4})?\Z"), min_size=1, max_size=30))
def test_digit_strings_convert_as_float_does(texts):
    _assert_converted_as_float([t for t in texts if t.isascii()])


# -- templates: what the regex of the same items reads ---------------------------------------------

NUM_RE = r"([-+]?\d+\.?\d*(?:[eE][-+]?\d+)?)"
INT_RE = r"(\d+)"
_DIGITS = "0123456789."
_WORD = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_"


def _regex(items) -> str:
    out = []
    for it in items:
        if isinstance(it, str):
            out.append(re.escape(it))
        elif it == rowscan.NUM:
            out.append(NUM_RE)
        elif it == rowscan.INT:
            out.append(INT_RE)
        elif it == rowscan.WS:
            out.append(r"[ \t]*")
        elif it == rowscan.REST:
            out.append(r"[^\n]*")
        else:
            kind, arg = it
            if kind == rowscan.STAR:
                out.append("[" + re.escape(arg) + "]*")
            elif kind == rowscan.PLUS:
                out.append("[" + re.escape(arg) + "]+")
            elif kind == rowscan.OPT:
                out.append("(?:" + re.escape(arg) + ")?")
            else:
                out.append("(?:" + _regex(arg) + ")?")
    return "".join(out)


BAR = (rowscan.WS, rowscan.INT, "/", rowscan.INT, " [", (rowscan.STAR, "=>."), "]", (rowscan.OPT, " -"),
       (rowscan.OPT, " "), (rowscan.PLUS, _DIGITS), (rowscan.STAR, _WORD),
       (rowscan.GROUP, (" ", (rowscan.PLUS, _DIGITS), (rowscan.STAR, _WORD), "/step")),
       " - loss: ", rowscan.NUM, " - acc: ", rowscan.NUM, rowscan.WS)
ITER = (rowscan.WS, rowscan.INT, ": ", rowscan.NUM, ", ", rowscan.NUM, " avg loss, ", rowscan.NUM, " rate",
        rowscan.REST)
TEMPLATES = {"bar": (BAR, " - ", False), "iter": (ITER, " avg", False),
             "dict": (("{'loss': ", rowscan.NUM, ", 'epoch': ", rowscan.NUM, "}"), "{'loss': ", True)}
GOOD = {
    "bar": ["472/472 [==============================] - 1s 2ms/step - loss: 0.7062 - acc: 0.6002",
            "  3/3 [=>.] - 9s - loss: 1e-05 - acc: 1",
            "10/10 [==========] 12s 1ms/step - loss: -0.5 - acc: 2.5E+3  "],
    "iter": [" 1: 4748.819170, 4748.819170 avg loss, 0.000000 rate, 11.06 seconds, 32 images",
             "12: 3.5, 2.25 avg loss, 0.001 rate"],
    "dict": ["{'loss': 2.5125, 'epoch': 0.01}", "{'loss': -0.0, 'epoch': 3}"],
}
# characters that make lines the regex and the scan might read differently: digits, signs, exponents,
# dots, spaces, tabs, quotes, a non-ASCII digit and letter, a backslash-r
NOISE = "0123456789+-eE. \t'/[]=>ms_,:x١é\r"


@needs_native
@pytest.mark.parametrize("name", sorted(TEMPLATES))
@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_template_reads_what_its_regex_reads(name, data):
    template, select, by_prefix = TEMPLATES[name]
    rx = re.compile("^" + _regex(template) + "$")
    lines = []
    for _ in range(data.draw(st.integers(1, 12))):
        line = list(data.draw(st.sampled_from(GOOD[name])))
        for _ in range(data.draw(st.integers(0, 3))):  # a few random edits
            pos = data.draw(st.integers(0, len(line)))
            op = data.draw(st.integers(0, 2))
            if op == 0 and pos < len(line):
                del line[pos]
            elif op == 1:
                line.insert(pos, data.draw(st.sampled_from(NOISE)))
            elif pos < len(line):
                line[pos] = data.draw(st.sampled_from(NOISE))
        lines.append("".join(line).replace("\n", ""))
    for good in GOOD[name]:  # the unedited lines are read (so the checks below are not vacuous)
        assert rowscan.scan(good, select, template, by_prefix=by_prefix) is not None, good
    block = "\n".join(lines)
    for i, line in enumerate(lines):  # line by line: each line the scan reads, the regex reads the same
        one = rowscan.scan(line, select, template, by_prefix=by_prefix, first_line=i)
        selected = line.startswith(select) if by_prefix else select in line
        if one is None or not selected:
            continue
        m = rx.match(line)
        assert m is not None, line
        assert [_bits(v) for v in one.values] == [_bits(float(g)) for g in m.groups() if g is not None], line
        assert one.lines == [i]
    whole = rowscan.scan(block, select, template, by_prefix=by_prefix, strict=False)
    assert whole is not None
    kept = [i for i, ln in enumerate(lines) if rowscan.scan(ln, select, template, by_prefix=by_prefix) is not None
            and (ln.startswith(select) if by_prefix else select in ln)]
    assert whole.lines == kept
    assert whole.other_lines == [i for i, ln in enumerate(lines)
                                 if (ln.startswith(select) if by_prefix else select in ln) and i not in kept]


@needs_native
def test_scan_reports_other_lines_and_declines_when_strict():
    block = "\n".join(["{'loss': 1.5, 'epoch': 0.1}", "bar 10%|█", "{'eval_loss': 2.0, 'epoch': 0.1}",
                       "{'loss': 1.25, 'epoch': 0.2}", "{'loss': nan, 'epoch': 0.3}"])
    tpl = TEMPLATES["dict"][0]
    assert rowscan.scan(block, "{'loss': ", tpl, marker="{'") is None  # the NaN line: Python reads it
    got = rowscan.scan(block, "{'loss': ", tpl, marker="{'", strict=False, first_line=10)
    assert got.values == [1.5, 0.1, 1.25, 0.2]
    assert got.lines == [10, 13]
    assert got.other_lines == [12, 14]
    assert got.other_texts == ["{'eval_loss': 2.0, 'epoch': 0.1}", "{'loss': nan, 'epoch': 0.3}"]


@needs_native
def test_text_with_a_lone_surrogate_is_declined_not_an_error():
    block = "v=1\nv=2\ud800"
    assert rowscan.scan(block, "v=", ("v=", rowscan.NUM, rowscan.REST)) is None
    assert rowscan.contains_any(block, _BYTE_LITERALS) is True


@needs_native
def test_int_with_a_leading_zero_is_declined():
    assert rowscan.scan("Epoch 07/10", "Epoch ", ("Epoch ", rowscan.INT, "/", rowscan.INT)) is None
    assert rowscan.scan("Epoch 0/10", "Epoch ", ("Epoch ", rowscan.INT, "/", rowscan.INT)).values == [0.0, 10.0]


@needs_native
def test_bad_templates_are_refused():
    for bad in [(rowscan.REST, "x"), ((rowscan.GROUP, (rowscan.NUM,)),), ("é",), (99,), ((rowscan.STAR, ""),)]:
        with pytest.raises((ValueError, TypeError)):
            rowscan.scan("x", "x", bad)


# -- lines: CRLF, last frames; the event pre-filter's search -----------------------------------------

BYTES = st.binary(max_size=300).map(lambda b: bytes(random.Random(b).choice(b"\r\n a-\t\xe2\x96\x88x") for _ in b))


@needs_native
@settings(max_examples=300, deadline=None)
@given(BYTES)
def test_lf_is_replace_crlf(data):
    want = data.replace(b"\r\n", b"\n")
    if want.endswith(b"\r"):
        want = want[:-1]
    assert rowscan.lf(data) == want


@needs_native
@settings(max_examples=300, deadline=None)
@given(BYTES)
def test_last_frames_is_the_python_last_frames(data):
    got = rowscan.last_frames(data)
    text = data.decode("utf-8", "replace")
    if got is None:  # declined: some line's last frame shows nothing visible in ASCII
        assert any("\r" in ln for ln in text.split("\n"))
        return
    assert got.decode("utf-8", "replace") == py_last_frames(text, text.count("\n") + 1)


@needs_native
@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([*_BYTE_LITERALS, b"memory", b"Trace", b"OO", b"x" * 40, b"\xe2\x96\x88", b"\n"]),
                max_size=30))
def test_contains_any_is_any_in(parts):
    data = b"".join(parts)
    assert rowscan.contains_any(data, _BYTE_LITERALS) == any(t in data for t in _BYTE_LITERALS)
    text = data.decode("utf-8", "replace")
    assert rowscan.contains_any(text, _BYTE_LITERALS) == any(t.decode() in text for t in _BYTE_LITERALS)


# -- whole logs: the same samples with and without the scanner ---------------------------------------

def _read(data: bytes, chunk: int) -> list[tuple]:
    reader = LogReader()
    got: list[tuple] = []
    names: dict = {}
    for i in range(0, len(data), chunk):
        b = reader.feed(data[i:i + chunk])
        got.extend(zip(b.metrics, map(repr, b.steps), map(repr, b.values), b.lines, strict=True))
        names.update(b.raw_names)
    b = reader.finish()
    got.extend(zip(b.metrics, map(repr, b.steps), map(repr, b.values), b.lines, strict=True))
    names.update(b.raw_names)
    return [reader.format_name, sorted(names.items()), got]


def _both(data: bytes, chunk: int, monkeypatch) -> tuple[list, list]:
    with_native = _read(data, chunk)
    monkeypatch.setattr(rowscan, "_native", None)
    pure = _read(data, chunk)
    monkeypatch.setattr(rowscan, "_native", native)
    return with_native, pure


def _spiced(data: bytes, extra: list[str], seed: int) -> bytes:
    lines = data.decode().split("\n")
    rng = random.Random(seed)
    for text in extra:
        lines.insert(rng.randrange(1, len(lines)), text)
    return "\n".join(lines).encode()


ODD = {
    "hf": ["{'loss': nan, 'grad_norm': inf, 'learning_rate': 1e-05, 'epoch': 0.5}\r",
           "{'loss': 1.3, 'grad_norm': 'x', 'learning_rate': 1e-05, 'epoch': 0.8}\r",
           "{'loss': 01.5, 'grad_norm': 1, 'learning_rate': 1E-5, 'epoch': 1}\r",
           " 10%|███ | 549/5490 [05:02<38:38,  2.13it/s]{'loss': 1.5, 'grad_norm': 1.0, 'learning_rate': 1e-05, 'epoch': 0.6}\r",
           "{'eval_loss': 2.5, 'eval_runtime': 1.0, 'epoch': 0.9}\r", "CUDA out of memory. Tried to allocate\r"],
    "darknet": [" 77: -nan, -nan avg loss, 0.001000 rate, 3.1 seconds, 64 images",
                " 78: 1.5, 1.25 avg, 0.001000 rate", "080: 1.0, 1.0 avg loss, 0.001 rate, 1.0 seconds",
                "mean_average_precision (mAP@0.50) = 0.5512", "Killed"],
    "nanogpt": ["iter 77: loss nan, time 31.00ms, mfu 30.00%", "iter 78: loss 2.5, time 31.00ms",
                "iter 079: loss 2.5, time 31.00ms, mfu 30.00%", "step 80: train loss 2.5, val loss nan",
                "step 81: something else", "iter 82: loss 2.5, time 31.00ms, mfu 30.00% (compiled)"],
    "kv": ["step=77 loss=nan lr=0.0003 grad_norm=1.0", "step=78 loss=1,000 lr=0.0003 grad_norm=1.0",
           "step=79 loss=0.5 lr=0.0003", "step=80 loss=0.5 lr=0.0003 grad_norm=1.0 time=3.5",
           "step=81 val_loss=0.7", "Number of classes: 10", "step=82 loss=0.5ms lr=3 grad_norm=1",
           "step=83 loss=0.5 lr=3e-4 grad_norm=1.0 step=84"],
    "keras": ["Epoch 00003: val_loss improved from inf to 0.5",
              "472/472 [==============================] - 1s 2ms/step - loss: nan - acc: 0.6 - val_loss: 0.8 - val_acc: 0.7",
              "472/472 [==============================] - ETA: 0s - loss: 0.7 - acc: 0.6",
              "100/100 [==============================] - 0s 1ms/step - loss: 0.7 - acc: 0.6"],
}
GENERATORS = {"hf": gen_logs.hf_stdout, "darknet": gen_logs.darknet, "keras": gen_logs.keras,
              "nanogpt": gen_logs.nanogpt, "kv": gen_logs.kv}


@needs_native
@pytest.mark.parametrize("kind", sorted(GENERATORS))
@pytest.mark.parametrize("chunk", [1 << 20, 4096, 61])
def test_bench_logs_read_the_same(kind, chunk, monkeypatch):
    plain = GENERATORS[kind](3000)
    for data in (plain, _spiced(plain, ODD[kind], seed=chunk)):
        with_native, pure = _both(data, chunk, monkeypatch)
        assert with_native == pure
        assert len(with_native[2]) > 1000


def _real_logs() -> list[Path]:
    paths = sorted(p for p in (FIXTURES / "frameworks").rglob("*") if p.is_file() and p.suffix in (".log", ".txt"))
    paths += sorted(p for p in (FIXTURES / "calibration").rglob("*") if p.is_file() and p.suffix in (".log", ".txt"))
    if CORPUS.is_dir():
        paths += sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.suffix in (".log", ".txt", ".out"))
    return paths


@needs_native
def test_real_logs_read_the_same(monkeypatch):
    paths = _real_logs()
    assert len(paths) > 20
    used = 0
    for path in paths:
        data = path.read_bytes()[:4 << 20]
        for chunk in (1 << 20, 4093):
            with_native, pure = _both(data, chunk, monkeypatch)
            assert with_native == pure, f"{path} (chunks of {chunk})"
        used += with_native[0] in ("hf_trainer", "darknet", "keras", "nanogpt", "kv")
    assert used >= 4


@needs_native
def test_nan_stays_nan_where_the_scanner_declines():
    data = gen_logs.darknet(200) + b" 999: nan, nan avg loss, 0.001 rate, 1.0 seconds, 64 images\n"
    got = _read(data, 1 << 20)[2]
    assert [(m, v) for m, step, v, _ in got if step == "999.0"] == [
        ("loss_raw", "nan"), ("loss", "nan"), ("lr", "0.001"), ("step_time", "1.0")]


# -- kv: a line of the usual record's exact text has the same pairs --------------------------------

KEYS = ["step", "iter", "loss", "train loss", "lr", "grad_norm", "acc", "time", "eta", "of classes", "s", "val/loss",
        "it", "mem"]
SEPS = ["=", ": ", " = ", ":", " "]
JOINS = [" ", ", ", " | ", "\t", "  "]
VALUES = ["0", "1", "-2", "0.5", "12.25", "1e-05", "3E+2", "1,000", "nan", "inf", ".5", "5.", "0.5e", "007", "-0.0",
          "123456789012345678901234", "1.5ms", "2/3"]


@needs_native
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_kv_record_template_reads_what_pair_re_reads(data):
    from losswatch.ingest.formats.kv import KeyValueFormat
    from losswatch.model import SampleBatch

    keys = data.draw(st.lists(st.sampled_from(KEYS), min_size=1, max_size=5))
    seps = [data.draw(st.sampled_from(SEPS)) for _ in keys]
    joins = [data.draw(st.sampled_from(JOINS)) for _ in keys]
    head = data.draw(st.sampled_from(["", "[train] ", "epoch 3/10 "]))
    tail = data.draw(st.sampled_from(["", " ms", "%", " done", "/"]))

    def line(values: list[str]) -> str:
        return head + "".join((j if n else "") + k + s + v for n, (k, s, j, v) in
                              enumerate(zip(keys, seps, joins, values, strict=True))) + tail

    first = line(["1"] * len(keys))
    lines = [first] + [line([data.draw(st.sampled_from(VALUES)) for _ in keys])
                       for _ in range(data.draw(st.integers(1, 12)))]
    block = "\n".join(lines)

    def parse(pure: bool) -> list:
        saved = rowscan._native
        try:
            if pure:
                rowscan._native = None
            p = KeyValueFormat()
            got = []
            for i, text in ((0, first), (1, block)):  # the first line teaches the plan
                out = SampleBatch(0.0)
                p.parse(text, i * 10, out)
                got += list(zip(out.metrics, map(repr, out.steps), map(repr, out.values), out.lines, strict=True))
                got.append(sorted(out.raw_names.items()))
            return got
        finally:
            rowscan._native = saved

    assert parse(pure=False) == parse(pure=True), block
