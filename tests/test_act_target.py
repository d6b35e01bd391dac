"""Which process is the job: recorded by (pid, start time); the writer of a log found through /proc."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from losswatch.act.target import Target, TargetError, TargetFinder, find_writer, from_pid, writer_pids
from tests.jobs import spawn

HOLD = ("import sys, time\nf = open(sys.argv[1], sys.argv[2])\nif len(sys.argv) > 3:\n"
        "    import subprocess\n    subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'], pass_fds=[f.fileno()])\n"
        "print('ready', flush=True)\ntime.sleep(60)\n")


def hold(path, mode: str, worker: bool = False) -> subprocess.Popen:
    args = [sys.executable, "-c", HOLD, str(path), mode] + (["worker"] if worker else [])
    p = subprocess.Popen(args, stdout=subprocess.PIPE)
    assert p.stdout.readline() == b"ready\n"
    return p


@pytest.fixture
def procs():
    started: list[subprocess.Popen] = []
    yield started
    for p in started:
        try:
            import psutil

            for c in psutil.Process(p.pid).children(recursive=True):
                c.kill()
        except Exception:
            pass
        p.kill()
        p.wait()


def test_from_pid_records_start_time(tmp_path, procs):
    proc, _ = spawn(tmp_path)
    procs.append(proc)
    t = from_pid(proc.pid)
    assert t.alive() and t.process().pid == proc.pid and "job.py" in " ".join(t.cmdline)
    assert not Target(proc.pid, t.create_time + 5).alive()
    proc.kill()
    proc.wait()
    assert not t.alive()
    with pytest.raises(TargetError, match="no process"):
        from_pid(proc.pid)


def test_tree_lists_workers(tmp_path, procs):
    proc, pids = spawn(tmp_path, WORKERS="2")
    procs.append(proc)
    assert sorted(p.pid for p in from_pid(proc.pid).tree()) == sorted(pids)


def test_single_writer_is_found_and_readers_are_not(tmp_path, procs):
    log = tmp_path / "train.log"
    log.write_text("")
    procs.append(hold(log, "r"))
    with pytest.raises(TargetError, match="no process has"):
        find_writer(log)
    w = hold(log, "a")
    procs.append(w)
    t = find_writer(log)
    assert t.pid == w.pid and t.source == "writer"


def test_writer_by_shell_redirect(tmp_path, procs):
    log = tmp_path / "train.log"
    p = subprocess.Popen(["sh", "-c", f"exec {sys.executable} -c 'import time; print(1, flush=True); "
                                       f"time.sleep(60)' > {log}"])
    procs.append(p)
    from tests.jobs import wait_until

    assert wait_until(lambda: log.exists() and log.stat().st_size > 0)
    assert find_writer(log).pid == p.pid


def test_workers_inheriting_the_descriptor_count_as_the_job(tmp_path, procs):
    log = tmp_path / "train.log"
    log.write_text("")
    w = hold(log, "a", worker=True)
    procs.append(w)
    assert len(writer_pids(log)) == 2
    assert find_writer(log).pid == w.pid


def test_two_unrelated_writers_are_ambiguous(tmp_path, procs):
    log = tmp_path / "train.log"
    log.write_text("")
    a, b = hold(log, "a"), hold(log, "r+")
    procs += [a, b]
    with pytest.raises(TargetError, match="2 unrelated processes") as e:
        find_writer(log)
    assert str(a.pid) in str(e.value) and str(b.pid) in str(e.value)


def test_finder_prefers_a_fixed_target_and_explains_when_none(tmp_path, procs):
    proc, _ = spawn(tmp_path)
    procs.append(proc)
    t = from_pid(proc.pid)
    assert TargetFinder(t, [str(tmp_path / "x.log")]).resolve("x") is t
    with pytest.raises(TargetError, match="no job"):
        TargetFinder().resolve("x")
    assert os.getpid() not in writer_pids(tmp_path / "job.py")


def test_finder_refuses_when_the_writer_changed_or_was_ambiguous(tmp_path, procs):
    log = tmp_path / "train.log"
    log.write_text("")
    first = hold(log, "a")
    procs.append(first)
    finder = TargetFinder(None, [str(log)])
    finder.prime()
    assert finder.resolve(str(log)).pid == first.pid
    first.kill()
    first.wait()
    second = hold(log, "a")  # the job was restarted, or another process took the log over
    procs.append(second)
    with pytest.raises(TargetError, match="changed"):
        finder.resolve(str(log))
    third = hold(log, "a")
    procs.append(third)
    busy = TargetFinder(None, [str(log)])
    busy.prime()
    third.kill()
    third.wait()
    with pytest.raises(TargetError, match="when watching started, 2 unrelated processes"):
        busy.resolve(str(log))


def test_losswatchs_own_parent_is_never_the_writer(tmp_path):
    # This test process plays the shell that runs both the job and losswatch: it holds the log open.
    log = tmp_path / "train.log"
    with open(log, "a"):
        code = f"from losswatch.act.target import find_writer; find_writer({str(log)!r})"
        cp = subprocess.run([sys.executable, "-c", code], capture_output=True, env={**os.environ,
                            "PYTHONPATH": str(__import__("tests.conftest").conftest.ROOT)})
    assert b"written by losswatch's own parent (pid %d)" % os.getpid() in cp.stderr
