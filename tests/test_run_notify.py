"""`losswatch run` telling the person: OSC bytes on its terminal (a pty), a desktop notification on a
private session bus, and webhooks to a real server, one of which hangs without delaying the stop.
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import textwrap

from losswatch.act.audit import read
from tests.jobs import wait_until, write_train
from tests.test_act_notify import read_until, session_bus  # noqa: F401 - fixture
from tests.test_act_webhook_exec import Server
from tests.test_run_cli import env


def actions_file(tmp, body: str) -> str:
    p = tmp / "actions.yaml"
    p.write_text(f"actions:\n  audit_log: {tmp / 'audit.jsonl'}\n  stop: {{grace: 5s}}\n" + textwrap.dedent(body))
    return str(p)


def test_osc_notification_reaches_the_terminal_over_ssh(tmp_path):
    train = write_train(tmp_path)
    rules = actions_file(tmp_path, "")
    master, slave = pty.openpty()
    e = env(SSH_CONNECTION="10.0.0.2 5555 10.0.0.1 22", TERM="xterm-ghostty", NAN_AT="25")
    e.pop("DBUS_SESSION_BUS_ADDRESS", None)
    p = subprocess.Popen([sys.executable, "-m", "losswatch", "run", "--headless", "--log", str(tmp_path / "train.log"),
                          "--rules", rules, "--", sys.executable, str(train)],
                         cwd=tmp_path, env=e, stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    try:
        out = read_until(master, b"checkpoint saved", 30)
        assert b"\x1b]777;notify;losswatch: nonfinite_loss (critical);loss is non-finite (nan) at step 25" in out
        assert p.wait(20) == 3
    finally:
        os.close(master)
    notify = [r for r in read(tmp_path / "audit.jsonl") if r["action"] == "notify"]
    assert notify[0]["result"] == "sent" and notify[0]["terminal"] == "osc777+bell"


def test_desktop_notification_through_run(tmp_path, session_bus):  # noqa: F811
    addr, record = session_bus
    train = write_train(tmp_path)
    rules = actions_file(tmp_path, "")
    cp = subprocess.run([sys.executable, "-m", "losswatch", "run", "--headless", "--log", str(tmp_path / "train.log"),
                         "--rules", rules, "--", sys.executable, str(train)], cwd=tmp_path,
                        env=env(DBUS_SESSION_BUS_ADDRESS=addr, NAN_AT="25"), capture_output=True, timeout=60)
    assert cp.returncode == 3
    assert wait_until(lambda: record.exists() and record.read_text())
    got = [json.loads(x) for x in record.read_text().splitlines()]
    assert len(got) == 1 and got[0]["summary"] == "losswatch: nonfinite_loss (critical)"
    assert got[0]["hints"]["urgency"] == 2


def test_webhooks_and_a_hanging_receiver_do_not_delay_the_stop(tmp_path):
    ok, hanging = Server(), Server(hang=True)
    try:
        train = write_train(tmp_path)
        rules = actions_file(tmp_path, f"""\
          notify: {{via: none}}
          receivers:
            team: {{type: slack, url: "{ok.url}/slack"}}
            slow: {{url: "{hanging.url}/x", timeout: 20s, retries: 0}}
        rules:
          - id: nonfinite_loss
            when: nonfinite(loss) > 0
            severity: critical
            actions: [webhook:slow, webhook:team, stop]
        """)
        mark = tmp_path / "mark.txt"
        cp = subprocess.run([sys.executable, "-m", "losswatch", "run", "--headless", "--log", str(tmp_path / "train.log"),
                             "--rules", rules, "--", sys.executable, str(train)], cwd=tmp_path,
                            env=env(NAN_AT="25", MARK=str(mark)), capture_output=True, timeout=60)
        assert cp.returncode == 3
        times = {w: float(t) for _, w, t in (line.split() for line in mark.read_text().splitlines())}
        assert times["SIGINT"] - times["nan"] < 5  # the hanging receiver (20 s timeout) did not hold it up
        assert len(ok.requests) == 1 and "nonfinite_loss" in json.loads(ok.requests[0]["body"])["text"]
    finally:
        ok.close()
        hanging.close()


def test_run_inside_tmux_over_ssh_reaches_the_outer_terminal(tmp_path):
    from tests.conftest import require_tool

    require_tool("tmux")
    train = write_train(tmp_path)
    rules = actions_file(tmp_path, "")
    conf = tmp_path / "tmux.conf"
    conf.write_text("set -g allow-passthrough on\nset -g status off\n")
    sock = tmp_path / "tmux.sock"
    e = env(TERM="xterm-256color", NAN_AT="25")
    e.pop("DBUS_SESSION_BUS_ADDRESS", None)
    inner = (f"env SSH_TTY=/dev/pts/9 {sys.executable} -m losswatch run --headless --log {tmp_path / 'train.log'} "
             f"--rules {rules} -- {sys.executable} {train}; sleep 30")
    master, slave = pty.openpty()
    p = subprocess.Popen(["tmux", "-S", str(sock), "-f", str(conf), "new-session", "-x", "120", "-y", "30", inner],
                         cwd=tmp_path, stdin=slave, stdout=slave, stderr=slave, env=e, start_new_session=True)
    os.close(slave)
    try:
        want = b"\x1b]777;notify;losswatch: nonfinite_loss (critical);loss is non-finite (nan) at step 25"
        out = read_until(master, want, 30)
        assert want in out and b"Ptmux;" not in out
        assert wait_until(lambda: any(r.get("outcome") == "exited after SIGINT"
                                      for r in read(tmp_path / "audit.jsonl")), 20)
    finally:
        subprocess.run(["tmux", "-S", str(sock), "kill-server"], capture_output=True)
        p.wait(5)
        os.close(master)
