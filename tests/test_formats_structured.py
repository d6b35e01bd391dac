"""Edge cases of the structured-log formats, on line shapes copied from real logs.

Each test feeds text through a real `LogReader` (fixed format, or detected) and checks the samples:
the traps named in the corpus truth notes, and state carried from one block to the next.
"""

from __future__ import annotations

import math

from losswatch.ingest.reader import LogReader


def read(text: str, fmt: str | None = None, blocks: list[str] | None = None):
    """Samples by metric: {metric: [(step, value, line), ...]}, and the format used."""
    r = LogReader(fmt)
    out: dict[str, list] = {}
    for part in blocks if blocks is not None else [text]:
        for s in r.feed(part.encode(), wall_time=0.0):
            out.setdefault(s.metric, []).append((s.step, s.value, s.line_no))
    for s in r.finish(wall_time=0.0):
        out.setdefault(s.metric, []).append((s.step, s.value, s.line_no))
    return out, r.format_name


# --- mmdet ----------------------------------------------------------------------------------------

MMDET = (
    "2021-12-07 13:58:25,506 - mmdet - INFO - Epoch [1][50/3750]\tlr: 9.890e-03, eta: 9:34:17, time: 0.767, "
    "data_time: 0.419, memory: 3718, loss_rpn_cls: 0.3487, loss_cls: 0.3746, acc: 94.1870, loss: 0.8263\n"
    "2021-12-07 14:58:42,588 - mmdet - INFO - Epoch(val) [1][3750]\tbbox_mAP: 0.0870, bbox_mAP_50: 0.1910, "
    "bbox_mAP_copypaste: 0.087 0.191 0.064 -1.000 0.025 0.094\n"
    "2021-12-07 19:30:05,614 - mmdet - INFO - Epoch [2][1050/3750]\tlr: 1.000e-01, eta: 5:34:29, time: 0.710, "
    "data_time: 0.341, memory: 3720, loss_rpn_cls: 1825428497217349667885416448.0000, loss_cls: nan, "
    "acc: 64.7671, loss: nan\n"
    "2021-12-07 20:13:30,838 - mmdet - INFO - Epoch(val) [2][3750]\t\n"
)


def test_mmdet_global_iteration_nan_and_huge_finite():
    got, fmt = read(MMDET)
    assert fmt == "mmdet"
    assert [s for s, _, _ in got["loss"]] == [50.0, 3750.0 + 1050.0]
    assert math.isnan(got["loss"][1][1]) and got["loss"][1][2] == 3
    assert got["loss_rpn_cls"][1][1] == 1825428497217349667885416448.0  # huge but finite
    assert got["acc"][0][1] == 94.187
    assert not {"eta", "time", "data_time", "memory"} & set(got)


def test_mmdet_val_lines():
    got, _ = read(MMDET)
    assert got["val.bbox_map"] == [(3750.0, 0.087, 2)]  # end of epoch 1 on the iteration axis
    assert "val.bbox_map_copypaste" not in got  # six numbers in one field is not a value
    assert all(line != 4 for pts in got.values() for _, _, line in pts)  # empty Epoch(val) line


def test_mmdet_json_epoch_length_learnt_from_previous_epoch():
    text = (
        '{"env_info": "sys.platform: linux", "config": "model = dict()", "seed": 0}\n'
        '{"mode": "train", "epoch": 1, "iter": 50, "lr": 0.01, "memory": 3718, "data_time": 0.4, '
        '"loss_cls": 0.37, "loss": 0.82, "time": 0.77}\n'
        '{"mode": "train", "epoch": 1, "iter": 100, "lr": 0.02, "memory": 3718, "loss": 0.6, "time": 0.7}\n'
        '{"mode": "val", "epoch": 1, "iter": 100, "lr": 0.02, "bbox_mAP": 0.087}\n'
        '{"mode": "train", "epoch": 2, "iter": 50, "lr": 0.1, "memory": 3720, "loss": NaN, "time": 0.7}\n'
    )
    got, fmt = read(text)
    assert fmt == "mmdet_json"
    assert [(s, line) for s, _, line in got["loss"]] == [(50.0, 2), (100.0, 3), (150.0, 5)]
    assert math.isnan(got["loss"][2][1])
    assert got["val.bbox_map"] == [(100.0, 0.087, 4)]
    assert len(got["lr"]) == 3  # the val record's lr repeats the last train lr: not a new point
    assert "memory" not in got and "time" not in got


