"""GPU sampler overhead: CPU time per reading, and CPU share of one core while sampling at 1 Hz.

    python3 bench/bench_gpu.py            # fake pynvml (tests/fakenvml.py): the cost of losswatch's side
    python3 bench/bench_gpu.py --real     # the real NVML (on a GPU machine): adds the driver's cost

Target (issue 5): ≤ 1% of one core at 1 Hz. The fake's calls cost next to nothing, so the fake figure
is losswatch's own overhead (wrapper, job-process matching, batch building, two threads waking up).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from losswatch.gpu import GpuReader, GpuSampler, Job, reading_to_batch  # noqa: E402
from losswatch.model import SampleBatch  # noqa: E402
from losswatch.store import Store  # noqa: E402


def fake_lib(devices: int, job_pid: int | None):
    from tests.fakenvml import FakeDevice, FakeNvml, build_module

    devs = []
    for i in range(devices):
        procs = [(job_pid, 20000.0), (os.getpid(), 300.0)] if job_pid else [(os.getpid(), 300.0)]
        devs.append(FakeDevice(uuid=f"GPU-{i:04d}", util=[90, 95, 99, 97], mem_used_mib=[60000, 60010],
                               temp=[70, 71], power_w=[350.0, 360.0], processes=[procs]))
    return build_module(FakeNvml(devices=devs))


def per_reading(lib, job: Job | None, n: int) -> float:
    reader = GpuReader(lib, job, processes=job is not None)
    reader.read()
    t0 = time.process_time()
    for i in range(n):
        reading_to_batch(reader.read(), i)
    return (time.process_time() - t0) / n


def threaded_share(lib, job: Job | None, seconds: float, interval: float) -> tuple[float, int]:
    got: list[SampleBatch] = []
    s = GpuSampler(got.append, interval=interval, job=job, lib=lib).start()
    time.sleep(0.5)  # past start-up (NVML init)
    c0, w0, n0 = time.process_time(), time.monotonic(), len(got)
    time.sleep(seconds)
    c1, w1, n1 = time.process_time(), time.monotonic(), len(got)
    s.stop()
    return (c1 - c0) / (w1 - w0), n1 - n0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--real", action="store_true", help="use the real NVML instead of the fake")
    ap.add_argument("--seconds", type=float, default=20.0, help="length of the threaded 1 Hz run")
    args = ap.parse_args()
    if args.real:
        r = GpuReader(pynvml_real()).read()
        if r.state != "ok":
            print(f"no GPU: {r.reason}")
            return
    job_proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        job = Job(job_proc.pid, env={})
        print(f"{'case':44} {'per reading':>12} {'share of a core at 1 Hz':>24}")
        for devices in (1, 8):
            for with_job in (False, True):
                if args.real:
                    import pynvml as lib
                else:
                    lib = fake_lib(devices, job_proc.pid if with_job else None)
                cost = per_reading(lib, job if with_job else None, 2000 if not args.real else 100)
                label = f"{'real' if args.real else 'fake'} NVML, {devices} GPU(s), {'with' if with_job else 'no'} job"
                print(f"{label:44} {cost * 1e6:9.0f} µs {100 * cost:23.3f}%")
                if args.real:
                    break
            if args.real:
                break
        lib = pynvml_real() if args.real else fake_lib(8, job_proc.pid)
        share, n = threaded_share(lib, job, args.seconds, 1.0)
        print(f"sampler thread at 1 Hz for {args.seconds:g} s (8 GPUs, job): {n} batches, "
              f"{100 * share:.3f}% of one core (process CPU time / wall time, main thread asleep)")
        # the loop's side: adding a batch to a store (what monitor.add_samples does before the rules)
        reading = GpuReader(fake_lib(8, job_proc.pid), job).read()
        store = Store()
        t0 = time.process_time()
        for i in range(2000):
            store.add_batch(reading_to_batch(reading, i))
        per = (time.process_time() - t0) / 2000
        print(f"store.add_batch of one 8-GPU batch ({len(reading_to_batch(reading, 0))} samples): {per * 1e6:.0f} µs")
        # and through the rules: monitor.add_samples with the shipped packs (default + gpu)
        from losswatch.engine import build_engine
        from losswatch.monitor import Monitor

        monitor = Monitor(engine=build_engine([], [], True))
        run = monitor.add_run("bench")
        t0 = time.process_time()
        for i in range(2000):
            b = reading_to_batch(reading, i)
            b.wall_time = 1e9 + i
            monitor.add_samples(run, b)
            monitor.tick(1e9 + i + 0.5)
        per = (time.process_time() - t0) / 2000
        print(f"loop side per reading, store + shipped rules + tick (8 GPUs): {per * 1e6:.0f} µs "
              f"= {100 * per:.3f}% of a core at 1 Hz")
    finally:
        job_proc.kill()
        job_proc.wait()


def pynvml_real():
    import pynvml

    return pynvml


if __name__ == "__main__":
    main()
