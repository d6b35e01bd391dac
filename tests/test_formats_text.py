"""Edge cases of the text-log parsers: NaN spellings, traps from truth.json notes, state across blocks."""

from __future__ import annotations

import math

import pytest

from losswatch.ingest import formats
from losswatch.ingest.reader import LogReader


def read(text: str | bytes, fmt: str | None = None, chunk: int = 0):
    """(format, [(metric, step, value, line)]) of a log fed whole or in `chunk`-byte pieces."""
    data = text.encode() if isinstance(text, str) else text
    reader = LogReader(fmt)
    out = []
    pieces = [data] if not chunk else [data[i:i + chunk] for i in range(0, len(data), chunk)]
    for p in pieces:
        out.extend(reader.feed(p, wall_time=0.0))
    out.extend(reader.finish(wall_time=0.0))
    return reader.format_name, [(s.metric, s.step, s.value, s.line_no) for s in out]


def series(samples, metric):
    return [(s, v, ln) for m, s, v, ln in samples if m == metric]


def same(a, b):
    return len(a) == len(b) and all(
        x[:1] == y[:1] and (x[1] == y[1] or (math.isnan(x[1]) and math.isnan(y[1]))) and x[2:] == y[2:]
        for x, y in zip(a, b, strict=True))


# --- darknet --------------------------------------------------------------------------------------

DARKNET = (
    " 1: 4173.809082, 4173.809082 avg loss, 0.000000 rate, 12.090222 seconds, 32 images, -1.000000 hours left\n"
    "Loaded: 0.000027 seconds\n"
    " 2: -nan, nan avg loss, 0.001000 rate, 11.797990 seconds, 64 images, 1680.877665 hours left\n"
    " 3: inf, -nan(ind) avg loss, 0.001000 rate, 11.0 seconds, 96 images, 1680.0 hours left\n"
    "4: 1164.000000, 1164.000000 avg, 0.000000 rate, 3.1 seconds, 64 images\n"
)


def test_darknet_values_nan_and_eta():
    fmt, s = read(DARKNET)
    assert fmt == "darknet"
    loss = series(s, "loss")
    assert [x[0] for x in loss] == [1, 2, 3, 4]
    assert loss[0][1] == 4173.809082 and math.isnan(loss[1][1]) and math.isnan(loss[2][1])
    raw = series(s, "loss_raw")
    assert math.isnan(raw[1][1]) and raw[2][1] == math.inf
    assert [x[1] for x in series(s, "lr")] == [0.0, 0.001, 0.001, 0.0]
    assert [x[2] for x in loss] == [1, 3, 4, 5]
    assert not any(v in (-1.0, 1680.877665) for _, _, v, _ in s)  # ETA is not a metric
    assert {m for m, *_ in s} == {"loss", "loss_raw", "lr", "step_time"}


def test_darknet_map_line_takes_last_iteration():
    text = DARKNET + " mean_average_precision (mAP@0.50) = 0.452100\n"
    _, s = read(text)
    assert series(s, "val.map") == [(4.0, 0.4521, 6)]


# --- caffe ----------------------------------------------------------------------------------------

CAFFE = """\
I0718 06:12:07.473023 23375 solver.cpp:237]     Train net output #1: softmax_loss = 87.3365 (* 1 = 87.3365 loss)
I0718 06:12:07.473049 23375 sgd_solver.cpp:105] Iteration 26400, lr = 1e-05
I0718 06:13:29.755089 23375 solver.cpp:218] Iteration 26500 (1.2 iter/s, 82.2838s/100 iters), loss = -nan
I0718 06:13:29.755290 23375 solver.cpp:237]     Train net output #0: lambda = 5
I0718 06:13:29.755340 23375 solver.cpp:237]     Train net output #1: loss = inf (* 1 = inf loss)
I0718 06:13:29.755373 23375 sgd_solver.cpp:105] Iteration 26500, lr = 1e-05
I0727 22:37:49.441298  5214 solver.cpp:433] Iteration 27000, Testing net (#0)
I0727 22:37:53.084661  5214 solver.cpp:546]     Test net output #0: accuracy = 0.9
I0727 22:37:53.084661  5214 solver.cpp:546]     Test net output #1: loss = 0.3 (* 1 = 0.3 loss)
I0727 22:37:53.084661  5214 solver.cpp:546]     Test net output #2: detection_eval = 0.22
"""


