"""Ingest speed of the structured-log formats: each corpus file of those families, repeated to
~20 MB, parsed through `LogReader` in 1 MiB chunks (the `check` path). Prints MB/s and lines/s.

Usage: python3 bench/ingest_structured.py [TARGET_MB]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from losswatch.ingest.reader import LogReader  # noqa: E402
from tests.expect_structured import STRUCTURED  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus"
CHUNK = 1 << 20


def bench(path: Path, target: int) -> tuple[float, float, int, str]:
    data = path.read_bytes()
    if not data.endswith(b"\n"):
        data += b"\n"
    reps = max(1, target // len(data))
    blob = data * reps
    r = LogReader()
    n = 0
    t0 = time.perf_counter()
    for i in range(0, len(blob), CHUNK):
        n += len(r.feed(blob[i:i + CHUNK], wall_time=0.0))
    n += len(r.finish(wall_time=0.0))
    dt = time.perf_counter() - t0
    return len(blob) / dt / 1e6, r.lines_read / dt, n, r.format_name or "?"


def main() -> None:
    target = int(float(sys.argv[1]) * 1e6) if len(sys.argv) > 1 else 20_000_000
    print(f"{'file':62} {'format':18} {'MB/s':>7} {'lines/s':>10} {'samples':>9}")
    for name in sorted(STRUCTURED):
        mbs, lps, n, fmt = bench(CORPUS / name, target)
        print(f"{name:62} {fmt:18} {mbs:7.1f} {lps:10.0f} {n:9d}")


if __name__ == "__main__":
    main()
