"""Peak memory after ingesting 10 M samples (target: peak RSS ≤ 200 MB).

A darknet-style log (≈4 samples a line) is generated block by block in memory and fed through
the whole pipeline (`Monitor.feed`: lines → format → events → store), as `tail` or `check` would.
No file of gigabytes is written. Prints the peak RSS (ru_maxrss) and where it comes from.

    python3 bench/memory.py [--samples 10000000]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def darknet_block(first_iter: int, n_iters: int) -> bytes:
    out = []
    for it in range(first_iter, first_iter + n_iters):
        loss = 4000.0 / (1 + it * 0.001) + (it % 7) * 0.01
        out.append(f" {it}: {loss:.6f}, {loss * 1.01:.6f} avg loss, 0.001000 rate, 3.{it % 10}12345 seconds, "
                   f"{it * 64} images, {it % 90}.5 hours left\nLoaded: 0.0000{it % 10} seconds\n\n")
    return "".join(out).encode()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=10_000_000)
    args = ap.parse_args()
    from losswatch.monitor import Monitor

    monitor = Monitor()
    run = monitor.add_run("bench.log", "darknet")
    base = rss_mb()
    print(f"after imports: RSS {base:.0f} MB")
    t0 = time.perf_counter()
    it = 1
    per_block = 4000
    while run.store.samples < args.samples:
        monitor.feed(run, darknet_block(it, per_block))
        it += per_block
    monitor.finish(run)
    dt = time.perf_counter() - t0
    store = run.store
    print(f"ingested {store.samples:,} samples ({it - 1:,} iterations, {run.reader.lines_read:,} lines) "
          f"in {dt:.1f}s, {len(store.series)} series: {', '.join(store.series)}")
    kept = sum(len(s.values) for s in store.series.values())
    print(f"exactly kept recent points: {kept:,}; overview buckets: "
          f"{sum(len(s.overview.steps) for s in store.series.values()):,}")
    print(f"RSS now {rss_mb():.0f} MB, peak RSS {peak_mb():.0f} MB (target ≤ 200 MB)")


if __name__ == "__main__":
    main()
