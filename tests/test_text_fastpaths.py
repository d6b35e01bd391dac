"""The column-wise fast paths of the hf_trainer and keras parsers give exactly what reading line by line gives.

Logs from bench/gen_logs.py (the benchmark's inputs) with odd lines mixed in: NaN/Inf values, a
dict glued after a bar, another dict shape, a model.evaluate() bar, a bar with an extra field.
"""

from __future__ import annotations

import math
import random

import pytest

from bench import gen_logs
from losswatch.ingest.formats.hf_trainer import HFTrainerFormat, _Plan
from losswatch.ingest.formats.keras import KerasFormat
from losswatch.ingest.lines import LineSplitter
from losswatch.model import SampleBatch

NEVER = _Plan(("\x00never",))


class SlowHF(HFTrainerFormat):
    def parse(self, block, first_line, out):
        self.main = NEVER  # a usual shape no line has: every dict is read one by one
        super().parse(block, first_line, out)


class SlowKeras(KerasFormat):
    def _parse_fast(self, lines, first_line, out):
        return False


def _spice(data: bytes, extra: list[str], seed: int) -> bytes:
    lines = data.decode().split("\n")
    rng = random.Random(seed)
    for text in extra:
        lines.insert(rng.randrange(len(lines) // 2, len(lines)), text)
    return "\n".join(lines).encode()


def _samples(cls, data: bytes, chunk: int) -> list[tuple]:
    sp = LineSplitter()
    parser = cls()
    got = []
    for i in range(0, len(data), chunk):
        b = sp.feed(data[i:i + chunk])
        if b:
            out = SampleBatch(0.0)
            parser.parse(b[1], b[0], out)
            got.extend(out)
    return [(s.metric, s.step, "nan" if math.isnan(s.value) else s.value, s.line_no) for s in got]


HF_EXTRA = [
    "{'loss': nan, 'grad_norm': inf, 'learning_rate': 1e-05, 'epoch': 0.5}\r",
    " 10%|███ | 549/5490 [05:02<38:38,  2.13it/s]{'loss': 1.5, 'grad_norm': 1.0, 'learning_rate': 1e-05, 'epoch': 0.6}\r",
    "{'loss': 1.4, 'learning_rate': 1e-05, 'epoch': 0.7}\r",
    "{'loss': 1.3, 'grad_norm': 'x', 'learning_rate': 1e-05, 'epoch': 0.8}\r",
    # eval dicts (read column-wise as the second shape): NaN, a text value, glued, another shape
    "{'eval_loss': nan, 'eval_rouge-1': 45.0, 'eval_runtime': 1.5, 'eval_samples_per_second': 0.4, "
    "'eval_steps_per_second': 0.067, 'epoch': 0.85}\r",
    "{'eval_loss': 1.1, 'eval_rouge-1': 'n/a', 'eval_runtime': 1.5, 'eval_samples_per_second': 0.4, "
    "'eval_steps_per_second': 0.067, 'epoch': 0.86}\r",
    " 10%|███ | 549/5490 [05:02<38:38,  2.13it/s]{'eval_loss': 1.2, 'eval_rouge-1': 44.0, 'eval_runtime': 1.5, "
    "'eval_samples_per_second': 0.4, 'eval_steps_per_second': 0.067, 'epoch': 0.87}\r",
    "{'eval_loss': 1.2, 'eval_runtime': 1.5, 'epoch': 0.88}\r",
]
KERAS_EXTRA = [
    "313/313 [==============================] - 1s 2ms/step - loss: 0.61 - acc: 0.75",
    "472/472 [==============================] - 1s 2ms/step - loss: nan - acc: 0.6 - val_loss: inf - val_acc: 0.5",
    "472/472 [==============================] - 1s 2ms/step - loss: 0.5 - acc: 0.6 - val_loss: 0.7 - val_acc: 0.5"
    " - lr: 0.001",
    " 50/472 [==>...........................] - ETA: 0s - loss: 0.6281 - acc: 0.6800Epoch 02815: x",
    "Epoch 12: val_loss improved from 0.51 to 0.50, saving model to best.h5",
    "2024-01-01 12:00:00 - INFO - a line with a dash",
]


@pytest.mark.parametrize("chunk", [4096, 65536, 1 << 20])
def test_hf_fast_path_equals_line_by_line(chunk):
    data = _spice(gen_logs.hf_stdout(6000), HF_EXTRA, chunk)
    fast = _samples(HFTrainerFormat, data, chunk)
    assert len(fast) > 10000
    assert fast == _samples(SlowHF, data, chunk)


@pytest.mark.parametrize("chunk", [4096, 65536, 1 << 20])
def test_keras_fast_path_equals_line_by_line(chunk):
    data = _spice(gen_logs.keras(6000), KERAS_EXTRA, chunk)
    fast = _samples(KerasFormat, data, chunk)
    assert len(fast) > 10000
    assert fast == _samples(SlowKeras, data, chunk)
    assert any(m == "test.loss" for m, *_ in fast)


def test_darknet_fast_path_equals_line_by_line():
    base = gen_logs.darknet(6000).decode().split("\n")
    base.insert(100, " 51: -nan, nan avg loss, 0.000000 rate, 12.090222 seconds, 32 images, -1.000000 hours left")
    base.insert(200, " 52: 1.0, 2.0 avg, 0.001 rate, 3.1 seconds, 64 images")
    fast_data = "\n".join(base).encode()
    # a line with " avg" that is not an iteration line sends the whole block line by line
    slow_data = "\n".join([*base[:-1], "some avg text", ""]).encode()
    from losswatch.ingest.formats.darknet import DarknetFormat

    fast = _samples(DarknetFormat, fast_data, 1 << 22)
    slow = _samples(DarknetFormat, slow_data, 1 << 22)
    assert len(fast) > 5000 and fast == slow
