"""Metric lines hard-wrapped at a fixed width (terminal, log shipper) are joined back before reading."""

from __future__ import annotations

import math
import random

from losswatch.ingest.reader import LogReader
from tests.conftest import FIXTURES

WRAPPED = FIXTURES / "wrapped"


def samples(data: bytes, sizes=None, fmt: str | None = None) -> tuple[str | None, list[tuple]]:
    reader = LogReader(fmt)
    out = []
    pos = 0
    for size in sizes or [len(data)]:
        out.extend(reader.feed(data[pos:pos + size], 0.0))
        pos += size
    out.extend(reader.feed(data[pos:], 0.0))
    out.extend(reader.finish(0.0))
    return reader.format_name, [(s.metric, s.step, "nan" if math.isnan(s.value) else s.value, s.line_no)
                                for s in out]


def test_the_wrapped_fixture_is_the_original_cut_at_120_columns():
    orig = (WRAPPED / "detectron2_nyu-ssod_head.log").read_text().split("\n")
    wrapped = (WRAPPED / "detectron2_nyu-ssod_head_wrapped120.log").read_text().split("\n")
    assert max(len(w) for w in wrapped) == 120 and len(wrapped) > len(orig)
    assert "".join(orig) == "".join(wrapped)
    assert any(w.endswith("loss_box_reg: 0.1") for w in wrapped)  # values cut in two: 0.1|172


def test_detectron2_wrapped_metric_lines_read_as_the_original():
    orig = (WRAPPED / "detectron2_nyu-ssod_head.log").read_bytes()
    wrapped = (WRAPPED / "detectron2_nyu-ssod_head_wrapped120.log").read_bytes()
    fmt_o, want = samples(orig)
    fmt_w, got = samples(wrapped)
    assert fmt_o == fmt_w == "detectron2"
    assert len(want) > 100
    assert [s[:3] for s in got] == [s[:3] for s in want]  # same metrics, steps, values: no cut values
    assert ("loss_box_reg", 119.0, 0.1172) in [s[:3] for s in got]  # cut as "0.1" / "172"
    # each record is read at the physical line where it begins
    lines = wrapped.decode().split("\n")
    for metric, step, _, line_no in got:
        assert f"iter: {int(step)} " in lines[line_no - 1] + lines[line_no], (metric, step, line_no)


def test_detectron2_wrapped_in_random_pieces_equals_whole():
    data = (WRAPPED / "detectron2_nyu-ssod_head_wrapped120.log").read_bytes()
    whole = samples(data)
    rng = random.Random(5)
    for _ in range(3):
        assert samples(data, [rng.choice((1, 7, 121, 4096)) for _ in range(len(data))]) == whole


def test_detectron2_record_cut_at_the_end_of_the_file_is_still_read():
    line = ("[11/16 02:58:46] d2.utils.events INFO:  eta: 3:32:07  iter: 39  total_loss: 11.32  loss_cls: 9.551  "
            "time: 0.6859  data_time: 0.0725  lr: 5.2039e-05  max_mem: 11810M\n")
    cut = line * 2 + line[:100]  # the last record: no rest, no new record after it
    _, got = samples(cut.encode(), fmt="detectron2")
    assert [(m, s, v) for m, s, v, _ in got if m == "loss"] == [("loss", 39.0, 11.32)] * 3
    # a log without max_mem (CPU): a line ending with its lr is complete, read at once
    cpu = line.replace("  max_mem: 11810M", "")
    reader = LogReader("detectron2")
    assert [s.metric for s in reader.feed(cpu.encode(), 0.0)] == ["loss", "loss_cls", "lr"]
