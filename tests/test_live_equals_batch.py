"""A real log written in random pieces while `tail` follows it gives exactly what `check` reads whole.

Format detection, line splitting, parsing and the store run live (Follower → LiveLoop → Monitor)
on a file a writer appends to; the result is compared sample for sample with reading it whole.
"""

from __future__ import annotations

import math
import os
import random

import pytest

from losswatch.commands.common import read_whole
from losswatch.events import SamplesAdded
from losswatch.monitor import Monitor
from tests.follow_harness import Pipeline, wait_until

LOGS = [
    "keras/dlwp-cats-dogs-convnet_overfit.log",
    "caffe/ssd-shoppe_resume-plateau.log",
    "darknet/yolov4-coco_nutanix_plateau.log",
    "hf_trainer_stdout/cpt-large_win_console.log",
    "raw_tqdm_cr/pyiqa-svtnet_nohup_cr.log",
]


def key(samples) -> list[tuple]:
    return [(m, s, "nan" if math.isnan(v) else v, ln) for m, s, v, ln in samples]


def batch_samples(path: str) -> tuple[str | None, list[tuple]]:
    monitor = Monitor()
    got: list[tuple] = []
    monitor.subscribe(lambda ev: got.extend(zip(ev.batch.metrics, ev.batch.steps, ev.batch.values,
                                                  ev.batch.lines, strict=True))
                      if isinstance(ev, SamplesAdded) else None)
    run = monitor.add_run(path)
    read_whole(monitor, run, path)
    return run.format_name, key(got)


@pytest.mark.parametrize("name", LOGS)
def test_live_tail_equals_whole_read(corpus, tmp_path, name):
    src = corpus / name
    if not src.exists():
        pytest.skip(f"{name} not in the corpus")
    data = src.read_bytes()
    if not data.endswith(b"\n"):
        data += b"\n"  # a live log's unfinished last line is not read until it is finished
    whole_path = tmp_path / "whole.log"
    whole_path.write_bytes(data)
    fmt, expected = batch_samples(str(whole_path))
    assert expected

    path = tmp_path / "live.log"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    p = Pipeline(path, format_name=None, keep_all=True)
    try:
        rng = random.Random(name)
        pos = 0
        while pos < len(data):
            k = rng.choice((1, 7, 100, 4096, 65536))
            pos += os.write(fd, data[pos:pos + k])
            if rng.random() < 0.1:
                p.wait_read(pos)  # the follower sees the file cut here
        wait_until(lambda: len(p.all) >= len(expected), what=f"{len(expected)} samples (have {len(p.all)})")
        assert p.monitor.runs["run"].format_name == fmt
        assert key(p.all) == expected
    finally:
        os.close(fd)
        p.close()
