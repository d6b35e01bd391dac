"""Notifications: the escape sequences byte for byte, how the route is chosen, dedup and rate limits,
and the real thing: a private D-Bus session bus with a notification service, a pty, a tmux pane.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from losswatch.act.audit import AuditLog, read
from losswatch.act.notify import (
    Notification,
    Notifier,
    NotifyConfig,
    detect_kinds,
    detect_mux,
    osc9,
    osc99,
    osc777,
    terminal_bytes,
    wrap_tmux,
)
from losswatch.model import Alert
from tests.conftest import ROOT, require_module, require_tool
from tests.jobs import wait_until


def alert(rule="nonfinite_loss", severity="critical", run="/runs/a/train.log", value=math.nan) -> Alert:
    return Alert(rule, severity, run, "firing", 120, 121, value, "loss is NaN", "Lower the lr.", ["notify"])


N = Notification("losswatch: nonfinite_loss", "loss is NaN; step 5", "critical")


def test_sequences_byte_for_byte():
    assert osc777(N.title, N.body) == "\x1b]777;notify;losswatch: nonfinite_loss;loss is NaN; step 5\x07"
    assert osc9(N.title, N.body) == "\x1b]9;losswatch: nonfinite_loss: loss is NaN; step 5\x07"
    assert osc99(N.title, N.body) == ("\x1b]99;i=losswatch:d=0:p=title;losswatch: nonfinite_loss\x1b\\"
                                      "\x1b]99;i=losswatch:d=1:p=body;loss is NaN; step 5\x1b\\")
    # A title cannot end OSC 777's title field early; control characters cannot end the sequence.
    assert osc777("a;b", "x\x1b]0;pwned\x07y") == "\x1b]777;notify;a,b;x ]0;pwned y\x07"
    # OSC 9 text starting with a digit would be ConEmu's progress/sub-commands.
    assert osc9("4", "x").startswith("\x1b]9; 4")


def test_tmux_and_screen_wrapping():
    inner = osc777("t", "b")
    assert wrap_tmux(inner) == "\x1bPtmux;\x1b\x1b]777;notify;t;b\x07\x1b\\"
    got = terminal_bytes(Notification("t", "b"), ("osc777",), "screen", bell=True)
    assert got == b"\x1bP\x1b]777;notify;t;b\x07\x1b\\\x07"
    # kitty's ST terminator would end screen's DCS: under screen it becomes BEL.
    assert b"\x1b\\\x1b]" not in terminal_bytes(Notification("t", "b"), ("osc99",), "screen", bell=False)
    assert terminal_bytes(Notification("t", "b"), ("osc9",), None, bell=False) == b"\x1b]9;t: b\x07"


@pytest.mark.parametrize("env,kinds", [
    ({"TERM_PROGRAM": "iTerm.app"}, ("osc9",)),
    ({"LC_TERMINAL": "iTerm2", "TERM": "xterm-256color"}, ("osc9",)),
    ({"TERM": "xterm-kitty"}, ("osc99",)),
    ({"TERM": "xterm-ghostty"}, ("osc777",)),
    ({"TERM": "foot"}, ("osc777",)),
    ({"TERM": "rxvt-unicode-256color"}, ("osc777",)),
    ({"TERM": "xterm-256color"}, ("osc777",)),
])
def test_terminal_detection(env, kinds):
    assert detect_kinds(env) == kinds


def test_mux_detection():
    assert detect_mux({"TMUX": "/tmp/tmux-0/default,1,0", "TERM": "screen"}) == "tmux"
    assert detect_mux({"STY": "123.pts-0"}) == "screen"
    assert detect_mux({"TERM": "xterm"}) is None


def test_route_over_ssh_or_without_bus_is_the_terminal(tmp_path):
    bus = {"DBUS_SESSION_BUS_ADDRESS": "unix:path=/x"}
    assert Notifier(env=bus).routes() == ["desktop"]
    assert Notifier(env={**bus, "SSH_CONNECTION": "1.2.3.4 5 6.7.8.9 22"}).routes() == ["terminal"]
    assert Notifier(env={"XDG_RUNTIME_DIR": str(tmp_path)}).routes() == ["terminal"]
    (tmp_path / "bus").write_text("")
    assert Notifier(env={"XDG_RUNTIME_DIR": str(tmp_path)}).routes() == ["desktop"]
    assert Notifier(NotifyConfig(via="both"), env={}).routes() == ["desktop", "terminal"]


def test_dedup_repeat_interval_rate_limit_and_mute(tmp_path):
    now = [1000.0]
    written: list[bytes] = []
    audit = AuditLog(tmp_path / "a.jsonl")
    n = Notifier(NotifyConfig(via="terminal", repeat_interval=600, max_per_minute=2), env={"TERM": "foot"},
                 writer=written.append, audit=audit, clock=lambda: now[0])
    assert n.notify(alert()).result == "sent"
    again = n.notify(alert())
    assert again.result == "suppressed" and "repeat_interval" in again.detail["reason"]
    now[0] += 601
    assert n.notify(alert()).result == "sent"
    # Rate limit: two per minute for non-critical alerts; a critical one still passes.
    assert n.notify(alert("a", "warning")).result == "sent"
    assert n.notify(alert("b", "warning")).result == "suppressed"
    assert n.notify(alert("c", "warning")).result == "suppressed"
    r = n.notify(alert("e", "critical"))
    assert r.result == "sent" and r.detail["suppressed_before"] == 2
    now[0] += 61
    assert n.notify(alert("f", "warning")).result == "sent"
    assert n.notify(alert("b", "warning")).result == "sent"
    assert len(written) == 6 and all(w.startswith(b"\x1b]777;notify;losswatch: ") for w in written)
    assert [x["result"] for x in read(tmp_path / "a.jsonl")].count("sent") == 6
    n.config.mute = True
    assert n.notify(alert("g")).result == "muted"
    assert len(written) == 6


def test_dry_run_writes_nothing():
    written: list[bytes] = []
    n = Notifier(NotifyConfig(via="terminal"), env={}, writer=written.append, dry_run=True)
    assert n.notify(alert()).result == "dry-run" and written == []


# --- the real terminal ----------------------------------------------------------------------------

NOTIFY_SCRIPT = """
import math, sys
from losswatch.act.notify import Notifier, NotifyConfig
from losswatch.model import Alert
a = Alert("nonfinite_loss", "critical", "train.log", "firing", 7, 8, math.nan, "loss is NaN", "", ["notify"])
r = Notifier(NotifyConfig(via="auto")).notify(a)
print("result", r.result, flush=True)
sys.stdin.readline()
"""


def read_until(fd: int, needle: bytes, timeout: float = 10.0) -> bytes:
    buf = b""
    deadline = time.monotonic() + timeout
    while needle not in buf and time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
    return buf


def test_osc_bytes_reach_a_pty_over_ssh():
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "STY", "DBUS_SESSION_BUS_ADDRESS")}
    env.update(PYTHONPATH=str(ROOT), SSH_CONNECTION="10.0.0.2 5555 10.0.0.1 22", TERM="xterm-kitty")
    p = subprocess.Popen([sys.executable, "-c", NOTIFY_SCRIPT], stdin=slave, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    try:
        out = read_until(master, b"result sent")
        assert (b"\x1b]99;i=losswatch:d=0:p=title;losswatch: nonfinite_loss (critical)\x1b\\"
                b"\x1b]99;i=losswatch:d=1:p=body;loss is NaN") in out
        assert b"\x07" in out.split(b"\x1b]99;i=losswatch:d=1", 1)[1]
        assert b"result sent" in out
    finally:
        os.write(master, b"\n")
        p.wait(5)
        os.close(master)


def test_osc_passes_through_a_tmux_pane(tmp_path):
    require_tool("tmux")
    conf = tmp_path / "tmux.conf"
    conf.write_text("set -g allow-passthrough on\nset -g status off\n")
    script = tmp_path / "n.py"
    script.write_text(NOTIFY_SCRIPT)
    sock = tmp_path / "tmux.sock"
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "STY", "DBUS_SESSION_BUS_ADDRESS", "SSH_CONNECTION")}
    env.update(TERM="xterm-256color", PYTHONPATH=str(ROOT))
    inner = f"env SSH_TTY=/dev/pts/9 {sys.executable} {script}; sleep 30"
    p = subprocess.Popen(["tmux", "-S", str(sock), "-f", str(conf), "new-session", "-x", "100", "-y", "30", inner],
                         stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True)
    os.close(slave)
    try:
        # tmux unwraps the DCS passthrough and hands the raw OSC 777 to its client's terminal: our pty.
        out = read_until(master, b"loss is NaN")
        assert b"\x1b]777;notify;losswatch: nonfinite_loss (critical);loss is NaN" in out
        assert b"Ptmux;" not in out
    finally:
        subprocess.run(["tmux", "-S", str(sock), "kill-server"], capture_output=True)
        p.wait(5)
        os.close(master)


# --- the real desktop bus -------------------------------------------------------------------------


@pytest.fixture
def session_bus(tmp_path):
    """A private dbus-daemon with the recording notification service on it: (address, record file)."""
    require_tool("dbus-daemon")
    require_module("dbus_fast")
    addr = f"unix:path={tmp_path}/bus"
    daemon = subprocess.Popen(["dbus-daemon", "--session", f"--address={addr}", "--nofork", "--nopidfile",
                               "--print-address=1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert daemon.stdout.readline().strip()
    record = tmp_path / "received.jsonl"
    service = subprocess.Popen([sys.executable, str(Path(__file__).parent / "notify_service.py"), addr,
                                str(record)], stdout=subprocess.PIPE)
    assert service.stdout.readline() == b"ready\n"
    yield addr, record
    service.kill()
    service.wait()
    daemon.terminate()
    daemon.wait()


def test_desktop_notification_over_a_real_session_bus(session_bus, tmp_path):
    addr, record = session_bus
    audit = AuditLog(tmp_path / "audit.jsonl")
    written: list[bytes] = []
    n = Notifier(env={"DBUS_SESSION_BUS_ADDRESS": addr}, writer=written.append, audit=audit)
    t0 = time.monotonic()
    r = n.notify(alert())
    assert r.result == "queued" and time.monotonic() - t0 < 0.5
    n.notify(alert("slow_progress", "info", value=0.25))
    assert wait_until(lambda: record.exists() and len(record.read_text().splitlines()) == 2)
    got = [json.loads(x) for x in record.read_text().splitlines()]
    assert got[0]["app_name"] == "losswatch" and got[0]["summary"] == "losswatch: nonfinite_loss (critical)"
    assert got[0]["body"].startswith("loss is NaN — train.log, step 120, value nan")
    assert [g["hints"]["urgency"] for g in got] == [2, 0]
    assert wait_until(lambda: [x.get("via") for x in read(tmp_path / "audit.jsonl")].count("desktop") == 2)
    assert written == []
    # both went over one connection, one after the other (racing sends each opened one, out of order)
    assert _bus_clients(addr) == 3  # the service, the sender, and the connection that asks


def _bus_clients(addr: str) -> int:
    """How many connections the bus has (unique names), asked over a connection of our own."""
    from dbus_fast import Message
    from dbus_fast.aio import MessageBus

    async def ask() -> int:
        bus = await MessageBus(bus_address=addr).connect()
        reply = await bus.call(Message(destination="org.freedesktop.DBus", path="/org/freedesktop/DBus",
                                       interface="org.freedesktop.DBus", member="ListNames"))
        bus.disconnect()
        return sum(1 for name in reply.body[0] if name.startswith(":"))

    return asyncio.run(ask())


def test_bus_without_a_notification_service_falls_back_to_the_terminal(tmp_path):
    require_tool("dbus-daemon")
    require_module("dbus_fast")
    addr = f"unix:path={tmp_path}/bus"
    daemon = subprocess.Popen(["dbus-daemon", "--session", f"--address={addr}", "--nofork", "--nopidfile",
                               "--print-address=1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert daemon.stdout.readline().strip()
        written: list[bytes] = []
        n = Notifier(env={"DBUS_SESSION_BUS_ADDRESS": addr, "TERM": "foot"}, writer=written.append)
        assert n.notify(alert()).result == "queued"
        assert wait_until(lambda: len(written) == 1)
        assert written[0].startswith(b"\x1b]777;notify;losswatch: nonfinite_loss")
    finally:
        daemon.terminate()
        daemon.wait()


def test_osc_passes_through_a_screen_window(tmp_path):
    require_tool("screen")
    script = tmp_path / "n.py"
    script.write_text(NOTIFY_SCRIPT)
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "STY", "DBUS_SESSION_BUS_ADDRESS", "SSH_CONNECTION")}
    env.update(TERM="xterm-256color", PYTHONPATH=str(ROOT), SSH_TTY="/dev/pts/9", SCREENDIR=str(tmp_path / "s"))
    (tmp_path / "s").mkdir(mode=0o700)
    name = f"lw{os.getpid()}"
    p = subprocess.Popen(["screen", "-S", name, "-c", "/dev/null", sys.executable, str(script)],
                         stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True)
    os.close(slave)
    try:
        # screen hands the inside of its DCS string to the outer terminal: our pty sees plain OSC 777.
        want = b"\x1b]777;notify;losswatch: nonfinite_loss (critical);loss is NaN"
        out = read_until(master, want)
        assert want in out and b"\x1bP\x1b]777" not in out
    finally:
        subprocess.run(["screen", "-S", name, "-X", "quit"], env=env, capture_output=True)
        p.wait(5)
        os.close(master)
