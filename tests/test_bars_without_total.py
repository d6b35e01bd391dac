"""tqdm bars without a total (data without a length, e.g. an IterableDataset): each epoch's last frame,
overwritten on the same physical line by the next epoch's bar, still reaches the parser.

Real tqdm writes the log to a real file here (tqdm's own "Epoch 0: 12it [00:01, 9.60it/s, loss=…]",
named per epoch with `set_description` as Lightning 1.x did); Lightning 2's "Epoch 0: |  | 12/? [" is
the committed fixture frameworks/lightning_healthy_iterable.log (read against its truth in
test_framework_fixtures.py). Whole reads and random chunkings give the same samples.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

from losswatch.commands.common import read_whole
from losswatch.ingest.lines import LineSplitter
from losswatch.ingest.reader import LogReader
from losswatch.monitor import Monitor
from tests.conftest import FIXTURES, require_module

EPOCHS, STEPS = 5, 23


def write_tqdm_log(path: Path, leave_last: bool = True) -> dict[str, list[tuple[float, float]]]:
    """A Lightning-1.x-like loop drawn by real tqdm (no total) into a file; returns what it showed last per epoch."""
    tqdm = require_module("tqdm").tqdm

    truth: dict[str, list[tuple[float, float]]] = {"loss": [], "val_loss": []}
    rng = random.Random(3)
    with open(path, "w") as f:
        f.write("GPU available: False, used: False\n")
        bar = tqdm(file=f, mininterval=0, miniters=1, desc="Epoch 0", ascii=True)
        loss = 2.0
        for epoch in range(EPOCHS):
            if epoch:
                bar.reset()
                bar.set_description(f"Epoch {epoch}")
            val = {} if epoch == 0 else {"val_loss": round(truth["val_loss"][-1][1], 3)}
            for _ in range(STEPS):
                loss = round(loss * rng.uniform(0.9, 1.0), 4)
                bar.update(1)
                bar.set_postfix(loss=loss, v_num=0, **val)
            val_loss = round(loss * 1.1 + 0.01 * epoch, 4)
            bar.set_postfix(loss=loss, v_num=0, val_loss=val_loss)  # redrawn after validation
            truth["loss"].append((float(epoch), loss))
            truth["val_loss"].append((float(epoch), val_loss))
        if leave_last:
            bar.close()
    return truth


def _points(path: Path) -> tuple[str | None, dict[str, list[tuple[float, float]]]]:
    m = Monitor()
    run = m.add_run(str(path), None)
    read_whole(m, run, str(path))
    return run.format_name, {k: [(st, v) for st, v, _ in s.points()] for k, s in run.store.series.items()}


def _close(got: list[tuple[float, float]], want: list[tuple[float, float]]) -> bool:
    return len(got) == len(want) and all(
        g[0] == w[0] and math.isclose(g[1], w[1], rel_tol=5e-3) for g, w in zip(got, want, strict=True))


def test_real_tqdm_without_total_every_epochs_last_frame_is_read(tmp_path):
    log = tmp_path / "train.log"
    truth = write_tqdm_log(log)
    data = log.read_bytes()
    assert b" 23it [" in data and b"%|" not in data  # really a bar without a total, one physical line
    assert data.count(b"\n") == 2
    fmt, pts = _points(log)
    assert fmt == "lightning"
    # tqdm prints 3 significant digits; every epoch's val_loss (shown only in the frame before the reset)
    assert _close(pts["val_loss"], truth["val_loss"]), (pts["val_loss"], truth["val_loss"])
    assert _close(pts["loss"], truth["loss"]), (pts["loss"], truth["loss"])


def test_splitter_hands_over_each_epochs_end_frame(tmp_path):
    log = tmp_path / "train.log"
    truth = write_tqdm_log(log)
    sp = LineSplitter()
    first, block = sp.feed(log.read_bytes())
    ends = sp.bar_ends
    # epochs 0..3 end in the middle of the line; epoch 4's last frame is the line's shown text
    assert [n for n, _ in ends] == [2] * (EPOCHS - 1)
    for (_, frame), (epoch, val) in zip(ends, truth["val_loss"], strict=False):
        assert frame.startswith(f"Epoch {epoch:.0f}: ") and f" {STEPS}it [" in frame
        assert frame.endswith(f"val_loss={val:.3g}]")
    assert block.split("\n")[1].startswith(f"Epoch {EPOCHS - 1}: : {STEPS}it [")


def _samples(data: bytes, sizes) -> list[tuple]:
    reader = LogReader()
    out = []
    pos = 0
    for size in sizes:
        if pos >= len(data):
            break
        out.extend(reader.feed(data[pos:pos + size], wall_time=0.0))
        pos += size
    if pos < len(data):
        out.extend(reader.feed(data[pos:], wall_time=0.0))
    out.extend(reader.finish(wall_time=0.0))
    return [(s.metric, s.step, s.value, s.line_no) for s in out]


@pytest.mark.parametrize("source", ["tqdm", "lightning_healthy_iterable.log"])
def test_random_chunks_give_the_same_samples(tmp_path, source):
    if source == "tqdm":
        log = tmp_path / "train.log"
        write_tqdm_log(log, leave_last=False)  # a line still open at the end: flush judges it too
        data = log.read_bytes()
    else:
        data = (FIXTURES / "frameworks" / source).read_bytes()
    whole = _samples(data, [len(data)])
    assert sum(1 for s in whole if s[0] == "val_loss") >= EPOCHS - 1
    rng = random.Random(source)
    for _ in range(3):
        sizes = [rng.choice((1, 2, 5, 64, 999, 70_000)) for _ in range(len(data))]
        assert _samples(data, sizes) == whole