# --- mmengine -------------------------------------------------------------------------------------

MMENGINE = (
    "2023/06/04 15:36:29 - mmengine - INFO - Epoch(train)   [1][1/6]  lr: 4.0000e-08  eta: 3:57:54  "
    "time: 11.9057  data_time: 11.1286  memory: 8725  loss: 0.3891  loss_cls: 0.2491  loss_bbox: 0.1401\n"
    "2023/06/04 15:38:02 - mmengine - INFO - Epoch(train)   [5][6/6]  lr: 1.0e-04  eta: 3:00:00  "
    "time: 1.0  data_time: 0.5  memory: 8782  loss: 1.1  loss_cls: 0.3  loss_bbox: 0.8\n"
    "2023/06/04 15:38:02 - mmengine - INFO - Epoch(val)   [5][1/3]    eta: 0:00:05  time: 2.9628  "
    "data_time: 2.8083  memory: 694  \n"
    "2023/06/04 15:38:04 - mmengine - INFO - bbox_mAP_copypaste: 0.000 0.000 0.000 -1.000 -1.000 0.000\n"
    "2023/06/04 15:38:04 - mmengine - INFO - Epoch(val) [5][3/3]    coco/bbox_mAP: 0.0280  "
    "coco/bbox_mAP_50: 0.0900  data_time: 1.3679  time: 1.5013\n"
)


def test_mmengine_text_steps_and_val():
    got, fmt = read(MMENGINE)
    assert fmt == "mmengine"
    assert [s for s, _, _ in got["loss"]] == [1.0, 30.0]
    assert got["val.coco.bbox_map"] == [(30.0, 0.028, 5)]  # end of epoch 5 = iteration 5 * 6
    assert not any(line == 3 for pts in got.values() for _, _, line in pts)  # val progress line
    assert not {"eta", "time", "data_time", "memory"} & set(got)


def test_mmengine_scalars_val_step_is_epoch_not_iteration():
    text = (
        '{"lr": 0.0001, "data_time": 2.7, "loss": 1.12, "loss_cls": 0.30, "time": 3.39, "epoch": 5, '
        '"iter": 30, "memory": 8782, "step": 30}\n'
        '{"coco/bbox_mAP": 0.0, "coco/bbox_mAP_50": 0.0, "data_time": 1.36, "time": 1.50, "step": 5}\n'
        '{"lr": 0.00012, "data_time": 2.9, "loss": 1.14, "loss_cls": 0.30, "time": 3.6, "epoch": 6, '
        '"iter": 31, "memory": 8782, "step": 31}\n'
    )
    got, fmt = read(text)
    assert fmt == "mmengine_scalars"
    assert got["val.coco.bbox_map"] == [(30.0, 0.0, 2)]  # epoch 5 → the iteration it ran at, not step 5
    assert [s for s, _, _ in got["loss"]] == [30.0, 31.0]


def test_mmengine_scalars_iteration_based_val_step_kept():
    text = (
        '{"lr": 0.01, "data_time": 0.1, "loss": 2.0, "time": 0.3, "iter": 500, "memory": 100, "step": 500}\n'
        '{"coco/bbox_mAP": 0.1, "data_time": 1.0, "time": 1.2, "step": 500}\n'
    )
    got, _ = read(text, "mmengine_scalars")
    assert got["val.coco.bbox_map"] == [(500.0, 0.1, 2)]


# --- detectron2 -----------------------------------------------------------------------------------

D2 = (
    "[11/16 02:58:32] d2.utils.events INFO:  eta: 3:30:43  iter: 19  total_loss: 156.1  loss_cls: 144.7  "
    "time: 0.6774  data_time: 0.3745  lr: 2.5373e-05  max_mem: 11810M\n"
    "|    banana     | 0.000  | nan    | inf   |\n"
    "[11/16 03:06:55] d2.evaluation.testing INFO: copypaste: Task: bbox\n"
    "[11/16 03:06:55] d2.evaluation.testing INFO: copypaste: AP,AP50,AP75,APs,APm,APl\n"
    "[11/16 03:06:55] d2.evaluation.testing INFO: copypaste: 0.0103,0.0457,0.0010,0.0000,0.0062,nan\n"
)


