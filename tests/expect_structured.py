"""Corpus expectations for structured and detector-framework families (see tests/corpus_expectations.py)."""

from __future__ import annotations

from tests.corpus_expectations import Expect, Series


def _epoch_iter(iters_per_epoch: int):
    """Truth step {"epoch": e, "iter": i} (iter within the epoch) → global iteration (e-1)·N + i."""
    return lambda s: (s["epoch"] - 1) * iters_per_epoch + s["iter"]


LOSS, VAL, LR, GN = Series("loss"), Series("val_loss"), Series("lr"), Series("grad_norm")

STRUCTURED: dict = {
    "mmdet/faster-rcnn-tct_lrx10_diverge-nan.log": Expect("mmdet", {
        "train_loss": Series("loss", steps=_epoch_iter(3750)),
        "lr": Series("lr", steps=_epoch_iter(3750)),
        "acc": Series("acc"), "bbox_mAP": Series("val.bbox_map"),
    }, events={"oom": "event.oom", "traceback": "event.traceback", "fp16_overflow": "event.overflow",
               # its only ERROR lines: "The testing results of the whole dataset is empty." (NaN model)
               "error_lines": "event.eval_empty"}),
    "mmengine/rtmdet-tiny-ear_200ep.log": Expect("mmengine", {
        "train_loss": Series("loss", steps=_epoch_iter(6)),
        "lr": Series("lr", steps=_epoch_iter(6)),
        "coco/bbox_mAP": Series("val.coco.bbox_map"),
    }),
    "mmengine_scalars_json/rtmdet-tiny-ear_200ep_scalars.log": Expect("mmengine_scalars", {
        "train_loss": LOSS, "lr": LR, "coco/bbox_mAP": Series("val.coco.bbox_map"),
    }),
    "detectron2/nyu-ssod_faster-rcnn_log.log": Expect("detectron2", {
        "train_loss": LOSS, "lr": LR,
        "loss_cls": Series("loss_cls"), "loss_box_reg": Series("loss_box_reg"),
        "loss_rpn_cls": Series("loss_rpn_cls"), "loss_rpn_loc": Series("loss_rpn_loc"),
        "bbox AP (COCO eval; copypaste AP,AP50,AP75,APs,APm,APl)": Series("val.bbox.ap"),
    }),
    "detectron2/cdfsod_eval-oom_wrapped.log": Expect("detectron2", {}),
    "detectron2_metrics_json/medical-waste_metrics.log": Expect("detectron2_metrics", {
        "train_loss": LOSS, "lr": LR,
        "fast_rcnn/cls_accuracy": Series("fast_rcnn.cls_accuracy"),
        "fast_rcnn/fg_cls_accuracy": Series("fast_rcnn.fg_cls_accuracy"),
    }),
    "detr_jsonl/detr-custom_log.log": Expect("detr", {
        "train_loss": LOSS, "val_loss": VAL, "lr": LR, "test_coco_eval_bbox": Series("val.bbox.ap"),
        "train_class_error": Series("train_class_error"), "test_class_error": Series("val.class_error"),
    }),
    "megatron/bigscience_meg-gpt2-n8_fp16-lossscale-skips.log": Expect("megatron", {
        "train_loss": LOSS, "val_loss": VAL, "lr": LR, "grad_norm": GN, "loss_scale": Series("loss_scale"),
    }),
    "deepspeed/hellodeepspeed-bert_fp16-overflow.log": Expect("deepspeed", {
        "train_loss": LOSS, "lr": LR, "skipped_steps": Series("skipped_steps"),
    }),
    "fairseq/disco-issue1_valid-loss-spikes_excerpt.log": Expect("fairseq", {
        # truth steps are epochs (46..53, epoch 51 twice); losswatch steps by num_updates, which the
        # truth also records (first_num_updates/last_num_updates), so compare those instead.
        "val_loss": Series("val_loss", steps=lambda e: {46: 12854, 53: 14813}[e]),
        "val_nll_loss": Series("val.nll_loss", steps=lambda e: {46: 12854, 53: 14813}[e]),
    }),
    "fairseq/issue515_fp16-overflow-cascade_excerpt.log": Expect("fairseq", {
        "train_loss": LOSS, "lr": LR, "grad_norm": GN, "loss_scale": Series("loss_scale"),
    }),
    "jsonl/llamafactory-mistral-translator_trainer_log.log": Expect("jsonl", {"train_loss": LOSS, "lr": LR}),
    "lightning_csv/opal-v2_version0_metrics.log": Expect("csv", {"train_loss": LOSS, "val_loss": VAL, "lr": LR}),
    "ultralytics_csv/yolov5-lego_results.log": Expect("ultralytics_csv", {
        "train_loss": LOSS, "val_loss": VAL, "lr": LR,
        "train/box_loss": Series("train.box_loss"), "train/obj_loss": Series("train.obj_loss"),
        "train/cls_loss": Series("train.cls_loss"), "val/box_loss": Series("val.box_loss"),
        "val/obj_loss": Series("val.obj_loss"), "val/cls_loss": Series("val.cls_loss"),
        "x/lr0": LR, "x/lr1": Series("x.lr1"), "x/lr2": Series("x.lr2"),
        "metrics/precision": Series("metrics.precision"), "metrics/recall": Series("metrics.recall"),
        "metrics/mAP_0.5": Series("metrics.map_0.5"), "metrics/mAP_0.5:0.95": Series("metrics.map_0.5_0.95"),
    }),
    "ultralytics_csv/yolov8-fire-smoke_results.log": Expect("ultralytics_csv", {
        "train_loss": LOSS, "val_loss": VAL, "lr": LR,
        "train/box_loss": Series("train.box_loss"), "train/cls_loss": Series("train.cls_loss"),
        "train/dfl_loss": Series("train.dfl_loss"), "val/box_loss": Series("val.box_loss"),
        "val/cls_loss": Series("val.cls_loss"), "val/dfl_loss": Series("val.dfl_loss"),
        "lr/pg0": LR, "lr/pg1": Series("lr.pg1"), "lr/pg2": Series("lr.pg2"),
        "metrics/precision(B)": Series("metrics.precision_b"), "metrics/recall(B)": Series("metrics.recall_b"),
        "metrics/mAP50(B)": Series("metrics.map50_b"), "metrics/mAP50-95(B)": Series("metrics.map50_95_b"),
    }),
    "yolov5_console/cots-yolov5n6_earlystop-plateau.log": Expect("yolov5_console", {
        "train_loss": LOSS,
        "box": Series("train.box_loss"), "obj": Series("train.obj_loss"), "cls": Series("train.cls_loss"),
        "mAP@.5": Series("metrics.map_0.5"), "mAP@.5:.95": Series("metrics.map_0.5_0.95"),
        "P": Series("metrics.precision"), "R": Series("metrics.recall"),
    }),
}
