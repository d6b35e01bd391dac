"""Make the README's screenshots: SVGs of the real TUI on real corpus logs, saved into screenshots/.

Scenes: a healthy run, an overfitting run (and its plot), a diverging run being stopped (a real
child process writes the log; the stop dialog, then the stopped job), and the GPU panel from the
fake NVML module when there is no GPU. Each scene uses the real Monitor, parsers, rule engine and
actions that this checkout has; a scene whose part is missing is skipped with a message.

Usage: python3 scripts/make_screenshots.py [--corpus ../shared/corpus] [--out screenshots]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from losswatch.commands.common import make_engine  # noqa: E402
from losswatch.commands.demo import DemoJob  # noqa: E402
from losswatch.ingest.playback import Playback  # noqa: E402
from losswatch.live import LiveLoop  # noqa: E402
from losswatch.monitor import Monitor  # noqa: E402
from losswatch.tui import make_app  # noqa: E402

SIZE = (120, 34)
HEALTHY = "modded_nanogpt/muon_6200steps.log"
OVERFIT = "keras/dlwp-cats-dogs-convnet_overfit.log"
DIVERGE = "mmdet/faster-rcnn-tct_lrx10_diverge-nan.log"


def engine():
    return make_engine(argparse.Namespace(rules=[], disable=[], no_default_rules=False))


async def wait(pilot, cond, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError("scene did not reach its state")
        await pilot.pause(0.05)


async def settle(pilot, app) -> None:
    await wait(pilot, lambda: not app.bridge.pending() and app._flush_timer is None)
    await pilot.pause(0.3)


async def replay_scene(log: Path, out: Path, keys: list[str], size=SIZE) -> None:
    monitor = Monitor(engine=engine())
    run = monitor.add_run(str(log))
    rep = Playback(LiveLoop(monitor), run, str(log), speed=0)
    app = make_app(monitor, rep, [str(log)], title=f"losswatch tail {log.name}")
    async with app.run_test(size=size) as pilot:
        await wait(pilot, rep.done.is_set)
        await settle(pilot, app)
        app.clear_notifications()
        for k in keys:
            await pilot.press(k)
            await pilot.pause(0.3)
        app.save_screenshot(out.name, str(out.parent))
    print(f"wrote {out}")


WRITER = """
import sys, time
lines = open(sys.argv[1], encoding="utf-8", errors="replace").readlines()
fast, pause_at = int(sys.argv[2]), float(sys.argv[3])
for i, line in enumerate(lines):
    sys.stdout.write(line)
    sys.stdout.flush()
    time.sleep(0.002 if i < fast else pause_at)
"""


async def job_scene(log: Path, out_dir: Path, name: str, fast: int, dialog: bool) -> None:
    """A real child process writes a corpus log (fast for `fast` lines, then slowly), guarded as
    `losswatch run` guards a job. Without `dialog`: wait until the shipped rules have stopped it.
    With `dialog`: press `s` and show the stop confirmation."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "train.log"
        monitor = Monitor(engine=engine())
        loop = LiveLoop(monitor)
        run = monitor.add_run(str(path))
        script = Path(tmp) / "train.py"  # a stand-in training script: prints a real log, line by line
        script.write_text(WRITER)
        cmd = [sys.executable, str(script), str(log), str(fast), "0.5"]
        job = DemoJob(loop, run, str(path), 0.0, cmdline=cmd)
        app = make_app(monitor, job, [str(path)], title="losswatch run -- python train.py")
        try:
            async with app.run_test(size=SIZE) as pilot:
                if dialog:
                    await wait(pilot, lambda: run.reader.lines_read >= fast - 5)
                    await settle(pilot, app)
                    app.clear_notifications()
                    await pilot.press("s")
                    await pilot.pause(0.5)
                else:
                    await wait(pilot, job.done.is_set)
                    await wait(pilot, lambda: job.dispatcher.stopper.outcome(job.dispatcher.finder.target)
                               not in (None, "stopping"))
                    await settle(pilot, app)
                    await pilot.pause(0.5)
                app.save_screenshot(name, str(out_dir))
                print(f"wrote {out_dir / name}")
        finally:
            job.kill()


async def gpu_scene(log: Path, out: Path) -> None:
    """The GPU panel on a real log, the readings from the fake NVML module (tests/fakenvml.py)."""
    from losswatch.gpu import attach_to_loop
    from tests.fakenvml import FakeDevice, FakeNvml, build_module

    util = [int(60 + 35 * abs(((i * 7) % 20) - 10) / 10) for i in range(60)]
    fake = FakeNvml(devices=[
        FakeDevice(util=util, mem_used_mib=[61440], temp=[74], power_w=[318.0], processes=[[]]),
        FakeDevice(util=[u - 8 for u in util], mem_used_mib=[59392], temp=[71], power_w=[301.0]),
        FakeDevice(util=[0], mem_used_mib=[512], temp=[36], power_w=[58.0]),
    ])
    monitor = Monitor(engine=engine())
    loop = LiveLoop(monitor)
    run = monitor.add_run(str(log))
    rep = Playback(loop, run, str(log), speed=0)
    app = make_app(monitor, rep, [str(log)], title=f"losswatch tail {log.name}")
    sampler = attach_to_loop(loop, monitor, interval=0.05, lib=build_module(fake))
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait(pilot, rep.done.is_set)
            await wait(pilot, lambda: (s := run.store.get("gpu0.util")) is not None and s.count >= 60)
            await settle(pilot, app)
            app.clear_notifications()
            await pilot.pause(0.3)
            app.save_screenshot(out.name, str(out.parent))
        print(f"wrote {out}")
    finally:
        sampler.stop()


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    ap.add_argument("--out", type=Path, default=ROOT / "screenshots")
    args = ap.parse_args()
    if not args.corpus.is_dir():
        raise SystemExit(f"no corpus at {args.corpus}")
    args.out.mkdir(parents=True, exist_ok=True)
    await replay_scene(args.corpus / HEALTHY, args.out / "healthy.svg", [])
    await replay_scene(args.corpus / OVERFIT, args.out / "overfitting.svg", [])
    await replay_scene(args.corpus / OVERFIT, args.out / "overfitting-plot.svg", ["down", "enter"])
    await job_scene(args.corpus / DIVERGE, args.out, "diverging-stopped.svg", 800, dialog=False)
    await job_scene(args.corpus / HEALTHY, args.out, "stop-dialog.svg", 1500, dialog=True)
    await gpu_scene(args.corpus / HEALTHY, args.out / "gpu.svg")


if __name__ == "__main__":
    asyncio.run(main())