def test_detectron2_text():
    got, fmt = read(D2)
    assert fmt == "detectron2"
    assert got["loss"] == [(19.0, 156.1, 1)]
    assert got["lr"] == [(19.0, 2.5373e-05, 1)]
    assert not {"max_mem", "time", "data_time", "eta"} & set(got)
    assert got["val.bbox.ap"] == [(19.0, 0.0103, 5)]
    assert math.isnan(got["val.bbox.apl"][0][1])  # NaN AP (no objects of that size) is data
    assert not any(line == 2 for pts in got.values() for _, _, line in pts)  # 'banana' table row


def test_detectron2_copypaste_state_across_blocks():
    lines = D2.splitlines(keepends=True)
    got, _ = read("", "detectron2", blocks=lines)
    assert got["val.bbox.ap50"] == [(19.0, 0.0457, 5)]


def test_detectron2_metrics_json_eval_records():
    text = (
        '{"data_time": 0.027, "eta_seconds": 8898.9, "fast_rcnn/cls_accuracy": 0.05, "iteration": 19, '
        '"loss_cls": 1.89, "lr": 1.931e-06, "time": 2.23, "total_loss": 2.725}\n'
        '{"bbox/AP": 1.5, "bbox/AP50": 3.2, "iteration": 499}\n'
    )
    got, fmt = read(text)
    assert fmt == "detectron2_metrics"
    assert got["loss"] == [(19.0, 2.725, 1)]
    assert got["val.bbox.ap"] == [(499.0, 1.5, 2)]
    assert "eta_seconds" not in got and "data_time" not in got


# --- detr -----------------------------------------------------------------------------------------

def test_detr_epoch_reset_keeps_every_record():
    rec = ('{{"train_lr": 0.0001, "train_class_error": 98.9, "train_loss": {tl}, "test_loss": {vl}, '
           '"test_class_error": 100.0, "test_coco_eval_bbox": [{ap}, 0.1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], '
           '"epoch": {e}, "n_parameters": 41302368}}\n')
    text = "".join(rec.format(tl=40 - i, vl=50 - i, ap=0.01 * i, e=e) for i, e in enumerate([0, 1, 2, 0, 1]))
    got, fmt = read(text)
    assert fmt == "detr"
    assert [s for s, _, _ in got["loss"]] == [0.0, 1.0, 2.0, 0.0, 1.0]
    assert [v for _, v, _ in got["val_loss"]] == [50, 49, 48, 47, 46]
    assert len(got["lr"]) == 5 and "n_parameters" not in got
    assert [round(v, 2) for _, v, _ in got["val.bbox.ap"]] == [0.0, 0.01, 0.02, 0.03, 0.04]


# --- megatron -------------------------------------------------------------------------------------

MEGATRON = (
    " iteration       10/    1000 | consumed samples:           40 | elapsed time per iteration (ms): 3171.3 |"
    " learning rate: 0.000E+00 | global batch size:     4 | loss scale: 8388608.0 |"
    " number of skipped iterations:  10 | number of nan iterations:   0 |\n"
    " iteration       20/    1000 | consumed samples:           80 | elapsed time per iteration (ms): 1572.7 |"
    " learning rate: 3.750E-05 | global batch size:     4 | lm loss: 1.210588E+01 | loss scale: 32768.0 |"
    " number of skipped iterations:   8 | number of nan iterations:   0 |\n"
    " iteration      100/    1000 | consumed samples:          400 | learning rate: 1.471E-04 |"
    " lm loss: 8.085403E+00 | loss scale: 16384.0 | grad norm: 3.767 | number of skipped iterations:   0 |"
    " number of nan iterations:   0 |\n"
    " validation loss at iteration 100 | lm loss value: 8.095942E+00 | lm loss PPL: 3.281128E+03 | \n"
)


