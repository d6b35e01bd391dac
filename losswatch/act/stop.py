"""Stopping the job safely: an escalation of signals (or a command) to the job's process group or tree.

Safety rules (contract, see DESIGN.md "Safety of stop"):
- the job is a `Target` (pid, start time); every process signalled is first checked to still be the
  process that was seen in the job's tree (pid *and* start time), and signalled through a pidfd, so a
  pid reused by another process is never signalled;
- the whole group is signalled at once (`killpg`) only when the job leads its group and every member of
  the group is in the job's tree; otherwise each tree member is signalled on its own;
- a stop runs once per job: a second request while one is in progress (or done) does not restart it;
- escalation runs on its own thread, so monitoring goes on while the graces pass.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psutil

from losswatch.act.audit import AuditLog
from losswatch.act.target import Target, live_process, protected_pids
from losswatch.model import ActionResult, Alert


def parse_signal(value: str | int) -> signal.Signals:
    """`SIGINT`, `INT`, `int` or `2` → signal.SIGINT. Raises ValueError for anything else."""
    if isinstance(value, int) and not isinstance(value, bool):
        return signal.Signals(value)
    text = str(value).strip().upper()
    if text.isdigit():
        return signal.Signals(int(text))
    if not text.startswith("SIG"):
        text = "SIG" + text
    try:
        return signal.Signals[text]
    except KeyError:
        raise ValueError(f"unknown signal {value!r}") from None


@dataclass(frozen=True)
class StopStep:
    """Send `signal`, then wait up to `wait` seconds for the whole tree to exit."""

    signal: signal.Signals
    wait: float


DEFAULT_STEPS = (
    StopStep(signal.SIGINT, 30.0),
    StopStep(signal.SIGTERM, 30.0),
    StopStep(signal.SIGKILL, 10.0),
)


@dataclass
class StopPolicy:
    """How to stop: signal steps (default SIGINT 30 s, SIGTERM 30 s, SIGKILL), or a command instead.

    `exec` is a command template (`scancel {slurm_job_id}`; also `{pid}`, `{pgid}`, `{rule}`), split
    like a shell would but run without one, then `exec_wait` seconds are given for the job to end.
    `scope` is "auto" (group when safe, else tree) or "tree" (always one process at a time).
    """

    steps: tuple[StopStep, ...] = DEFAULT_STEPS
    scope: str = "auto"
    exec: str | None = None
    exec_timeout: float = 60.0
    exec_wait: float = 60.0
    poll: float = 0.02

    def describe(self) -> dict[str, Any]:
        if self.exec:
            return {"exec": self.exec, "wait": self.exec_wait}
        return {"steps": [f"{s.signal.name}+{s.wait:g}s" for s in self.steps], "scope": self.scope}


@dataclass
class _Job:
    target: Target
    rule: str
    known: dict[int, float] = field(default_factory=dict)  # pid -> start time of every tree member seen
    outcome: str = "stopping"
    thread: threading.Thread | None = None


def _signal_process(pid: int, create_time: float, sig: int) -> bool:
    """Signal one process only if `pid` still names the process that started at `create_time`."""
    try:
        fd = os.pidfd_open(pid)
    except (OSError, AttributeError):
        fd = None
    try:
        if live_process(pid, create_time) is None:
            return False
        if fd is not None:
            signal.pidfd_send_signal(fd, sig)
        else:  # pragma: no cover - kernels before 5.3
            os.kill(pid, sig)
        return True
    except ProcessLookupError:
        return False
    finally:
        if fd is not None:
            os.close(fd)


def _group_members(pgid: int) -> set[int]:
    members = set()
    for p in psutil.process_iter():
        try:
            if os.getpgid(p.pid) == pgid and p.status() != psutil.STATUS_ZOMBIE:
                members.add(p.pid)
        except (OSError, psutil.Error):
            continue
    return members


class Stopper:
    """Runs stop escalations, once per job, and reports each step to the audit log and `on_result`."""

    def __init__(self, policy: StopPolicy | None = None, audit: AuditLog | None = None, dry_run: bool = False,
                 on_result: Callable[[ActionResult], None] | None = None) -> None:
        self.policy = policy or StopPolicy()
        self.audit = audit
        self.dry_run = dry_run
        self.on_result = on_result
        self._lock = threading.Lock()
        self._jobs: dict[Target, _Job] = {}

    # -- entry point -------------------------------------------------------------------------------

    def stop(self, target: Target, alert: Alert) -> ActionResult:
        """Start stopping `target` because of `alert`; returns at once with what was started (or why not)."""
        with self._lock:
            job = self._jobs.get(target)
            if job is not None:
                return self._result(alert, target, "already-stopping",
                                    {"first_rule": job.rule, "outcome": job.outcome})
            if target.pid in protected_pids():
                return self._result(alert, target, "refused",
                                    {"reason": f"pid {target.pid} is losswatch itself or its parent"})
            if target.process() is None:
                return self._result(alert, target, "refused",
                                    {"reason": f"process {target.pid} has exited or its pid now names another "
                                               "process; nothing signalled"})
            job = _Job(target, alert.rule)
            self._jobs[target] = job
            plan = self.policy.describe()
            if self.dry_run:
                job.outcome = "dry-run"
                self._refresh(job)
                return self._result(alert, target, "dry-run",
                                    {**plan, "would_signal": sorted(job.known), "mode": self._mode(job)})
            job.thread = threading.Thread(target=self._escalate, args=(job, alert), name="losswatch-stop",
                                          daemon=True)
            job.thread.start()
            return self._result(alert, target, "stopping", plan)

    def wait(self, timeout: float | None = None) -> None:
        """Wait for running escalations (tests, and `losswatch run` at exit)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for job in list(self._jobs.values()):
            if job.thread is not None:
                job.thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))

    def outcome(self, target: Target) -> str | None:
        job = self._jobs.get(target)
        return None if job is None else job.outcome

    # -- escalation --------------------------------------------------------------------------------

    def _escalate(self, job: _Job, alert: Alert) -> None:
        start = time.monotonic()
        try:
            if self.policy.exec:
                self._run_exec(job, alert)
                done = self._wait_gone(job, self.policy.exec_wait)
                job.outcome = "exited after exec" if done else "still running after exec"
            else:
                job.outcome = "still running after the last signal"
                for step in self.policy.steps:
                    if not self._refresh(job):
                        job.outcome = "exited"
                        break
                    mode, pids = self._send(job, step.signal)
                    self._report(alert, job, "signal-sent",
                                 {"signal": step.signal.name, "mode": mode, "pids": pids,
                                  "after_s": round(time.monotonic() - start, 3)})
                    if self._wait_gone(job, step.wait):
                        job.outcome = f"exited after {step.signal.name}"
                        break
        except Exception as e:  # never let a stop thread die silently
            job.outcome = f"error: {e}"
        self._report(alert, job, "done", {"outcome": job.outcome, "after_s": round(time.monotonic() - start, 3)})

    def _refresh(self, job: _Job) -> list[psutil.Process]:
        """Add the job's current descendants to `known`; return the known members still alive."""
        root = job.target.process()
        if root is not None:
            job.known.setdefault(root.pid, job.target.create_time)
            mine = os.getpid()
            try:
                for child in root.children(recursive=True):
                    if child.pid == mine:  # never ourselves, should the job be our parent
                        continue
                    try:
                        job.known.setdefault(child.pid, child.create_time())
                    except psutil.Error:
                        continue
            except psutil.Error:
                pass
        alive = []
        for pid, ctime in list(job.known.items()):
            p = live_process(pid, ctime)
            if p is None:
                del job.known[pid]
            else:
                alive.append(p)
        return alive

    def _mode(self, job: _Job) -> str:
        """"group" when killpg reaches exactly the job's tree, else "tree"."""
        if self.policy.scope != "auto" or job.target.process() is None:
            return "tree"
        pid = job.target.pid
        try:
            if os.getpgid(pid) != pid:
                return "tree"
        except OSError:
            return "tree"
        members = _group_members(pid)
        return "group" if members and members <= set(job.known) else "tree"

    def _send(self, job: _Job, sig: signal.Signals) -> tuple[str, list[int]]:
        mode = self._mode(job)
        pids = sorted(job.known)
        if mode == "group":
            # The leader was just seen alive with its start time, so the group id is still its.
            if live_process(job.target.pid, job.target.create_time) is not None:
                try:
                    os.killpg(job.target.pid, sig)
                    return mode, pids
                except ProcessLookupError:
                    pass
        sent = [pid for pid, ctime in sorted(job.known.items()) if _signal_process(pid, ctime, sig)]
        return "tree", sent

    def _wait_gone(self, job: _Job, seconds: float) -> bool:
        """Wait for the whole tree to exit: fast checks at first (most jobs exit at once), then slower
        ones, so a 30 s grace does not scan /proc fifty times a second."""
        deadline = time.monotonic() + seconds
        pause = self.policy.poll
        while True:
            if not self._refresh(job):
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(pause, left))
            pause = min(pause * 1.5, 0.25)

    def _run_exec(self, job: _Job, alert: Alert) -> None:
        values = {"pid": job.target.pid, "rule": alert.rule, "run": alert.run, "pgid": "", "slurm_job_id": ""}
        try:
            values["pgid"] = os.getpgid(job.target.pid)
        except OSError:
            pass
        proc = job.target.process()
        try:
            env = proc.environ() if proc is not None else {}
        except psutil.Error:
            env = {}
        values["slurm_job_id"] = env.get("SLURM_JOB_ID") or os.environ.get("SLURM_JOB_ID", "")
        argv = [a.format(**values) for a in shlex.split(self.policy.exec or "")]
        if "{slurm_job_id}" in (self.policy.exec or "") and not values["slurm_job_id"]:
            raise RuntimeError("the job has no SLURM_JOB_ID; exec not run")
        try:
            cp = subprocess.run(argv, capture_output=True, text=True, timeout=self.policy.exec_timeout)
            detail = {"argv": argv, "exit": cp.returncode, "stderr": cp.stderr[-500:]}
        except subprocess.TimeoutExpired:
            detail = {"argv": argv, "exit": None, "error": f"timed out after {self.policy.exec_timeout:g}s"}
        except OSError as e:
            detail = {"argv": argv, "exit": None, "error": str(e)}
        self._report(alert, job, "exec-run", detail)

    # -- reporting ---------------------------------------------------------------------------------

    def _result(self, alert: Alert, target: Target, result: str, detail: dict[str, Any]) -> ActionResult:
        r = ActionResult("stop", alert.rule, alert.run, target.describe(), result, detail, time.time())
        if self.audit is not None:
            self.audit.write({"action": "stop", "rule": alert.rule, "run": alert.run, "value": alert.value,
                              "step": alert.step, "target": target.describe(), "result": result,
                              "dry_run": self.dry_run, **detail})
        return r

    def _report(self, alert: Alert, job: _Job, result: str, detail: dict[str, Any]) -> None:
        r = self._result(alert, job.target, result, detail)
        if self.on_result is not None:
            try:
                self.on_result(r)
            except Exception:
                pass