@pytest.mark.parametrize("chunk", [0, 1, 50])
def test_caffe_cut_iteration_and_outputs(chunk):
    fmt, s = read(CAFFE, chunk=chunk)
    assert fmt == "caffe"
    assert series(s, "softmax_loss") == [(26400.0, 87.3365, 1)]  # step from the following lr line
    loss = series(s, "loss")
    assert len(loss) == 1 and loss[0][0] == 26500 and math.isnan(loss[0][1])
    assert series(s, "loss_raw") == [(26500.0, math.inf, 5)]  # an output called "loss" is the raw one
    assert series(s, "lr") == [(26400.0, 1e-05, 2), (26500.0, 1e-05, 6)]
    assert series(s, "val_acc") == [(27000.0, 0.9, 8)]
    assert series(s, "val_loss") == [(27000.0, 0.3, 9)]
    assert series(s, "val.detection_eval") == [(27000.0, 0.22, 10)]


def test_caffe_state_across_blocks():
    reader = LogReader("caffe")
    first = CAFFE.split("\n")
    a = reader.feed(("\n".join(first[:3]) + "\n").encode(), 0.0)
    b = reader.feed(("\n".join(first[3:6]) + "\n").encode(), 0.0)
    got = [(x.metric, x.step, x.line_no) for x in list(a) + list(b)]
    assert ("loss_raw", 26500.0, 5) in got and ("lambda", 26500.0, 4) in got


# --- keras ----------------------------------------------------------------------------------------

KERAS = (
    "Epoch 2816/10000\n"
    " 50/472 [==>...........................] - ETA: 0s - loss: 0.6281 - acc: 0.6800"
    "Epoch 02815: val_acc did not improve\n"
    "472/472 [==============================] - 0s - loss: 0.5151 - acc: 0.7648 - val_loss: 1.2978 - val_acc: 0.4151\n"
    "Epoch 2817/10000\n"
    "363/363 [==============================] - 1s 1ms/step - loss: nan - val_loss: inf\n"
    "Epoch 2818/10000\n"
    "\r 1/10 [==>.......] - ETA: 3s - loss: 9.0\r10/10 [==========] - 1s 2ms/step - loss: 0.5 - accuracy: 0.8"
    " - val_loss: 0.6 - val_accuracy: 0.7\n"
    "313/313 [==============================] - 1s 2ms/step - loss: 0.61 - accuracy: 0.75\n"
    "Epoch 2819/10000\n"
    "10/10 ━━━━━━━━━━━━━━━━━━━━ 1s 2ms/step - loss: 0.4 - val_loss: 0.55\n"
)


@pytest.mark.parametrize("chunk", [0, 1, 13])
def test_keras_final_bars_only(chunk):
    fmt, s = read(KERAS, chunk=chunk)
    assert fmt == "keras"
    loss = series(s, "loss")
    assert [(st, ln) for st, _, ln in loss] == [(2816, 3), (2817, 5), (2818, 7), (2819, 10)]
    assert loss[0][1] == 0.5151 and math.isnan(loss[1][1]) and loss[2][1] == 0.5
    assert series(s, "val_loss")[1][1] == math.inf
    assert series(s, "val_acc") == [(2816.0, 0.4151, 3), (2818.0, 0.7, 7)]
    assert series(s, "acc") == [(2816.0, 0.7648, 3), (2818.0, 0.8, 7)]
    # model.evaluate() after the epoch's final bar: kept, but not as a train point
    assert series(s, "test.loss") == [(2818.0, 0.61, 8)]
    assert not any(v in (0.6281, 9.0) for _, _, v, _ in s)  # intermediate states are not points


# --- lightning ------------------------------------------------------------------------------------

LIGHTNING = (
    "GPU available: False, used: False\n"
    "Epoch 0:  50%|█    | 391/782 [01:30<01:30,  4.32it/s, v_num=4, train_loss=1.500, train_acc=0.2]\n"
    "Epoch 0: 100%|█| 782/782 [03:00<00:00,  4.32it/s, v_num=4, train_loss=nan, train_acc=0.312, val_loss=1.410, "
    "val_accurMetric val_accuracy improved. New best score: 0.518\n"
    "Epoch 1: 100%|█| 782/782 [03:00<00:00,  4.32it/s, v_num=4, loss=0.9, train_loss=0.858, val_loss=1.09, val_acc"
    "Epoch 1, global step 1564: 'val_accuracy' was not in top 3\n"
    "`Trainer.fit` stopped: `max_epochs=2` reached.\n"
    "Epoch 1: 100%|█| 782/782 [03:00<00:00,  4.32it/s, v_num=4, loss=0.9, train_loss=0.858, val_loss=1.09, val_ac\n"
    "Epoch 2: 100%|█| 782/782 [03:00<00:00,  4.32it/s, v_num=4, train_loss=0.7, val_loss=1.0]\n"
    "───────────\n"
    "       Test metric             DataLoader 0\n"
    "───────────\n"
    "        test_loss           0.42416152358055115\n"
    "───────────\n"
)