def test_megatron_skipped_iterations_and_missing_loss():
    got, fmt = read(MEGATRON)
    assert fmt == "megatron"
    assert [s for s, _, _ in got["loss"]] == [20.0, 100.0]  # iteration 10 printed no lm loss
    assert [s for s, _, _ in got["lr"]] == [10.0, 20.0, 100.0]
    assert [v for _, v, _ in got["skipped_iterations"]] == [10, 8, 0]
    assert [(s, line) for s, _, line in got["event.overflow"]] == [(10.0, 1), (20.0, 2)]
    assert got["loss_scale"][0] == (10.0, 8388608.0, 1)
    assert got["val_loss"] == [(100.0, 8.095942, 4)]
    assert "consumed_samples" not in got and not any("time" in m for m in got)


# --- deepspeed ------------------------------------------------------------------------------------

DS_BLOCKS = [
    "[2023-07-24 13:21:32,184] [INFO] [logging.py:96:log_dist] [Rank 0] step=0, skipped=0, lr=[0.0001], "
    "mom=[(0.9, 0.999)]\n"
    "[2023-07-24 13:21:32,186] [INFO] [config.py:964:print]   loss_scale ................... 0\n"
    "[2023-07-24 13:21:32,378] [INFO] [loss_scaler.py:183:update_scale] [deepspeed] OVERFLOW! Rank 0 "
    "Skipping step. Attempted loss scale: 4294967296, reducing to 2147483648\n",
    "[2023-07-24 13:21:33,260] [INFO] [logging.py:96:log_dist] [Rank 0] step=10, skipped=10, lr=[0.0001], "
    "mom=[(0.9, 0.999)]\n"
    "[2023-07-24 13:21:33,260] [INFO] [timer.py:215:stop] epoch=0/micro_step=10/global_step=10, "
    "RunningAvgSamplesPerSec=199.08, CurrSamplesPerSec=216.75, MemAllocated=0.06GB, MaxMemAllocated=1.68GB\n",
    # the app's loss line arrives in a later block: it still gets the last engine step
    "2023-07-24 13:21:33.260 | INFO     | __main__:log_dist:53 - [Rank 0] Loss: 10.8719\n",
]


def test_deepspeed_loss_takes_last_engine_step_across_blocks():
    got, fmt = read("", None, blocks=DS_BLOCKS)
    assert fmt == "deepspeed"
    assert got["loss"] == [(10.0, 10.8719, 6)]
    assert got["lr"] == [(0.0, 0.0001, 1), (10.0, 0.0001, 4)]
    assert got["skipped_steps"] == [(0.0, 0.0, 1), (10.0, 10.0, 4)]
    assert got["loss_scale"] == [(0.0, 2147483648.0, 3)]
    assert got["event.overflow"] == [(0.0, 1.0, 3)]
    assert got["throughput"] == [(10.0, 216.75, 5)]
    assert not any(line == 2 for pts in got.values() for _, _, line in pts)  # ds_config dump


# --- fairseq --------------------------------------------------------------------------------------

FAIRSEQ = (
    "| WARNING: overflow detected, setting loss scale to: 0.0625\n"
    "| epoch 001:    200 / 1374 loss=14.351, ppl=20899.56, wps=49604, ups=0, wpb=277035.016, bsz=8563.074, "
    "num_updates=190, lr=4.84525e-06, gnorm=3.901, clip=0.000, oom=0.000, loss_scale=0.062, wall=1061, "
    "train_wall=945\n"
    "| epoch 051 | valid on 'valid' subset | loss 8.918 | nll_loss 7.521 | ppl 183.67 | num_updates 14000 | "
    "best_loss 5.95385\n"
    "| epoch 051 | valid on 'valid' subset | loss 8.832 | nll_loss 7.443 | ppl 174.05 | num_updates 14253 | "
    "best_loss 5.95385\n"
)


def test_fairseq_legacy_text():
    got, fmt = read(FAIRSEQ)
    assert fmt == "fairseq"
    assert got["loss"] == [(190.0, 14.351, 2)]
    assert got["grad_norm"] == [(190.0, 3.901, 2)]
    assert got["loss_scale"] == [(190.0, 0.062, 2)]
    assert got["overflow_loss_scale"] == [(0.0, 0.0625, 1)]
    assert got["event.overflow"] == [(0.0, 1.0, 1)]
    assert "event.oom" not in got and got["oom_count"] == [(190.0, 0.0, 2)]  # a counter, not an OOM
    # the same epoch validated twice: two points, told apart by num_updates
    assert [(s, v) for s, v, _ in got["val_loss"]] == [(14000.0, 8.918), (14253.0, 8.832)]
    assert "wall" not in got and "train_wall" not in got


