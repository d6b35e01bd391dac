"""`losswatch run [--log FILE] [--rules FILE]... [--dry-run] -- CMD ARG...`: start the job and guard it.

The job runs in its own process group. Its stdout/stderr are copied, as they come, to our
stdout/stderr and, in whole lines, to the log file and the monitor (the two streams never mix inside a
line). Alerts and actions are printed on stderr. Ctrl-C (and SIGTERM/SIGHUP) are forwarded to the
job's group (a third Ctrl-C sends SIGKILL); losswatch exits with the job's status (128+N when a signal N ended it).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from losswatch.act.dispatcher import for_command
from losswatch.act.target import live_process, started
from losswatch.commands.common import (
    add_format_args,
    add_rule_args,
    check_format_args,
    make_engine,
    reload_rules,
)
from losswatch.commands.gpu import add_gpu_sampling_arg, gpu_sampling
from losswatch.errors import UsageError
from losswatch.events import ActionDone, AlertChanged, Event, RunChanged
from losswatch.headless import JsonPrinter, TextPrinter
from losswatch.live import LiveLoop
from losswatch.monitor import Monitor

CHUNK = 1 << 16
MAX_PARTIAL = 1 << 16  # a line longer than this goes to the log/monitor in pieces
TICK = 1.0  # seconds between ticks when the job is silent (stall and wall-time rules)
DRAIN_AFTER_EXIT = 2.0  # seconds to read what is left in the pipes after the job exited
FORWARD = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("run", help="start a training job, copy its output to a log, watch it, stop it if it diverges",
                       usage="losswatch run [--log FILE] [--rules FILE]... [--dry-run] -- CMD ARG...")
    p.add_argument("--log", metavar="FILE", help="log file to write (default: NAME-DATE-TIME.log in the current "
                                                 "directory, NAME from the script)")
    p.add_argument("--dry-run", action="store_true", help="show what the actions would do, do nothing")
    p.add_argument("--quiet", action="store_true", help="no notifications (alerts are still printed)")
    p.add_argument("--json", action="store_true", help="alerts and actions as JSON lines on stderr")
    p.add_argument("--headless", action="store_true",
                   help="no screen: the job's output, alerts and actions as text (default when not on a terminal)")
    add_gpu_sampling_arg(p)
    add_format_args(p)
    add_rule_args(p)
    p.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- CMD ARG...")
    return p


def default_log_name(cmd: list[str], now: float | None = None) -> str:
    """`python train.py --lr 3` → `train-20261123-141502.log`: named after the script, never clobbering."""
    stem = Path(cmd[0]).name
    for arg in cmd:
        if arg.endswith((".py", ".sh")) and not arg.startswith("-"):
            stem = Path(arg).stem
            break
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    return f"{stem or 'job'}-{stamp}.log"


class ScreenLoop:
    """The live loop as the screen sees it: the screen starts it; closing the screen stops neither the
    job nor its monitoring (stop, notify and the log go on; `run` goes back to printing the output)."""

    def __init__(self, loop: LiveLoop) -> None:
        self.loop = loop
        self.monitor = loop.monitor

    def start(self) -> None:
        if self.loop.loop_thread is None and not self.loop.stopped:
            self.loop.start()

    def stop(self) -> None:
        pass

    def post(self, fn) -> None:
        self.loop.post(fn)

    def __getattr__(self, name: str):
        return getattr(self.loop, name)


def want_screen(args: argparse.Namespace) -> bool:
    if args.headless or args.json or not sys.stdout.isatty() or sys.stdin is None or not sys.stdin.isatty():
        return False
    try:
        import losswatch.tui  # noqa: F401
    except ImportError:
        return False
    return True


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except InterruptedError:
            continue
        view = view[n:]


class Pump(threading.Thread):
    """Copies one output stream of the job: raw to the terminal at once, whole lines to the log and monitor.

    Whole lines (ended by \\n or \\r) only, so stdout and stderr never mix inside one line of the log.
    Log write and monitor feed happen under one lock: the monitor reads exactly the log's bytes, in order.
    """

    def __init__(self, stream, term_fd: int, log_fd: int, lock: threading.Lock,
                 sink: Callable[[bytes], None]) -> None:
        super().__init__(name=f"losswatch-pump-{term_fd}", daemon=True)
        self.stream, self.term_fd, self.log_fd, self.lock, self.sink = stream, term_fd, log_fd, lock, sink
        self.term_ok = True

    def run(self) -> None:
        src = self.stream.fileno()
        partial = b""
        while True:
            try:
                data = os.read(src, CHUNK)
            except InterruptedError:
                continue
            except OSError:
                data = b""
            if not data:
                break
            if self.term_ok:
                try:
                    _write_all(self.term_fd, data)
                except OSError:  # the terminal went away: keep logging and monitoring
                    self.term_ok = False
            partial += data
            cut = max(partial.rfind(b"\n"), partial.rfind(b"\r")) + 1
            if cut == 0 and len(partial) >= MAX_PARTIAL:
                cut = len(partial)
            if cut:
                self._emit(partial[:cut])
                partial = partial[cut:]
        if partial:
            self._emit(partial)
        self.stream.close()

    def _emit(self, block: bytes) -> None:
        with self.lock:
            _write_all(self.log_fd, block)
            self.sink(block)


def _exit_status(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


def run(args: argparse.Namespace) -> int:
    cmd = list(args.cmd)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        raise UsageError("no command to run: losswatch run [options] -- CMD ARG...")
    # Everything that can be wrong with the input is checked before the job starts.
    check_format_args(args)
    engine = make_engine(args)
    monitor = Monitor(engine=engine)
    loop = LiveLoop(monitor, tick_interval=TICK)
    log_path = args.log or default_log_name(cmd)
    dispatcher = for_command(args, engine, [log_path], loop.post, monitor.emit)
    try:
        log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
    except OSError as e:
        raise UsageError(f"cannot write the log: {e.strerror or e}", log_path) from None

    env = {**os.environ, "PYTHONUNBUFFERED": os.environ.get("PYTHONUNBUFFERED", "1")}
    stdin = subprocess.DEVNULL if sys.stdin is None or sys.stdin.isatty() else None
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=stdin, env=env,
                                process_group=0, bufsize=0)
    except OSError as e:
        os.close(log_fd)
        raise UsageError(f"cannot start {cmd[0]}: {e.strerror or e}") from None
    target = started(proc.pid, cmd)

    dispatcher.finder.target = target
    monitor.actions = dispatcher
    printer = JsonPrinter(sys.stderr) if args.json else TextPrinter(sys.stderr)

    printing = [not want_screen(args)]

    def face(ev: Event) -> None:
        if not printing[0]:
            return  # the screen shows it
        if isinstance(ev, (AlertChanged, ActionDone)) or (isinstance(ev, RunChanged) and ev.kind != "format"):
            printer(ev)

    monitor.subscribe(face)
    run_ = monitor.add_run(log_path, args.format_name)
    sys.stderr.write(f"losswatch: started pid {proc.pid}, logging to {log_path}, actions audited in "
                     f"{dispatcher.audit.path}{' (dry run)' if args.dry_run else ''}\n")
    sys.stderr.flush()

    presses = [0]

    def forward(signum, _frame) -> None:
        """Pass the signal to the job's group; a third Ctrl-C kills a job that ignores SIGINT."""
        if signum == signal.SIGINT:
            presses[0] += 1
            if presses[0] == 2:
                sys.stderr.write("losswatch: SIGINT sent again; Ctrl-C once more sends SIGKILL\n")
            elif presses[0] >= 3:
                signum = signal.SIGKILL
        if live_process(target.pid, target.create_time) is not None:
            try:
                os.killpg(proc.pid, signum)
            except ProcessLookupError:
                pass

    old = {s: signal.signal(s, forward) for s in FORWARD}
    lock = threading.Lock()
    pumps = [Pump(proc.stdout, 1, log_fd, lock, lambda b: loop.feed(run_, b)),
             Pump(proc.stderr, 2, log_fd, lock, lambda b: loop.feed(run_, b))]
    done = threading.Event()
    status: list[int] = []

    def waiter() -> None:
        status.append(proc.wait())
        # Output still in the pipes is read; a process the job left behind holding them open is not
        # waited for beyond a few seconds.
        deadline = time.monotonic() + DRAIN_AFTER_EXIT
        for p in pumps:
            p.join(max(0.0, deadline - time.monotonic()))
        loop.finish(run_)
        loop.post(done.set)  # after everything the job wrote has been fed

    screen = not printing[0]
    for p in pumps:
        p.term_ok = not screen  # on the screen the job's output shows in the log pane
        p.start()
    threading.Thread(target=waiter, name="losswatch-wait", daemon=True).start()
    try:
        with gpu_sampling(loop, monitor, args, runs=[run_], job_pid=proc.pid, env=env):
            if screen:
                from losswatch.tui import run_tui

                run_tui(monitor, ScreenLoop(loop), [log_path], title=f"losswatch run: {' '.join(cmd)}",
                        reload_rules=lambda: reload_rules(monitor, args), silence=dispatcher.silence)
                printing[0] = True
                if not done.is_set():
                    sys.stderr.write(f"losswatch: screen closed; job pid {proc.pid} goes on and is still watched "
                                     f"(Ctrl-C is forwarded to it)\n")
                    for p in pumps:
                        p.term_ok = True
                if loop.loop_thread is None and not loop.stopped:
                    loop.run(done)
                else:
                    while not done.wait(0.5):
                        pass
            else:
                loop.run(done)
        dispatcher.stopper.wait(2.0)
        loop.drain()  # results of a stop that finished as the job ended
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        loop.stop()
        dispatcher.close()
        if not any(p.is_alive() for p in pumps):  # else the descriptor number could be reused under them
            os.close(log_fd)
    code = _exit_status(status[0])
    stopped = dispatcher.stopper.outcome(target)
    why = f" (stop: {stopped})" if stopped and stopped != "dry-run" else ""
    sys.stderr.write(f"losswatch: job exited with status {code}{why}; log: {log_path}\n")
    return code