@pytest.mark.parametrize("chunk", [0, 1, 29])
def test_lightning_final_bars_truncation_and_repeats(chunk):
    fmt, s = read(LIGHTNING, chunk=chunk)
    assert fmt == "lightning"
    loss = series(s, "loss")
    assert [(st, ln) for st, _, ln in loss] == [(0, 3), (1, 4), (2, 7)]  # the repeated epoch-1 bar adds nothing
    assert math.isnan(loss[0][1])
    assert series(s, "loss_running") == [(1.0, 0.9, 4)]
    assert series(s, "val_loss") == [(0.0, 1.41, 3), (1.0, 1.09, 4), (2.0, 1.0, 7)]
    assert not any(m.startswith("val_acc") or m == "v_num" for m, *_ in s)  # cut off: no value
    assert series(s, "test_loss") == [(2.0, 0.42416152358055115, 11)]


# --- HF Trainer stdout ----------------------------------------------------------------------------

HF = (
    "***** Running training *****\r\n"
    "accelerator_config={'split_batches': False, 'dispatch_batches': None},\r\n"
    "{'loss': 1.1409, 'grad_norm': 2.757542133331299, 'learning_rate': 1.8e-05, 'epoch': 0.91}\r\n"
    " 10%|███ | 549/5490 [05:02<38:38,  2.13it/s]{'loss': nan, 'grad_norm': inf, 'learning_rate': 1e-05, "
    "'epoch': 1.5}\r\n"
    "{'eval_loss': 0.65, 'eval_rouge-1': 46.5, 'eval_accuracy': 0.5, 'eval_runtime': 2725.7, "
    "'eval_samples_per_second': 0.403, 'epoch': 2.0}\r\n"
    "{'loss': 0.5, 'learning_rate': 2e-05, 'epoch': 3.0, 'step': 300}\r\n"
    "{'train_runtime': 64358.151, 'train_samples_per_second': 0.511, 'train_loss': 0.4479, 'epoch': 10.0}\r\n"
    "***** train metrics *****\r\n"
    "  train_loss               =     0.4479\r\n"
    "Non-default generation parameters: {'max_length': 512, 'num_beams': 4}\r\n"
)


@pytest.mark.parametrize("chunk", [0, 1, 17])
def test_hf_trainer_dicts(chunk):
    fmt, s = read(HF, chunk=chunk)
    assert fmt == "hf_trainer"
    loss = series(s, "loss")
    assert [(st, ln) for st, _, ln in loss] == [(0.91, 3), (1.5, 4), (300.0, 6)]
    assert math.isnan(loss[1][1]) and loss[2][1] == 0.5
    assert series(s, "grad_norm")[1][1] == math.inf
    assert series(s, "lr")[0] == (0.91, 1.8e-05, 3)
    assert series(s, "val_loss") == [(2.0, 0.65, 5)]
    assert series(s, "val.rouge_1") == [(2.0, 46.5, 5)]
    assert series(s, "val_acc") == [(2.0, 0.5, 5)]
    assert series(s, "epoch") == [(300.0, 3.0, 6)]  # only where a step is given
    metrics = {m for m, *_ in s}
    assert not metrics & {"train_loss", "max_length", "num_beams", "split_batches", "val.runtime"}
    assert not any(v == 0.4479 for _, _, v, _ in s)


# --- HF trainer_state.json ------------------------------------------------------------------------

STATE_HEAD = '{\n  "best_metric": null,\n  "global_step": 20,\n  "log_history": [\n'
ENTRY_TRAIN = '    {\n      "epoch": %s,\n      "grad_norm": 1.5,\n      "learning_rate": 0.001,\n' \
              '      "loss": %s,\n      "step": %d\n    }'
ENTRY_EVAL = '    {\n      "epoch": 1.0,\n      "eval_loss": 0.7,\n      "eval_runtime": 3.5,\n      "step": %d\n    }'
ENTRY_PRED = '    {\n      "epoch": 1.0,\n      "predict_loss": 0.8\n    }'
ENTRY_SUMMARY = '    {\n      "epoch": 1.0,\n      "step": 20,\n      "train_loss": 0.4,\n      "train_runtime": 9.0\n    }'
STATE_TAIL = '\n  ],\n  "max_steps": 20\n}\n'