def test_fairseq_json_and_new_simple_format():
    text = (
        '2020-10-01 10:00:00 | INFO | train_inner | {"epoch": 1, "update": 0.052, "loss": "13.806", '
        '"ppl": "14325.4", "wps": "31000", "num_updates": "100", "lr": "1.25e-05", "gnorm": "3.36", '
        '"loss_scale": "64", "train_wall": "28", "wall": "30"}\n'
        '2020-10-01 10:05:00 | INFO | valid | {"epoch": 1, "valid_loss": "9.1", "valid_nll_loss": "8.9", '
        '"valid_num_updates": "200"}\n'
        "2020-10-01 10:06:00 | INFO | train_inner | epoch 002:    100 / 1000 loss=nan, num_updates=300, lr=2e-05\n"
    )
    got, fmt = read(text)
    assert fmt == "fairseq"
    assert got["loss"][0] == (100.0, 13.806, 1)
    assert got["loss_scale"] == [(100.0, 64.0, 1)]
    assert got["val_loss"] == [(200.0, 9.1, 2)]
    assert got["val.nll_loss"] == [(200.0, 8.9, 2)]
    assert got["loss"][1][0] == 300.0 and math.isnan(got["loss"][1][1])


# --- ultralytics ----------------------------------------------------------------------------------

def test_ultralytics_csv_sum_components_and_lr_groups():
    text = (
        "               epoch,      train/box_loss,      train/obj_loss,      train/cls_loss,   metrics/precision,"
        "        val/box_loss,        val/obj_loss,        val/cls_loss,               x/lr0,               x/lr1\n"
        "                   0,            0.066099,            0.038913,            0.051555,             0.24098,"
        "            0.039289,            0.016838,            0.046928,           0.0033121,            0.070191\n"
    )
    got, fmt = read(text)
    assert fmt == "ultralytics_csv"
    assert got["loss"][0][1] == 0.066099 + 0.038913 + 0.051555
    assert got["val_loss"][0][1] == 0.039289 + 0.016838 + 0.046928
    assert got["lr"] == [(0.0, 0.0033121, 2)]
    assert got["x.lr1"] == [(0.0, 0.070191, 2)]
    assert got["train.box_loss"] == [(0.0, 0.066099, 2)]
    assert "epoch" not in got


YOLO = (
    "     Epoch   gpu_mem       box       obj       cls    labels  img_size\n"
    "     0/299     5.05G   0.06359   0.03304         0         0      1280:  40%|████      | 85/213 [02:21<03:30]\n"
    "     0/299     5.05G   0.06359   0.03304         0         0      1280: 100%|██████████| 213/213 [06:21<00:00]\n"
    "               Class     Images     Labels          P          R     mAP@.5 mAP@.5:.95: 100%|█| 17/17 [00:23]\n"
    "                 all        677       2449     0.0682      0.126     0.0251    0.00763\n"
    "Validating runs/train/exp/weights/best.pt...\n"
    "               Class     Images     Labels          P          R     mAP@.5 mAP@.5:.95: 100%|█| 17/17 [00:25]\n"
    "                 all        677       2449       0.87      0.535      0.658      0.339\n"
)


def test_yolov5_console_final_bar_and_val_rows():
    got, fmt = read(YOLO)
    assert fmt == "yolov5_console"
    assert got["train.box_loss"] == [(0.0, 0.06359, 3)]  # the 40% bar on its own line is not the epoch
    assert got["loss"] == [(0.0, 0.06359 + 0.03304 + 0.0, 3)]
    assert got["metrics.map_0.5"] == [(0.0, 0.0251, 5)]  # best.pt re-validation (line 8) is not an epoch
    assert not {"train.labels_loss", "train.img_size_loss", "labels", "img_size"} & set(got)


