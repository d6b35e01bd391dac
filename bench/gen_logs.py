"""Generators of large synthetic logs that mirror the real corpus lines, for the ingest benchmarks.

Each function returns `n` physical lines as bytes (deterministic: seeded). Not committed as files:
the benchmark writes them to a temporary directory.

- `hf_stdout`: HuggingFace Trainer console, CRLF, train dicts `{'loss': …, 'grad_norm': …,
  'learning_rate': …, 'epoch': …}` between tqdm bar fragments, an eval dict every 50 train dicts;
- `darknet`: AlexeyAB darknet, " N: loss, avg avg loss, rate rate, t seconds, k images, h hours left"
  each followed by a "Loaded: … seconds" line and a blank line;
- `keras`: "Epoch k/N" headers, each followed by one physical bar line holding several `\\r`-separated
  progress states ("ETA") and the final state with `loss`, `acc`, `val_loss`, `val_acc`;
- `nanogpt`: nanoGPT train.py, "iter N: loss X, time Tms, mfu M%", a "step N: train loss X, val loss Y"
  estimate every 2000 iterations;
- `kv`: a custom script's "step=N loss=X lr=Y grad_norm=Z" (read by the generic kv fallback).
"""

from __future__ import annotations

import random

BAR = "\u2588"


def hf_stdout(n: int, seed: int = 0) -> bytes:
    rng = random.Random(seed)
    total = n
    out: list[str] = []
    step = 0
    loss = 2.5
    while len(out) < n:
        step += 1
        epoch = step / 549
        loss = max(0.05, loss * 0.9995 + rng.uniform(-0.02, 0.02))
        k = step * 100 // max(total, 1)
        if step % 4 == 0:
            out.append(f"{k:3d}%|{BAR * (k // 10)}{' ' * (10 - k // 10)}| {step}/{total} "
                       f"[05:02<38:38,  2.13it/s]")
        out.append(f"{{'loss': {loss:.4f}, 'grad_norm': {rng.uniform(0.5, 4):.16g}, "
                   f"'learning_rate': {2e-5 * (1 - step / (total + 1)):.16g}, 'epoch': {epoch:.2f}}}")
        if step % 50 == 0:
            out.append("***** Running Evaluation *****")
            out.append(f"{{'eval_loss': {loss * 1.1:.16g}, 'eval_rouge-1': {rng.uniform(40, 50):.4f}, "
                       f"'eval_runtime': 2725.7664, 'eval_samples_per_second': 0.403, "
                       f"'eval_steps_per_second': 0.067, 'epoch': {epoch:.2f}}}")
    return ("\r\n".join(out[:n]) + "\r\n").encode()


def darknet(n: int, seed: int = 0) -> bytes:
    rng = random.Random(seed)
    out: list[str] = []
    it = 0
    avg = 4173.8
    while len(out) < n:
        it += 1
        raw = max(1.0, avg * rng.uniform(0.8, 1.2))
        avg = avg * 0.9 + raw * 0.1 if it > 1 else raw
        rate = min(0.0013, 0.0013 * (it / 1000) ** 4)
        out.append(f" {it}: {raw:.6f}, {avg:.6f} avg loss, {rate:.6f} rate, {rng.uniform(5, 13):.6f} seconds, "
                   f"{it * 32} images, {rng.uniform(100, 2000) if it > 1 else -1:.6f} hours left")
        out.append(f"Loaded: {rng.uniform(0, 0.0001):.6f} seconds")
        out.append("")
        if it % 10 == 0:
            out.extend(("", " Resizing, random_coef = 1.40 ", "", f" {rng.choice((416, 512, 608))} x 608 "))
    return ("\n".join(out[:n]) + "\n").encode()


def keras(n: int, seed: int = 0, frames: int = 8) -> bytes:
    rng = random.Random(seed)
    out: list[str] = []
    epoch = 0
    epochs = n // 2
    total = 472
    loss = 0.7
    while len(out) < n:
        epoch += 1
        loss = max(0.01, loss * 0.999 + rng.uniform(-0.01, 0.01))
        out.append(f"Epoch {epoch}/{epochs}")
        states = []
        for f in range(1, frames):
            done = total * f // frames
            width = 30 * done // total
            states.append(f"{done:3d}/{total} [{'=' * (width - 1)}>{'.' * (30 - width)}] - ETA: {frames - f}s"
                          f" - loss: {loss * rng.uniform(0.9, 1.1):.4f} - acc: {rng.uniform(0.5, 0.9):.4f}")
        states.append(f"{total}/{total} [{'=' * 30}] - 1s 2ms/step - loss: {loss:.4f} - acc: "
                      f"{rng.uniform(0.5, 0.9):.4f} - val_loss: {loss * 1.2:.4f} - val_acc: {rng.uniform(0.4, 0.8):.4f}")
        out.append("\r".join(states))
    return ("\n".join(out[:n]) + "\n").encode()


def nanogpt(n: int, seed: int = 0) -> bytes:
    rng = random.Random(seed)
    out: list[str] = []
    it = 0
    loss = 10.9
    while len(out) < n:
        loss = max(0.8, loss * 0.9997 + rng.uniform(-0.03, 0.03))
        if it % 2000 == 0 and it:
            out.append(f"step {it}: train loss {loss:.4f}, val loss {loss * 1.02:.4f}")
        mfu = -100.0 if it < 5 else rng.uniform(38, 42)
        out.append(f"iter {it}: loss {loss:.4f}, time {rng.uniform(120, 140):.2f}ms, mfu {mfu:.2f}%")
        it += 1
    return ("\n".join(out[:n]) + "\n").encode()


def kv(n: int, seed: int = 0) -> bytes:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        loss = 0.5 + 4.5 * 0.99999 ** i * (1 + 0.08 * rng.gauss(0, 1))
        lr = 3e-4 * min(1.0, i / 2000)
        out.append(f"step={i} loss={loss:.5f} lr={lr:.6g} grad_norm={1.0 + 0.2 * abs(rng.gauss(0, 1)):.4f}")
    return ("\n".join(out) + "\n").encode()