def state_doc(entries):
    return STATE_HEAD + ",\n".join(entries) + STATE_TAIL


def test_trainer_state_entries_and_lines():
    doc = state_doc([ENTRY_TRAIN % ("0.5", "NaN", 10), ENTRY_EVAL % 10, ENTRY_PRED, ENTRY_SUMMARY])
    for chunk in (0, 1, 40):
        fmt, s = read(doc, chunk=chunk)
        assert fmt == "hf_trainer_state"
        loss = series(s, "loss")
        assert len(loss) == 1 and loss[0][0] == 10 and math.isnan(loss[0][1]) and loss[0][2] == 9
        assert series(s, "val_loss") == [(10.0, 0.7, 14)]
        assert series(s, "predict_loss") == [(10.0, 0.8, 20)]  # no step: the last step seen
        assert series(s, "epoch") == [(10.0, 0.5, 6)]
        assert not {m for m, *_ in s} & {"train_loss", "val.runtime", "train_runtime"}


def test_trainer_state_rewrite_does_not_repeat(tmp_path):
    reader = LogReader()
    got = list(reader.feed(state_doc([ENTRY_TRAIN % ("0.5", "2.0", 10)]).encode(), 0.0))
    reader.restart()  # the Trainer rewrote the file with one more entry
    got += list(reader.feed(state_doc([ENTRY_TRAIN % ("0.5", "2.0", 10), ENTRY_TRAIN % ("1.0", "1.5", 20)])
                            .encode(), 0.0))
    assert [(x.step, x.value) for x in got if x.metric == "loss"] == [(10.0, 2.0), (20.0, 1.5)]


# --- nanoGPT family -------------------------------------------------------------------------------

def test_build_nanogpt_stdout_val_step_and_information_trap():
    text = (
        "total desired batch size: 524288\n"
        "validation loss: 10.9522\n"
        "HellaSwag accuracy: 2497/10042=0.2487\n"
        "step     0 | loss: 10.955010 | lr 6.0000e-04 | norm: 15.3420 | dt: 19152.47ms | tok/sec: 27374.43\n"
        "rank 0 sample 0: Hello, I'm a language model, and information is inf nan\n"
        "step     1 | loss: nan | lr 6.0000e-04 | norm: inf | dt: 394.95ms | tok/sec: 1327465.30\n"
        "validation loss: 6.2648\n"
        "step     2 | loss: 9.3 | lr 6.0000e-04 | norm: 2.0 | dt: 399.41ms | tok/sec: 1312662.41\n"
    )
    for chunk in (0, 1):
        fmt, s = read(text, chunk=chunk)
        assert fmt == "build_nanogpt"
        assert series(s, "val_loss") == [(0.0, 10.9522, 2), (2.0, 6.2648, 7)]
        assert series(s, "hellaswag") == [(0.0, 0.2487, 3)]
        loss = series(s, "loss")
        assert [x[0] for x in loss] == [0, 1, 2] and math.isnan(loss[1][1])
        assert sum(1 for *_, v, _ in s if isinstance(v, float) and not math.isfinite(v)) == 2


def test_build_nanogpt_log_txt():
    fmt, s = read("0 val 10.9522\n0 hella 0.2487\n0 train 10.955010\n1 train nan\n")
    assert fmt == "build_nanogpt"
    assert series(s, "val_loss") == [(0.0, 10.9522, 1)]
    assert [x[0] for x in series(s, "loss")] == [0, 1]


def test_llmc_names():
    fmt, s = read("s:0 tel:11.0092\ns:0 trl:11.0091 lr:0.000001 norm:15.37\ns:1 trl:-nan lr:0.000002 norm:inf\n")
    assert fmt == "llmc"
    assert series(s, "val_loss") == [(0.0, 11.0092, 1)]
    assert series(s, "lr") == [(0.0, 1e-06, 2), (1.0, 2e-06, 3)]
    assert math.isnan(series(s, "loss")[1][1]) and series(s, "grad_norm")[1][1] == math.inf


def test_modded_nanogpt_step_avg_nan_is_not_a_loss():
    text = ("step:0/6200 val_loss:10.9264 train_time:285ms step_avg:nanms\n"
            "step:1/6200 train_loss:10.9184 train_time:74701ms step_avg:nanms\n"
            "step:2/6200 train_loss:nan train_time:75965ms step_avg:37982.50ms\n")
    fmt, s = read(text)
    assert fmt == "modded_nanogpt"
    assert [m for m, *_ in s] == ["val_loss", "loss", "loss"]
    assert sum(1 for *_, v, _ in s if math.isnan(v)) == 1  # the real NaN loss only