def test_yolov8_console_header():
    text = (
        "      Epoch    GPU_mem   box_loss   cls_loss   dfl_loss  Instances       Size\n"
        "       1/100      2.61G      1.234      2.345      1.456         12        640: 100%|██████████| 10/10\n"
    )
    got, fmt = read(text)
    assert fmt == "yolov5_console"
    assert got["train.dfl_loss"] == [(1.0, 1.456, 2)]
    assert got["loss"][0][1] == 1.234 + 2.345 + 1.456


# --- generic jsonl / csv --------------------------------------------------------------------------

def test_jsonl_final_record_without_loss_and_step_keys():
    text = (
        '{"current_steps": 10, "total_steps": 20, "loss": 2.4977, "learning_rate": 5.7e-07, "epoch": 0.5, '
        '"percentage": 50.0, "elapsed_time": "0:00:24", "remaining_time": "0:00:24"}\n'
        '{"current_steps": 20, "total_steps": 20, "loss": NaN, "learning_rate": 0.0, "epoch": 1.0}\n'
        '{"current_steps": 20, "total_steps": 20, "epoch": 1.0, "percentage": 100.0}\n'
    )
    got, fmt = read(text)
    assert fmt == "jsonl"
    assert [s for s, _, _ in got["loss"]] == [10.0, 20.0] and math.isnan(got["loss"][1][1])
    assert got["lr"][0] == (10.0, 5.7e-07, 1)
    assert not {"percentage", "total_steps", "elapsed_time", "current_steps"} & set(got)


def test_jsonl_without_step_uses_counter():
    got, _ = read('{"loss": 1.0}\n{"loss": 0.5}\n', "jsonl")
    assert [(s, v) for s, v, _ in got["loss"]] == [(0.0, 1.0), (1.0, 0.5)]


def test_jsonl_does_not_claim_a_json_document():
    text = '{\n  "best_metric": null,\n  "log_history": [\n    {\n      "loss": 1.0,\n      "step": 10\n    }\n  ]\n}\n'
    _, fmt = read(text)
    assert fmt != "jsonl"


def test_csv_sparse_crlf_rows():
    text = (
        "epoch,lr-Adam,step,train/nll_loss,val/rmse_loss\r\n"
        ",0.00328,49,,\r\n"
        "0,,49,0.0575,\r\n"
        "0,,678,,0.0198\r\n"
    )
    got, fmt = read(text)
    assert fmt == "csv"
    assert got["lr"] == [(49.0, 0.00328, 2)]
    assert got["loss"] == [(49.0, 0.0575, 3)]
    assert got["val_loss"] == [(678.0, 0.0198, 4)]


def test_csv_two_train_losses_keep_their_names():
    got, _ = read("step,train/a_loss,train/b_loss\n1,0.5,0.25\n", "csv")
    assert "loss" not in got
    assert got["train.a_loss"] == [(1.0, 0.5, 2)] and got["train.b_loss"] == [(1.0, 0.25, 2)]


def test_csv_repeated_header_from_a_resumed_run():
    got, _ = read("step,loss\n1,2.0\nstep,loss,lr\n2,1.5,0.1\n", "csv")
    assert got["loss"] == [(1.0, 2.0, 2), (2.0, 1.5, 4)]
    assert got["lr"] == [(2.0, 0.1, 4)]


def test_mmdet_iter_based_runner():
    text = ("2022-01-01 10:00:00,000 - mmseg - INFO - Iter [50/80000]\tlr: 9.9e-03, eta: 1 day, 2:00:00, "
            "time: 0.5, data_time: 0.01, memory: 3000, decode.loss_ce: 1.25, loss: 1.8\n"
            "2022-01-01 11:00:00,000 - mmseg - INFO - Iter(val) [500]\tmIoU: 0.3512, mAcc: 0.45\n")
    got, _ = read(text, "mmdet")
    assert got["loss"] == [(50.0, 1.8, 1)]
    assert got["decode.loss_ce"] == [(50.0, 1.25, 1)]
    assert got["val.miou"] == [(500.0, 0.3512, 2)]


