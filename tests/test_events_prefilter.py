"""The substring pre-filter of scan_events never hides an event its patterns would find."""

from __future__ import annotations

import pytest

from losswatch.ingest.events import LITERALS, scan_events

EXAMPLES = [
    ("event.oom", "RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB"),
    ("event.oom", "torch.OutOfMemoryError: CUDA out of memory."),
    ("event.oom", "CUDA error: out of memory"),
    ("event.oom", "RESOURCE_EXHAUSTED: OOM when allocating tensor"),
    ("event.oom", "Out of memory while trying to allocate 123 bytes"),
    ("event.oom", "cudaErrorMemoryAllocation"),
    ("event.oom", "Killed process 1234 (python) total-vm:1kB, out of memory"),
    ("event.traceback", "Traceback (most recent call last):"),
    ("event.overflow", "Gradient overflow.  Skipping step, loss scaler 0 reducing loss scale to 1024"),
    ("event.overflow", "[deepspeed] OVERFLOW! Rank 0 Skipping step. Attempted loss scale: 4096"),
    ("event.overflow", "fairseq: overflow detected, setting loss scale to: 64.0"),
    ("event.overflow", "Loss scaler reducing loss scale to 2048"),
    ("event.overflow", "found inf or nan in gradients"),
    ("event.min_loss_scale", "Current loss scale already at minimum - cannot decrease scale anymore"),
    ("event.min_loss_scale", "Minimum loss scale reached (0.0001)"),
    ("event.nccl_error", "NCCL error in: ../torch/csrc/distributed/c10d/ProcessGroupNCCL.cpp"),
    ("event.nccl_error", "ncclInternalError: Internal check failed."),
    ("event.nccl_error", "[Rank 0] Watchdog caught collective operation timeout"),
    ("event.killed", "slurmstepd: error: *** JOB 1 ON n1 CANCELLED AT 2024-01-01 ***"),
    ("event.killed", "Killed"),
    ("event.killed", "Segmentation fault (core dumped)"),
    ("event.eval_empty", "2021-12-07 20:13:30,805 - mmdet - ERROR - The testing results of the whole dataset is empty."),
    ("event.eval_empty", "2023-03-01 10:00:00,000 - mmdet - ERROR - testing results of the bbox is empty"),
    ("event.eval_empty", "[03/01 10:00:00 d2.evaluation.coco_evaluation]: [COCOEvaluator] Did not receive valid predictions."),
    ("event.eval_empty", "[03/01 10:00:00 d2.evaluation.coco_evaluation]: No predictions from the model!"),
]


@pytest.mark.parametrize("metric,line", EXAMPLES)
def test_events_still_found(metric, line):
    block = "step 1 loss 2.0\n" + line + "\nstep 2 loss 1.9"
    assert any(w in line for w in LITERALS)
    assert (2, metric) in scan_events(block, 1)


def test_block_without_words_has_no_events():
    assert scan_events("information about inf and nan values\nstep 3 | loss: nan", 1) == []


def test_eval_empty_needs_the_whole_phrase():
    """Docstrings and notes about testing results, or results that are not empty, are no event."""
    block = "\n".join([
        "            results (list): Testing results of the dataset.",
        "Check the testing results of the trained model.",
        "The testing results of the whole dataset is ready.",
        "Saving predictions to output/inference/coco_instances_results.json",
    ])
    assert scan_events(block, 1) == []


# Blocks big enough for the byte-level pre-filter (digits and punctuation dropped), in ASCII and
# with a tqdm bar's '█' (the block is then searched as UTF-16): the event is still found, at its line.
BAR_PAD = "".join(f" {k}%|{'█' * (k % 10)}| {k}/100 [00:01<00:02, 3.1it/s] {{'loss': 0.{k}}}\n" for k in range(200))


@pytest.mark.parametrize("pad", [BAR_PAD, BAR_PAD.replace("█", "#")], ids=["utf16", "ascii"])
@pytest.mark.parametrize("metric,line", EXAMPLES)
def test_events_found_in_big_blocks(pad, metric, line):
    block = pad + line + "\n" + pad.rstrip("\n")
    assert len(block) > 8192
    assert (201, metric) in scan_events(block, 1)


@pytest.mark.parametrize("pad", [BAR_PAD, BAR_PAD.replace("█", "#")], ids=["utf16", "ascii"])
def test_big_block_without_words_has_no_events(pad):
    assert scan_events(pad * 3, 1) == []
