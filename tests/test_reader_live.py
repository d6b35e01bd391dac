"""The reader fed as a live log is: line by line, format not yet sure."""

from __future__ import annotations

import math

from losswatch.ingest import formats
from losswatch.ingest.reader import LogReader


def key(batches) -> list[tuple]:
    return [(s.metric, s.step, "nan" if math.isnan(s.value) else s.value, s.line_no) for b in batches for s in b]


def test_line_by_line_detection_is_not_quadratic_and_reads_the_same(monkeypatch):
    lines = [f"epoch {i} train loss 0.{i} val_loss={i / 7}\n".encode() for i in range(2500)]
    whole = LogReader()
    expected = key([whole.feed(b"".join(lines), 0.0), whole.finish(0.0)])
    calls = []
    real = formats.detect
    monkeypatch.setattr(formats, "detect", lambda ls, final=False: calls.append(len(ls)) or real(ls, final))
    live = LogReader()
    got = key([live.feed(ln, 0.0) for ln in lines] + [live.finish(0.0)])
    assert live.format_name == whole.format_name
    assert got == expected and got
    assert len(calls) < 60  # not one detection per line