def test_jsonl_nested_object_one_level():
    got, _ = read('{"step": 3, "train": {"loss": 1.5, "lr": 0.1}, "eval": {"loss": 2.0}}\n', "jsonl")
    assert got["loss"] == [(3.0, 1.5, 1)] and got["lr"] == [(3.0, 0.1, 1)]
    assert got["val_loss"] == [(3.0, 2.0, 1)]


def test_mmdet_val_workflow_goes_at_epoch_end():
    """With workflow [('train', 1), ('val', 1)] the val bracket holds the val loader's length."""
    text = ("2021-01-01 10:00:00,000 - mmdet - INFO - Epoch [1][3750/3750]\tlr: 1.0e-02, loss: 0.8\n"
            "2021-01-01 10:10:00,000 - mmdet - INFO - Epoch(val) [1][500]\tloss_cls: 0.3, loss: 0.6\n")
    got, _ = read(text, "mmdet")
    assert got["val_loss"] == [(3750.0, 0.6, 2)] and got["val.loss_cls"] == [(3750.0, 0.3, 2)]
    js = ('{"mode": "train", "epoch": 1, "iter": 3750, "lr": 0.01, "loss": 0.8}\n'
          '{"mode": "val", "epoch": 1, "iter": 500, "loss": 0.6}\n'
          '{"mode": "train", "epoch": 2, "iter": 50, "lr": 0.01, "loss": 0.7}\n')
    got, _ = read(js, "mmdet_json")
    assert got["val_loss"] == [(3750.0, 0.6, 2)]
    assert [s for s, _, _ in got["loss"]] == [3750.0, 3800.0]


def test_megatron_deepspeed_overflow_messages_not_counted_twice():
    text = ("[2024-01-01 10:00:00,000] [INFO] [loss_scaler.py:183:update_scale] [deepspeed] OVERFLOW! Rank 0 "
            "Skipping step. Attempted loss scale: 65536, reducing to 32768\n"
            " iteration       10/    1000 | learning rate: 1.0E-04 | lm loss: 9.5E+00 | loss scale: 32768.0 |"
            " number of skipped iterations:   1 | number of nan iterations:   0 |\n")
    got, fmt = read(text)
    assert fmt == "megatron"
    assert got["event.overflow"] == [(0.0, 1.0, 1)]  # the message, not the message and the counter
    assert got["skipped_iterations"] == [(10.0, 1.0, 2)]


def test_timings_skipped_but_step_time_and_throughput_kept():
    got, _ = read('{"step": 1, "loss": 1.0, "time": 0.5, "eta": 100, "step_time": 0.25, "tok/sec": 9000}\n', "jsonl")
    assert got["step_time"] == [(1.0, 0.25, 1)] and got["throughput"] == [(1.0, 9000.0, 1)]
    assert "time" not in got and "eta" not in got


def test_csv_lightning_step_and_epoch_variants():
    text = ("epoch,step,train_loss_step,train_loss_epoch,val_loss_step,val_loss_epoch\n"
            "0,49,0.9,,,\n"
            "0,99,,0.85,,0.7\n")
    got, _ = read(text, "csv")
    assert got["loss"] == [(49.0, 0.9, 2)]
    assert got["val_loss"] == [(99.0, 0.7, 3)]
    assert got["train_loss_epoch"] == [(99.0, 0.85, 3)]


def test_jsonl_wandb_history():
    got, fmt = read('{"_step": 5, "_runtime": 12.5, "_timestamp": 1700000000.1, "train/loss": 2.5}\n')
    assert fmt == "jsonl"
    assert got == {"loss": [(5.0, 2.5, 1)]}


def test_deepspeed_app_loss_phrasings():
    text = (DS_BLOCKS[0]
            + "2023-07-24 13:21:40 | INFO | epoch 1 step 20 loss 2.5 lr 1e-4\n"
            + "2023-07-24 13:21:41 | INFO | [Rank 0] Validation Loss: 3.25\n"
            + "[2023-07-24 13:21:42,000] [INFO] [config.py:964:print]   loss_scale_window ............ 1000\n")
    got, fmt = read(text)
    assert fmt == "deepspeed"
    assert got["loss"] == [(20.0, 2.5, 4)]  # the line's own step wins over the last engine step
    assert got["val_loss"] == [(0.0, 3.25, 5)]
    assert [line for _, _, line in got["loss_scale"]] == [3]
