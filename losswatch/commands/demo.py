"""`losswatch demo`: the whole loop on a built-in simulated job, nothing to download.

The job (`losswatch/examples/simulated_job.py`) is started as a real child process; its output is
written to a log file in a temporary folder and fed to the monitor as it comes, exactly as
`losswatch run` does. It trains normally, then diverges: the rules fire, the stop action stops it.
With a terminal the live screen shows it; without one (CI, pipes) the events are printed and the
command exits 0 when the job has ended.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

from losswatch.commands.common import make_engine
from losswatch.events import RunChanged
from losswatch.examples import simulated_job
from losswatch.headless import TextPrinter
from losswatch.live import LiveLoop
from losswatch.monitor import Monitor, Run


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("demo", help="run the whole loop on a built-in simulated training job")
    p.add_argument("--headless", action="store_true", help="print the events instead of the live screen")
    p.add_argument("--interval", type=float, default=None, metavar="S",
                   help="seconds between the job's steps (default 0.05 with the screen, 0.005 headless)")
    return p


class DemoJob:
    """A job as a child process: its output goes to a log file and, through the live loop, to the monitor.

    `start()` starts the job and the loop (the shape the TUI expects); `stop()` stops following,
    never the job. The job is stopped through `control` (the TUI's stop key) or `kill` (demo exit).
    """

    ESCALATION = "SIGINT, wait 5 s, SIGTERM, wait 5 s, SIGKILL (process group)"

    def __init__(self, loop: LiveLoop, run: Run, log_path: str, interval: float = 0.05,
                 cmdline: list[str] | None = None) -> None:
        self.loop = loop
        self.monitor = loop.monitor
        self.run = run
        self.log_path = log_path
        self.cmdline = cmdline or [sys.executable, simulated_job.__file__, "--interval", str(interval)]
        self.proc: subprocess.Popen | None = None
        self.returncode: int | None = None
        self.stopped = False
        self.done = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.proc is not None:
            return
        self.proc = subprocess.Popen(self.cmdline, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        self._thread = threading.Thread(target=self._pump, name="losswatch-demo-job", daemon=True)
        self._thread.start()
        if self.loop.loop_thread is None and not self.loop.stopped:
            self.loop.start()

    def stop(self) -> None:
        """Stop following (the screen closes). Never stops the job: see `kill` and `control`."""
        self.loop.stop()

    def post(self, fn) -> None:
        self.loop.post(fn)

    @property
    def control(self) -> DemoJobControl:
        return DemoJobControl(self)

    def _pump(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        with open(self.log_path, "ab", buffering=0) as log:
            while True:
                data = os.read(fd, 1 << 16)
                if not data:
                    break
                log.write(data)
                self.loop.feed(self.run, data)
        self.loop.finish(self.run)
        self.returncode = self.proc.wait()
        exited = RunChanged(self.run.name, "job-exited", {"returncode": self.returncode})
        self.loop.post(lambda: (self.monitor.emit(exited), self.done.set()))

    def info(self):
        from losswatch.tui.job import JobInfo

        state = "starting" if self.proc is None else (
            "running" if self.returncode is None else ("stopped" if self.stopped else f"exited {self.returncode}"))
        return JobInfo(pid=self.proc.pid if self.proc else None, cmdline=self.cmdline,
                       escalation=self.ESCALATION, state=state)

    def stop_job(self) -> str:
        if self.proc is None or self.returncode is not None:
            return "the job is not running"
        self.stopped = True
        for sig, wait in ((signal.SIGINT, 5.0), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            if self.done.wait(wait):
                return f"pid {self.proc.pid} stopped by {sig.name} (exit {self.returncode})"
        return f"pid {self.proc.pid} signalled"

    def kill(self) -> None:
        """At exit of the demo: the demo's own job does not outlive it."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()


class DemoJobControl:
    """The demo job as the TUI's `JobControl`: what to show before stopping, and the stop."""

    def __init__(self, job: DemoJob) -> None:
        self.job = job

    def info(self):
        return self.job.info()

    def stop(self) -> str:
        return self.job.stop_job()


def run(args: argparse.Namespace) -> int:
    tty = sys.stdout.isatty() and not args.headless
    interval = args.interval if args.interval is not None else (0.05 if tty else 0.005)
    with tempfile.TemporaryDirectory(prefix="losswatch-demo-") as tmp:
        path = os.path.join(tmp, "train.log")
        open(path, "wb").close()
        monitor = Monitor(engine=make_engine(args))
        run_ = monitor.add_run(path)
        loop = LiveLoop(monitor)
        job = DemoJob(loop, run_, path, interval)
        try:
            if tty:
                from losswatch.tui import run_tui

                return run_tui(monitor, job, [path], job=job.control, title="losswatch demo")
            monitor.subscribe(TextPrinter())
            print(f"demo: starting the simulated job (pid follows), log {path}", flush=True)
            t0 = time.monotonic()
            job.start()
            print(f"demo: job pid {job.proc.pid if job.proc else '?'}: {' '.join(job.cmdline)}", flush=True)
            job.done.wait(timeout=120)
            loop.stop()
            print(f"demo: job ended ({job.info().state}) after {time.monotonic() - t0:.1f} s; "
                  f"read {run_.reader.lines_read} lines as {run_.format_name}; "
                  f"metrics: {', '.join(run_.store.metrics()) or 'none'}", flush=True)
            return 0
        finally:
            job.kill()
