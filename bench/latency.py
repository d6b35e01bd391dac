"""Live latency: from a line appended to a log to its sample being available in the monitor.

A writer thread appends one `step=N loss=X` line every `--interval` seconds to a real file; the
tail pipeline (Follower → LiveLoop → Monitor) runs in the same process, and a subscriber notes
when each step's sample arrives (on the loop thread, where the rules and the faces get it).
Prints median / p95 / max for inotify and for polling (target: median ≤ 50 ms with inotify).

    python3 bench/latency.py [--lines 300] [--interval 0.02]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from losswatch.events import SamplesAdded  # noqa: E402
from losswatch.live import LiveLoop  # noqa: E402
from losswatch.monitor import Monitor  # noqa: E402


def measure(path: str, lines: int, interval: float, poll: float | None) -> list[float]:
    written: dict[int, float] = {}
    arrived: dict[int, float] = {}
    done = threading.Event()

    def on_event(ev) -> None:
        if isinstance(ev, SamplesAdded):
            now = time.perf_counter()
            for m, s in zip(ev.batch.metrics, ev.batch.steps, strict=True):
                if m == "loss":
                    arrived.setdefault(int(s), now)
            if len(arrived) >= lines:
                done.set()

    monitor = Monitor()
    monitor.subscribe(on_event)
    loop = LiveLoop(monitor)
    open(path, "w").close()
    loop.follow(path, "run", poll=poll, format_name="kv")
    loop.start()
    time.sleep(0.5)  # let the follower open the file and settle
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    for i in range(lines):
        data = f"step={i} loss={1.0 / (i + 1)!r}\n".encode()
        written[i] = time.perf_counter()
        os.write(fd, data)
        time.sleep(interval)
    os.close(fd)
    done.wait(10)
    loop.stop()
    return [(arrived[i] - written[i]) * 1000 for i in range(lines) if i in arrived]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=300)
    ap.add_argument("--interval", type=float, default=0.02)
    args = ap.parse_args()
    print(f"{os.cpu_count()} cpus, load {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="losswatch-latency-") as tmp:
        for name, poll in (("inotify", None), ("poll 0.25s", 0.25)):
            lat = sorted(measure(os.path.join(tmp, f"{name[:4]}.log"), args.lines, args.interval, poll))
            if not lat:
                print(f"{name:11s} no samples arrived")
                continue
            p95 = lat[int(0.95 * (len(lat) - 1))]
            print(f"{name:11s} {len(lat)}/{args.lines} samples  median {statistics.median(lat):6.1f} ms  "
                  f"p95 {p95:6.1f} ms  max {lat[-1]:6.1f} ms")


if __name__ == "__main__":
    main()
