"""Logs produced by running the real frameworks on CPU (tests/fixtures/frameworks/make_*.py), read
back and compared with what the framework itself recorded (its *.truth.json)."""

from __future__ import annotations

import json
import math

import pytest

from losswatch.ingest.reader import LogReader
from tests.conftest import FIXTURES

DIR = FIXTURES / "frameworks"


def read(name: str):
    reader = LogReader()
    data = (DIR / name).read_bytes()
    got = list(reader.feed(data, 0.0)) + list(reader.finish(0.0))
    return reader.format_name, got


def series(samples, metric):
    return [(s.step, s.value) for s in samples if s.metric == metric]


def close(a, b, rel):
    return len(a) == len(b) and all(math.isclose(x, y, rel_tol=rel) for x, y in zip(a, b, strict=True))


def test_hf_trainer_console_matches_log_history():
    truth = json.loads((DIR / "hf.truth.json").read_text())
    fmt, got = read("hf_trainer.log")
    assert fmt == "hf_trainer"
    train = [e for e in truth if "loss" in e]
    evals = [e for e in truth if "eval_loss" in e]
    loss, val = series(got, "loss"), series(got, "val_loss")
    # the console rounds to 4 significant digits and prints the epoch, not the step
    assert close([v for _, v in loss], [e["loss"] for e in train], 1e-3)
    assert close([s for s, _ in loss], [e["epoch"] for e in train], 1e-3)
    assert close([v for _, v in series(got, "lr")], [e["learning_rate"] for e in train], 1e-3)
    assert close([v for _, v in val], [e["eval_loss"] for e in evals], 1e-3)
    assert "train_loss" not in {s.metric for s in got}  # the run summary is not a point


def test_hf_trainer_state_matches_log_history():
    truth = json.loads((DIR / "hf.truth.json").read_text())
    fmt, got = read("hf_trainer_state.json")
    assert fmt == "hf_trainer_state"
    state = json.loads((DIR / "hf_trainer_state.json").read_text())["log_history"]
    train = [e for e in state if "loss" in e]
    assert series(got, "loss") == [(e["step"], e["loss"]) for e in train]
    assert series(got, "grad_norm") == [(e["step"], e["grad_norm"]) for e in train]
    assert series(got, "val_loss") == [(e["step"], e["eval_loss"]) for e in state if "eval_loss" in e]
    assert train == [e for e in truth if "loss" in e][:len(train)]


def test_lightning_rich_bar_last_state():
    truth = json.loads((DIR / "lightning.truth.json").read_text())
    fmt, got = read("lightning_rich.log")
    assert fmt == "lightning"
    (step, v), = series(got, "loss")
    assert step == truth["train_loss"][-1][0] and math.isclose(v, truth["train_loss"][-1][1], rel_tol=5e-3)
    (step, v), = series(got, "val_loss")
    assert step == truth["val_loss"][-1][0] and math.isclose(v, truth["val_loss"][-1][1], rel_tol=5e-3)


def test_lightning_tqdm_train_loss_per_epoch():
    truth = json.loads((DIR / "lightning.truth.json").read_text())
    fmt, got = read("lightning_tqdm.log")
    assert fmt == "lightning"
    loss = series(got, "loss")
    assert [s for s, _ in loss] == [e for e, _ in truth["train_loss"]]
    assert close([v for _, v in loss], [v for _, v in truth["train_loss"]], 5e-3)


@pytest.mark.xfail(strict=True, reason=(
    "tqdm written to a file (not a terminal): epoch N's final state with its val_loss is a middle '\\r' "
    "frame of the physical line that ends with epoch N+1's bar (after a cursor-up ESC[A); the line "
    "model keeps only the last frame, so val_loss lands one epoch late"))
def test_lightning_tqdm_val_loss_per_epoch():
    truth = json.loads((DIR / "lightning.truth.json").read_text())
    _, got = read("lightning_tqdm.log")
    val = series(got, "val_loss")
    assert [s for s, _ in val] == [e for e, _ in truth["val_loss"]]
    assert close([v for _, v in val], [v for _, v in truth["val_loss"]], 5e-3)


def test_keras3_fit_matches_history():
    truth = json.loads((DIR / "keras.truth.json").read_text())
    fmt, got = read("keras3.log")
    assert fmt == "keras"
    epochs = list(range(1, len(truth["loss"]) + 1))
    for metric, key in (("loss", "loss"), ("val_loss", "val_loss"), ("acc", "accuracy"), ("val_acc", "val_accuracy")):
        s = series(got, metric)
        assert [st for st, _ in s] == epochs, metric  # one point per epoch, though some bars print twice
        assert close([v for _, v in s], truth[key], 5e-4), metric  # printed with 4 decimals
    assert {m for m in {x.metric for x in got} if m.startswith("test.")} == {"test.loss", "test.acc"}  # evaluate()
