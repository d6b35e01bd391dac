"""Which process is the job: recorded as (pid, start time) so that a reused pid is never mistaken for it.

A target comes from `losswatch run` (the child it started), from `--pid`, or from the log file itself:
the processes that hold it open for writing (found through /proc/*/fd and fdinfo). Its tree
(torchrun workers, dataloader workers) is looked up with psutil when it is needed, not remembered.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import psutil

# psutil derives start times from clock ticks since boot: equal for the same process, whoever asks.
_SAME_START = 0.02


class TargetError(Exception):
    """No usable target (no such process, ambiguous writers, ...): the reason is the message."""


class AmbiguousTarget(TargetError):
    """More than one process could be the job."""


@dataclass(frozen=True)
class Target:
    """The job, as (pid, start time). `source` says how it was found: "run", "pid" or "writer"."""

    pid: int
    create_time: float
    source: str = "pid"
    cmdline: tuple[str, ...] = field(default=(), compare=False)

    def process(self) -> psutil.Process | None:
        """The live process this target names, or None when it ended or its pid now names another one."""
        return live_process(self.pid, self.create_time)

    def alive(self) -> bool:
        return self.process() is not None

    def describe(self) -> dict[str, Any]:
        return {"pid": self.pid, "create_time": round(self.create_time, 3), "source": self.source,
                "cmdline": " ".join(" ".join(self.cmdline).split())[:120]}

    def tree(self) -> list[psutil.Process]:
        """The job and its live descendants (empty when the job is gone or its pid was reused)."""
        proc = self.process()
        if proc is None:
            return []
        try:
            kids = proc.children(recursive=True)
        except psutil.Error:
            kids = []
        return [proc, *(k for k in kids if not _gone(k))]


def _gone(proc: psutil.Process) -> bool:
    try:
        return proc.status() == psutil.STATUS_ZOMBIE
    except psutil.Error:
        return True


def live_process(pid: int, create_time: float) -> psutil.Process | None:
    """The process `pid` if it is alive (not a zombie) and started at `create_time`, else None."""
    try:
        proc = psutil.Process(pid)
        if abs(proc.create_time() - create_time) > _SAME_START:
            return None
    except psutil.Error:
        return None
    return None if _gone(proc) else proc


def from_pid(pid: int, source: str = "pid") -> Target:
    """Record a running process as the target. Raises TargetError when there is no such process."""
    try:
        proc = psutil.Process(pid)
        with proc.oneshot():
            ctime = proc.create_time()
            try:
                cmd = tuple(proc.cmdline())
            except psutil.Error:
                cmd = ()
        if proc.status() == psutil.STATUS_ZOMBIE:
            raise TargetError(f"process {pid} has already exited")
    except psutil.NoSuchProcess:
        raise TargetError(f"no process with pid {pid}") from None
    except psutil.AccessDenied:
        raise TargetError(f"process {pid} belongs to another user") from None
    return Target(pid, ctime, source, cmd)


def started(pid: int, cmd: list[str] | tuple[str, ...]) -> Target:
    """The target for a job losswatch has just started: its command line is the one we launched (read from
    /proc right after the fork it may still be the launcher's, or empty, until the child has exec'd)."""
    try:
        target = from_pid(pid, "run")
    except TargetError:  # it already ended: nothing will ever be signalled
        return Target(pid, 0.0, "run", tuple(cmd))
    return Target(target.pid, target.create_time, "run", tuple(cmd))


def _writes(pid: str, fd: str) -> bool:
    """Whether descriptor `fd` of `pid` is open for writing (O_WRONLY or O_RDWR in fdinfo flags)."""
    try:
        with open(f"/proc/{pid}/fdinfo/{fd}") as f:
            for line in f:
                if line.startswith("flags:"):
                    return int(line.split()[1], 8) & 0o3 != 0
    except (OSError, ValueError, IndexError):
        pass
    return False


def protected_pids() -> set[int]:
    """losswatch itself and its ancestors: never a target (a shell that runs both the job and us)."""
    me = psutil.Process()
    try:
        return {me.pid, *(p.pid for p in me.parents())}
    except psutil.Error:
        return {me.pid}


def writer_pids(path: str | os.PathLike[str]) -> list[int]:
    """Pids of the processes (of this user, visible in /proc) that hold `path` open for writing."""
    try:
        st = os.stat(path)
    except OSError:
        return []
    want = (st.st_dev, st.st_ino)
    me = os.getpid()
    found: list[int] = []
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return []
    for pid in pids:
        if int(pid) == me:
            continue
        fddir = f"/proc/{pid}/fd"
        try:
            fds = os.listdir(fddir)
        except OSError:
            continue
        for fd in fds:
            try:
                fst = os.stat(f"{fddir}/{fd}")
            except OSError:
                continue
            if (fst.st_dev, fst.st_ino) == want and _writes(pid, fd):
                found.append(int(pid))
                break
    return sorted(found)


def _roots(pids: Iterable[int]) -> list[int]:
    """The writers that are not descendants of another writer (workers inherit their parent's fds)."""
    pids = set(pids)
    roots = []
    for pid in pids:
        try:
            ancestors = {p.pid for p in psutil.Process(pid).parents()}
        except psutil.Error:
            continue
        if not ancestors & pids:
            roots.append(pid)
    return sorted(roots)


def find_writer(path: str | os.PathLike[str]) -> Target:
    """The one process writing `path` (its workers, which inherit the descriptor, count as part of it).

    Raises TargetError naming what was found when there is none or more than one: a stop must
    never guess.
    """
    pids = writer_pids(path)
    if not pids:
        raise TargetError(f"no process has {path} open for writing")
    roots = _roots(pids)
    mine = set(roots) & protected_pids()
    if mine:
        raise TargetError(f"{path} is written by losswatch's own parent (pid {min(mine)}); give --pid")
    if len(roots) != 1:
        raise AmbiguousTarget(f"{len(roots)} unrelated processes write {path} (pids {', '.join(map(str, roots))}); "
                          "give --pid to choose")
    return from_pid(roots[0], source="writer")


class TargetFinder:
    """Where the stop action gets its target: fixed (run, --pid) or the log's writer, looked up when asked.

    Writers are also looked up once when watching starts (`prime`), and a stop refuses when the
    writer it finds then is not the one seen before (the job was restarted, another process took the
    log over) or when several processes were writing at the start: a stop must never guess.
    `resolve()` returns the target or raises TargetError with the reason not to act.
    """

    def __init__(self, target: Target | None = None, log_paths: Iterable[str] = ()) -> None:
        self.target = target
        self.log_paths = list(log_paths)
        self._seen: dict[str, Target | str] = {}

    def prime(self) -> None:
        if self.target is not None:
            return
        for p in self.log_paths:
            try:
                self._seen[p] = find_writer(p)
            except AmbiguousTarget as e:
                self._seen[p] = str(e)
            except TargetError:
                pass  # nobody writes it yet: the first single writer found later is the job

    def resolve(self, run: str | None = None) -> Target:
        if self.target is not None:
            return self.target
        paths = [run] if run in self.log_paths else self.log_paths
        if not paths:
            raise TargetError("no job to act on: not started by `losswatch run`, no --pid, no log path")
        found: dict[int, Target] = {}
        errors = []
        for p in paths:
            seen = self._seen.get(p)
            if isinstance(seen, str):
                errors.append(f"when watching started, {seen}")
                continue
            try:
                t = find_writer(p)
            except TargetError as e:
                errors.append(str(e))
                continue
            if seen is not None and seen != t:
                errors.append(f"the process writing {p} changed (pid {seen.pid} when watching started, now "
                              f"pid {t.pid}); give --pid")
                continue
            self._seen[p] = t
            found[t.pid] = t
        if len(found) == 1 and not errors:
            return next(iter(found.values()))
        if len(found) > 1:
            raise AmbiguousTarget(f"the logs are written by {len(found)} different processes; give --pid")
        raise TargetError("; ".join(errors))
