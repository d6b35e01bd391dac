"""`losswatch demo`: the whole loop on a built-in simulated job, nothing to download.

The job (`losswatch/examples/simulated_job.py`) is started the way `losswatch run` starts a job:
a real child process in its own process group, its output copied by the same pumps to a log file
(in a temporary folder) and through the live loop to the monitor, the stop target recorded as
(pid, start time) and the actions those of `run`. It trains normally, then diverges: the shipped
rules fire, the stop action stops it. With a terminal the live screen shows it; without one (CI,
pipes) the events are printed and the command exits 0 once the job has ended.
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

from losswatch.act.dispatcher import for_command
from losswatch.act.target import started
from losswatch.commands.common import make_engine
from losswatch.commands.gpu import add_gpu_sampling_arg, gpu_sampling
from losswatch.commands.run import Pump
from losswatch.events import ActionDone, AlertChanged, RunChanged
from losswatch.examples import simulated_job
from losswatch.headless import TextPrinter
from losswatch.live import LiveLoop
from losswatch.monitor import Run


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("demo", help="run the whole loop on a built-in simulated training job")
    p.add_argument("--headless", action="store_true", help="print the events instead of the live screen")
    p.add_argument("--interval", type=float, default=None, metavar="S",
                   help="seconds between the job's steps (default 0.05 with the screen, 0.005 headless)")
    p.add_argument("--dry-run", action="store_true", help="show what the actions would do, do nothing")
    add_gpu_sampling_arg(p)
    return p


def job_args(dry_run: bool = False) -> argparse.Namespace:
    """The `run` options the demo job is guarded with: shipped rules, real actions."""
    return argparse.Namespace(rules=[], disable=[], no_default_rules=False, pid=None, dry_run=dry_run, quiet=False)


class DemoJob:
    """A job started as `losswatch run` starts one, fed to a live loop; the loop's shape for the TUI.

    `start()` starts the job, its pumps and the loop; `stop()` stops following, never the job: the
    job is stopped by the action layer (a rule's stop action, the screen's stop key) or, when the
    demo itself ends, by `kill`.
    """

    def __init__(self, loop: LiveLoop, run: Run, log_path: str, interval: float = 0.05,
                 cmdline: list[str] | None = None, dry_run: bool = False) -> None:
        self.loop = loop
        self.monitor = loop.monitor
        self.run = run
        self.log_path = log_path
        self.cmdline = cmdline or [sys.executable, simulated_job.__file__, "--interval", str(interval)]
        self.dry_run = dry_run
        self.proc: subprocess.Popen | None = None
        self.returncode: int | None = None
        self.done = threading.Event()
        self.dispatcher = None

    def start(self) -> None:
        if self.proc is not None:
            return
        log_fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
        self.proc = subprocess.Popen(self.cmdline, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, process_group=0, bufsize=0)
        target = started(self.proc.pid, self.cmdline)
        self.dispatcher = for_command(job_args(self.dry_run), self.monitor.engine, [self.log_path], self.loop.post,
                                      self.monitor.emit, target=target)
        self.monitor.actions = self.dispatcher
        lock = threading.Lock()
        pumps = [Pump(s, -1, log_fd, lock, lambda b: self.loop.feed(self.run, b))
                 for s in (self.proc.stdout, self.proc.stderr)]
        for p in pumps:
            p.term_ok = False  # the job's output goes to the log (and the log pane), not over the screen
            p.start()

        def wait() -> None:
            for p in pumps:
                p.join()
            self.returncode = self.proc.wait()
            os.close(log_fd)
            self.loop.finish(self.run)
            exited = RunChanged(self.run.name, "job-exited", {"returncode": self.returncode})
            self.loop.post(lambda: (self.monitor.emit(exited), self.done.set()))

        threading.Thread(target=wait, name="losswatch-demo-wait", daemon=True).start()
        if self.loop.loop_thread is None and not self.loop.stopped:
            self.loop.start()

    def stop(self) -> None:
        """Stop following (the screen closes). Never the job."""
        self.loop.stop()

    def post(self, fn) -> None:
        self.loop.post(fn)

    def kill(self) -> None:
        """At the end of the demo: the demo's own job does not outlive it."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
        if self.dispatcher is not None:
            self.dispatcher.close(0.5)


def run(args: argparse.Namespace) -> int:
    tty = sys.stdout.isatty() and not args.headless
    interval = args.interval if args.interval is not None else (0.05 if tty else 0.005)
    with tempfile.TemporaryDirectory(prefix="losswatch-demo-") as tmp:
        path = os.path.join(tmp, "train.log")
        loop = LiveLoop(make_monitor(args))
        run_ = loop.monitor.add_run(path)
        job = DemoJob(loop, run_, path, interval, dry_run=args.dry_run)
        try:
            if tty:
                from losswatch.tui import run_tui

                with gpu_sampling(loop, loop.monitor, args):  # this machine's GPUs, as `tail` shows them
                    return run_tui(loop.monitor, job, [path], title="losswatch demo: a simulated job that diverges",
                                   reload_rules=lambda: reload_rules(loop.monitor, args),
                                   silence=lambda run, rule, secs: job.dispatcher and job.dispatcher.silence(
                                       run, rule, secs))
            return run_headless(job)
        finally:
            job.kill()


def reload_rules(monitor, args: argparse.Namespace) -> str:
    """Read the rule files again (on the loop thread); the new rules see the data that comes next."""
    engine = make_engine(job_args(getattr(args, "dry_run", False)))
    monitor.engine = engine
    return f"{len(getattr(engine, 'rules', []) or [])} rules loaded"


def make_monitor(args: argparse.Namespace):
    from losswatch.monitor import Monitor

    return Monitor(engine=make_engine(job_args(getattr(args, "dry_run", False))))


def run_headless(job: DemoJob) -> int:
    """Print what happens (alerts, actions, the job's end) until the job has ended; exit 0."""
    printer = TextPrinter()
    job.monitor.subscribe(lambda ev: printer(ev) if isinstance(ev, (AlertChanged, ActionDone, RunChanged)) else None)
    t0 = time.monotonic()
    job.start()
    print(f"demo: started the simulated job, pid {job.proc.pid}: {' '.join(job.cmdline)}", flush=True)
    print(f"demo: its log is {job.log_path}", flush=True)
    job.done.wait(timeout=120)
    if job.dispatcher is not None:
        job.dispatcher.stopper.wait(5.0)
    job.loop.drain()
    job.stop()
    run_ = job.run
    alerts = sorted({a.rule for a in run_.alerts if a.state == "firing"})
    stopped = job.returncode is not None and job.returncode != 0
    print(f"demo: the job {'was stopped' if stopped else 'ended'} (exit {job.returncode}) after "
          f"{time.monotonic() - t0:.1f} s; {run_.reader.lines_read} lines read as {run_.format_name}; "
          f"alerts: {', '.join(alerts) or 'none'}", flush=True)
    return 0
