"""`losswatch run` end to end: a real training script diverges to NaN and is stopped safely."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading

import psutil

from losswatch.act.audit import read
from tests.conftest import ROOT
from tests.jobs import pid_alive, wait_until, write_train


def env(**extra: str) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if k not in ("SSH_CONNECTION", "SSH_TTY", "TMUX", "STY", "LOSSWATCH_NOTIFY")}
    return {**e, "PYTHONPATH": str(ROOT), **extra}


def rules(tmp, grace="5s", term_grace="5s", extra: str = "") -> str:
    p = tmp / "actions.yaml"
    p.write_text(textwrap.dedent(f"""\
        actions:
          audit_log: {tmp / 'audit.jsonl'}
          notify: {{via: none}}
          stop: {{grace: {grace}, term_grace: {term_grace}, kill_wait: 5s}}
        """) + extra)
    return str(p)


def losswatch_run(tmp, *cmd: str, opts=(), **job_env: str) -> subprocess.CompletedProcess:
    args = [sys.executable, "-m", "losswatch", "run", "--log", str(tmp / "train.log"), *opts, "--", *cmd]
    return subprocess.run(args, cwd=tmp, env=env(**job_env), capture_output=True, timeout=60)


def stop_records(tmp) -> list[dict]:
    return [r for r in read(tmp / "audit.jsonl") if r["action"] == "stop"]


def test_output_goes_to_terminal_and_log_and_status_is_the_jobs(tmp_path):
    code = "import sys\nfor i in range(3): print('step', i, 'loss=1.0'); print('warn', i, file=sys.stderr)\nsys.exit(7)"
    cp = losswatch_run(tmp_path, sys.executable, "-c", code, opts=["--rules", rules(tmp_path)])
    assert cp.returncode == 7
    assert cp.stdout.decode().splitlines() == ["step 0 loss=1.0", "step 1 loss=1.0", "step 2 loss=1.0"]
    assert [x for x in cp.stderr.decode().splitlines() if x.startswith("warn")] == ["warn 0", "warn 1", "warn 2"]
    log = (tmp_path / "train.log").read_text().splitlines()
    assert sorted(log) == sorted(["step 0 loss=1.0", "step 1 loss=1.0", "step 2 loss=1.0", "warn 0", "warn 1",
                                  "warn 2"])


def test_burst_of_output_is_copied_whole_and_in_order(tmp_path):
    # 200k lines as fast as Python can write them, stdout and stderr at once: nothing lost, no mixed lines.
    code = ("import sys\nw = sys.stdout.write\ne = sys.stderr.write\n"
            "for i in range(30000):\n    w(f'step {i} loss={1 + i % 7}.5\\n')\n    e(f'err line {i} ' + 'x' * 40 + '\\n')\n")
    cp = losswatch_run(tmp_path, sys.executable, "-c", code, opts=["--rules", rules(tmp_path)])
    assert cp.returncode == 0
    out = cp.stdout.decode().splitlines()
    assert out == [f"step {i} loss={1 + i % 7}.5" for i in range(30000)]
    log = (tmp_path / "train.log").read_bytes().decode().splitlines()
    assert len(log) == 60000
    assert [x for x in log if x.startswith("step")] == out
    assert [x for x in log if x.startswith("err")] == [f"err line {i} " + "x" * 40 for i in range(30000)]


def test_nan_stops_the_job_with_sigint_and_the_audit_says_so(tmp_path):
    train = write_train(tmp_path)
    cp = losswatch_run(tmp_path, sys.executable, str(train), opts=["--rules", rules(tmp_path)], NAN_AT="40")
    out = cp.stdout.decode()
    assert "checkpoint saved" in out and "finished" not in out
    assert cp.returncode == 3  # the job's own status after its SIGINT handler
    assert "nonfinite_loss firing" in cp.stderr.decode()
    assert cp.stderr.decode().splitlines()[-1] == (f"losswatch: job exited with status 3 (stop: exited after "
                                                   f"SIGINT); log: {tmp_path / 'train.log'}")
    recs = stop_records(tmp_path)
    assert [r["result"] for r in recs] == ["stopping", "signal-sent", "done"]
    assert recs[1]["signal"] == "SIGINT" and recs[1]["mode"] == "group"
    assert recs[2]["outcome"] == "exited after SIGINT"
    assert recs[0]["rule"] == "nonfinite_loss" and recs[0]["value"] == "nan" and recs[0]["step"] == 40
    assert recs[0]["target"]["source"] == "run" and "train.py" in recs[0]["target"]["cmdline"]


def test_job_ignoring_sigint_gets_sigterm_then_sigkill(tmp_path):
    train = write_train(tmp_path)
    cp = losswatch_run(tmp_path, sys.executable, str(train), opts=["--rules", rules(tmp_path, "0.3s", "0.3s")],
                       NAN_AT="20", IGNORE="SIGINT,SIGTERM")
    assert cp.returncode == 128 + signal.SIGKILL
    recs = stop_records(tmp_path)
    assert [r.get("signal") for r in recs if r["result"] == "signal-sent"] == ["SIGINT", "SIGTERM", "SIGKILL"]
    assert recs[-1]["outcome"] == "exited after SIGKILL"


def test_parent_with_workers_all_end_and_a_twin_is_never_touched(tmp_path):
    train = write_train(tmp_path)
    # The twin: same user, same command line, started before; it must survive.
    twin = subprocess.Popen([sys.executable, str(train)], env=env(NAN_AT="100000", STEPS="100000", DELAY="0.05"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        cp = losswatch_run(tmp_path, sys.executable, str(train), opts=["--rules", rules(tmp_path, "0.5s", "5s")],
                           NAN_AT="30", WORKERS="3", IGNORE="SIGINT")
        workers = [int(p) for line in cp.stderr.decode().splitlines() if line.startswith("workers ")
                   for p in line.split()[1:]]
        assert len(workers) == 3
        assert cp.returncode == 128 + signal.SIGTERM
        assert wait_until(lambda: not any(pid_alive(p) for p in workers), 5)
        assert twin.poll() is None and pid_alive(twin.pid)
        assert psutil.Process(twin.pid).cmdline()[-1] == str(train)
        sent = [r for r in stop_records(tmp_path) if r["result"] == "signal-sent"]
        assert twin.pid not in sent[0]["pids"] and set(workers) <= set(sent[0]["pids"])
    finally:
        twin.kill()
        twin.wait()


def test_ctrl_c_is_forwarded_to_the_job(tmp_path):
    train = write_train(tmp_path)
    mark = tmp_path / "mark.txt"
    p = subprocess.Popen([sys.executable, "-m", "losswatch", "run", "--log", str(tmp_path / "train.log"),
                          "--rules", rules(tmp_path), "--", sys.executable, str(train)],
                         cwd=tmp_path, env=env(NAN_AT="100000", MARK=str(mark)), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    assert p.stdout.readline().startswith(b"iter 1: loss")
    p.send_signal(signal.SIGINT)
    out, _ = p.communicate(timeout=20)
    assert b"checkpoint saved" in out
    assert p.returncode == 3
    assert " SIGINT " in mark.read_text()


def test_dry_run_stops_nothing(tmp_path):
    train = write_train(tmp_path)
    cp = losswatch_run(tmp_path, sys.executable, str(train), opts=["--rules", rules(tmp_path), "--dry-run"],
                       NAN_AT="10", STEPS="40")
    assert cp.returncode == 0 and b"finished" in cp.stdout
    recs = stop_records(tmp_path)
    assert [r["result"] for r in recs] == ["dry-run"] and recs[0]["dry_run"] is True


def test_bad_rules_start_nothing(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("actions:\n  stop:\n    grace: soon\n")
    marker = tmp_path / "started"
    cp = losswatch_run(tmp_path, "touch", str(marker), opts=["--rules", str(bad)])
    assert cp.returncode == 2
    assert cp.stderr.decode().strip().endswith(f"{bad}:3:12: grace must be a duration like 30s, 5m, 1h or a "
                                              "number of seconds, not 'soon'")
    assert not marker.exists() and not (tmp_path / "train.log").exists()
    missing = losswatch_run(tmp_path, "no-such-command-xyz", opts=["--rules", rules(tmp_path)])
    assert missing.returncode == 2 and b"cannot start no-such-command-xyz" in missing.stderr


def test_rule_naming_an_unknown_receiver_is_refused_before_start(tmp_path):
    r = rules(tmp_path, extra="rules:\n  - id: x\n    when: loss > 1\n    actions: [webhook:nobody]\n")
    marker = tmp_path / "started"
    cp = losswatch_run(tmp_path, "touch", str(marker), opts=["--rules", r])
    assert cp.returncode == 2 and b"no receiver 'nobody'" in cp.stderr and not marker.exists()


def test_default_log_name(tmp_path):
    from losswatch.commands.run import default_log_name

    assert default_log_name(["python", "-u", "scripts/train_gpt.py", "--lr", "3"], 0).startswith("train_gpt-1970")
    assert default_log_name(["torchrun", "--nproc_per_node=8", "train.py"], 0).startswith("train-")
    assert default_log_name(["./run"], 0).startswith("run-")
    cp = subprocess.run([sys.executable, "-m", "losswatch", "run", "--rules", rules(tmp_path), "--",
                         sys.executable, "-c", "print('step 1 loss=1')"], cwd=tmp_path, env=env(),
                        capture_output=True, timeout=30)
    assert cp.returncode == 0
    logs = list(tmp_path.glob("python*.log"))
    assert len(logs) == 1 and logs[0].read_text() == "step 1 loss=1\n"


def test_third_ctrl_c_kills_a_job_that_ignores_sigint(tmp_path):
    train = write_train(tmp_path)
    p = subprocess.Popen([sys.executable, "-m", "losswatch", "run", "--log", str(tmp_path / "train.log"),
                          "--rules", rules(tmp_path), "--", sys.executable, str(train)],
                         cwd=tmp_path, env=env(NAN_AT="100000", IGNORE="SIGINT"), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    assert p.stdout.readline().startswith(b"iter 1: loss")
    err = bytearray()

    def read() -> None:
        for chunk in iter(lambda: p.stderr.read1(4096), b""):
            err.extend(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    # Signals sent back to back may merge into one: press again until losswatch has counted two.
    while b"once more" not in err and p.poll() is None:
        p.send_signal(signal.SIGINT)
        wait_until(lambda: b"once more" in err, 0.5)
    p.send_signal(signal.SIGINT)
    p.wait(20)
    reader.join(5)
    assert p.returncode == 128 + signal.SIGKILL
    assert b"Ctrl-C once more sends SIGKILL" in bytes(err)


def test_a_process_left_behind_holding_the_output_does_not_keep_losswatch_waiting(tmp_path):
    # The job starts a background process that inherits its stdout and outlives it.
    code = ("import subprocess, sys\nk = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)'])\n"
            "print('left', k.pid, file=sys.stderr)\n"
            "print('iter 1: loss 1.0, time 1.00ms, mfu 1.00%', flush=True)\nsys.exit(5)")
    cp = losswatch_run(tmp_path, sys.executable, "-c", code, opts=["--rules", rules(tmp_path)])
    left = [int(x.split()[1]) for x in cp.stderr.decode().splitlines() if x.startswith("left ")]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert cp.returncode == 5 and b"iter 1: loss 1.0" in cp.stdout and len(left) == 1
    assert sorted((tmp_path / "train.log").read_text().splitlines()) == [
        "iter 1: loss 1.0, time 1.00ms, mfu 1.00%", f"left {left[0]}"]
