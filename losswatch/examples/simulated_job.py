"""A simulated training job that prints HF-Trainer-style lines: it trains normally, then diverges.

Run as a script it behaves like a real job (`python -m losswatch.examples.simulated_job`): it writes
one line per step to stdout, flushes, sleeps `--interval` seconds between steps, and on SIGINT
writes "checkpoint saved" and exits 130, as a well-behaved training script does.
"""

from __future__ import annotations

import argparse
import math
import random
import signal
import sys
import time


def lines(steps: int = 400, diverge_at: int = 260, seed: int = 0):
    """The job's output lines, deterministic for a seed."""
    rng = random.Random(seed)
    lr_peak = 3e-4
    loss = 2.3
    yield "***** Running training *****"
    yield f"  Num examples = 50000\n  Num Epochs = 3\n  Total optimization steps = {steps}"
    for step in range(1, steps + 1):
        warm = min(1.0, step / 40)
        lr = lr_peak * warm * (0.5 * (1 + math.cos(math.pi * step / steps)))
        if step < diverge_at:
            loss = 0.35 + 1.95 * math.exp(-step / 70) + rng.gauss(0, 0.03)
            gn = 1.0 + 0.4 * rng.random()
        else:
            k = step - diverge_at
            loss = (0.45 + 0.15 * k + rng.gauss(0, 0.05)) * (1.25 ** max(0, k - 10))
            gn = 2.0 * 1.5 ** k
            if k > 25:
                loss = math.nan
                gn = math.nan
        epoch = 3 * step / steps
        yield (f"{{'loss': {loss:.4f}, 'grad_norm': {gn:.4f}, 'learning_rate': {lr:.4e}, "
               f"'epoch': {epoch:.2f}, 'step': {step}}}")
        if step % 100 == 0:
            yield f"{{'eval_loss': {loss * 1.05:.4f}, 'epoch': {epoch:.2f}, 'step': {step}}}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--interval", type=float, default=0.05)
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--diverge-at", type=int, default=260)
    args = ap.parse_args(argv)

    def on_sigint(signum, frame):
        print("Received SIGINT: checkpoint saved to ./checkpoint-last", flush=True)
        raise SystemExit(130)

    signal.signal(signal.SIGINT, on_sigint)
    for line in lines(args.steps, args.diverge_at):
        print(line, flush=True)
        time.sleep(args.interval)
    print("Training completed.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
