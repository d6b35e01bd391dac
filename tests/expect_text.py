"""Corpus expectations for the text-log families (see tests/corpus_expectations.py)."""

from __future__ import annotations

from tests.corpus_expectations import Expect, Series

LOSS = Series("loss")
VAL = Series("val_loss")
LR = Series("lr")
GN = Series("grad_norm")

TEXT: dict = {
    "darknet/yolov4-coco_nutanix_plateau.log": Expect(
        "darknet", {"train_loss": LOSS, "train_loss_raw": Series("loss_raw"), "lr": LR}),
    "caffe/sphereface_stuck-87.3365_issue-excerpt.log": Expect(
        "caffe", {"train_loss": LOSS, "train_loss_raw": Series("softmax_loss"), "lr": LR}),
    "caffe/ssd-shoppe_resume-plateau.log": Expect(
        "caffe", {"train_loss": LOSS, "train_loss_raw": Series("mbox_loss"), "lr": LR}),
    "caffe/ssd-tbs_nan-at-iter40.log": Expect(
        "caffe", {"train_loss": LOSS, "train_loss_raw": Series("mbox_loss"), "lr": LR}),
    "keras/dlwp-cats-dogs-convnet_overfit.log": Expect("keras", {"train_loss": LOSS, "val_loss": VAL}),
    "keras/handson-ml2-housing-sgd_explode-then-stuck.log": Expect("keras", {"train_loss": LOSS, "val_loss": VAL}),
    "keras/keras1-issue2941_eta-glued-checkpoint_excerpt.log": Expect(
        "keras", {"train_loss": LOSS, "val_loss": VAL}),
    "lightning_tqdm/zms-cifar10-exp4_190ep.log": Expect(
        "lightning", {"train_loss": LOSS, "val_loss": VAL, "test_loss": Series("test_loss")}),
    "hf_trainer_stdout/cpt-large_win_console.log": Expect(
        "hf_trainer", {"train_loss": LOSS, "val_loss": VAL, "lr": LR, "grad_norm": GN}),
    "hf_trainer_state/cpt-large_trainer_state.log": Expect(
        "hf_trainer_state",
        {"train_loss": LOSS, "val_loss": VAL, "lr": LR, "grad_norm": GN, "predict_loss": Series("predict_loss")}),
    "hf_trainer_state/tinyllama-lora-sft_trainer_state.log": Expect(
        "hf_trainer_state", {"train_loss": LOSS, "val_loss": VAL, "lr": LR, "grad_norm": GN}),
    "build_nanogpt/linear-lr_log-txt.log": Expect("build_nanogpt", {"train_loss": LOSS, "val_loss": VAL}),
    "build_nanogpt/no-warmup_slurm.log": Expect(
        "build_nanogpt", {"train_loss": LOSS, "val_loss": VAL, "lr": LR, "grad_norm": GN}),
    "llmc/modded-nanogpt_llmc_main.log": Expect(
        "llmc", {"train_loss": LOSS, "val_loss": VAL, "lr": LR, "grad_norm": GN}),
    "modded_nanogpt/muon_6200steps.log": Expect("modded_nanogpt", {"train_loss": LOSS, "val_loss": VAL}),
    "raw_tqdm_cr/pyiqa-svtnet_nohup_cr.log": Expect(
        "basicsr", {"train_loss": Series("l_mos"), "alt_train_loss": Series("l_metric"), "lr": LR}),
}