def test_nanogpt_iter_and_eval_lines():
    text = ("step 0: train loss 10.9, val loss 10.95\n"
            "iter 0: loss 10.9012, time 12345.67ms, mfu -100.00%\n"
            "iter 10: loss nan, time 100.00ms, mfu 30.12%\n")
    fmt, s = read(text)
    assert fmt == "nanogpt"
    assert series(s, "val_loss") == [(0.0, 10.95, 1)]
    assert series(s, "train_loss_eval") == [(0.0, 10.9, 1)]
    loss = series(s, "loss")
    assert loss[0] == (0.0, 10.9012, 2) and math.isnan(loss[1][1])


# --- basicsr --------------------------------------------------------------------------------------

def test_basicsr_thousands_separator_and_no_total():
    text = (
        "2025-02-04 16:44:33,923 INFO: Start training from epoch: 0, iter: 0\n"
        "2025-02-04 16:48:00,314 INFO: [basel..][epoch:  1, iter:     100, lr:(2.999e-05,)] "
        "[eta: 2:37:00, time (data): 2.064 (0.521)] l_mos: 2.6487e-03 l_metric: 1.4853e-01 "
        "train_metrics/srcc: 8.0588e-01 \n"
        "2025-02-04 17:48:00,314 INFO: [basel..][epoch: 20, iter:   1,000, lr:(2.9e-05,1.0e-04,)] "
        "[eta: 2:37:00, time (data): 2.064 (0.521)] l_mos: nan l_metric: 1.0e-01 \n"
        "2025-02-04 17:11:42,180 INFO: Validation koniq10k\n"
        "\t # srcc: 0.9193\tBest: 0.9193 @ 1000 iter\n"
    )
    fmt, s = read(text)
    assert fmt == "basicsr"
    assert [x[0] for x in series(s, "l_mos")] == [100, 1000]
    assert math.isnan(series(s, "l_mos")[1][1])
    assert series(s, "lr.g1") == [(1000.0, 1e-04, 3)]
    assert series(s, "train_metrics.srcc") == [(100.0, 0.80588, 2)]
    assert series(s, "val.koniq10k.srcc") == [(1000.0, 0.9193, 5)]
    metrics = {m for m, *_ in s}
    assert "loss" not in metrics and "time" not in metrics and "eta" not in metrics


# --- detection ------------------------------------------------------------------------------------

SNIPPETS = {
    "darknet": DARKNET, "caffe": CAFFE, "keras": KERAS, "lightning": LIGHTNING, "hf_trainer": HF,
    "hf_trainer_state": state_doc([ENTRY_EVAL % 5]),
    "llmc": "s:0 tel:11.0092\ns:0 trl:11.0091 lr:0.000001 norm:15.37\n",
    "modded_nanogpt": "step:1/6200 train_loss:10.9184 train_time:74701ms step_avg:nanms\n" * 2,
    "nanogpt": "iter 0: loss 10.9012, time 12345.67ms, mfu -100.00%\n" * 2,
}


@pytest.mark.parametrize("fmt", sorted(SNIPPETS))
def test_detectors_claim_only_their_own(fmt):
    lines = SNIPPETS[fmt].replace("\r", "").split("\n")
    assert formats.detect(lines, final=True) == fmt
    for other, cls in formats.all_formats().items():
        if other != fmt and other in SNIPPETS:
            assert cls.detect(lines) < 0.5, f"{other} claims a {fmt} log"


def test_trainer_state_compact_document():
    import json

    doc = {"global_step": 20, "log_history": [
        {"epoch": 0.5, "learning_rate": 0.001, "loss": 2.0, "step": 10},
        {"epoch": 1.0, "eval_loss": float("nan"), "step": 20},
        {"epoch": 1.0, "step": 20, "train_loss": 0.4, "train_runtime": 9.0}]}
    text = "\n" + json.dumps(doc) + "\n"
    for chunk in (0, 7):
        fmt, s = read(text, chunk=chunk)
        assert fmt == "hf_trainer_state"
        assert series(s, "loss") == [(10.0, 2.0, 2)]
        vl = series(s, "val_loss")
        assert len(vl) == 1 and vl[0][0] == 20 and math.isnan(vl[0][1])
        assert "train_loss" not in {m for m, *_ in s}
