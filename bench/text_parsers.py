"""Ingest speed of the text formats on 1M-line generated logs, against `LC_ALL=C grep -oE` of the loss.

Prints, per format: grep time, `losswatch check` time (whole pipeline, separate process), and the
split of in-process time between line splitting (lines.py) and the format parser.
Run: python3 bench/text_parsers.py [N_LINES]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import gen_logs  # noqa: E402
from losswatch.ingest import formats  # noqa: E402
from losswatch.ingest.lines import LineSplitter  # noqa: E402
from losswatch.model import SampleBatch  # noqa: E402

CASES = {
    "hf_trainer": (gen_logs.hf_stdout, r"'loss': [0-9.e+-]+"),
    "darknet": (gen_logs.darknet, r"[0-9.]+ avg loss"),
    "keras": (gen_logs.keras, r"loss: [0-9.e+-]+"),
}


def timed(cmd: list[str], env=None) -> float:
    t = time.perf_counter()
    # stdout to a pipe, not /dev/null: GNU grep stops at the first match when it writes to /dev/null
    subprocess.run(cmd, check=True, stdout=subprocess.PIPE, env=env)
    return time.perf_counter() - t


def in_process(path: Path, fmt: str) -> tuple[float, float, int]:
    data = path.read_bytes()
    t = time.perf_counter()
    sp = LineSplitter()
    blocks = []
    for i in range(0, len(data), 1 << 20):
        got = sp.feed(data[i:i + (1 << 20)])
        if got:
            blocks.append(got)
    t_lines = time.perf_counter() - t
    best = float("inf")
    for _ in range(2):
        parser = formats.get_format(fmt)()
        t = time.perf_counter()
        n = 0
        for first, block in blocks:
            b = SampleBatch()
            parser.parse(block, first, b)
            n += len(b)
        best = min(best, time.perf_counter() - t)
    return t_lines, best, n


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LC_ALL": "C"}
    with tempfile.TemporaryDirectory() as tmp:
        for fmt, (gen, pattern) in CASES.items():
            path = Path(tmp) / f"{fmt}.log"
            path.write_bytes(gen(n))
            g = min(timed(["grep", "-oE", pattern, str(path)], env) for _ in range(3))
            c = min(timed([sys.executable, "-m", "losswatch", "check", str(path)], env) for _ in range(2))
            t_lines, t_parse, samples = in_process(path, fmt)
            mb = path.stat().st_size / 1e6
            print(f"{fmt:11} {n} lines {mb:6.1f} MB  grep {g:5.2f}s  check {c:5.2f}s ({c / g:4.2f}x grep)  "
                  f"in-process: lines {t_lines:5.2f}s parse {t_parse:5.2f}s ({samples} samples)")


if __name__ == "__main__":
    main()
