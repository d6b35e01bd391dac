"""Telling the person: a desktop notification on the D-Bus session bus, or, over SSH (or with no bus),
terminal escape sequences that make the person's own terminal show one (OSC 777, OSC 9, OSC 99), plus
the bell.

- Desktop: `org.freedesktop.Notifications.Notify` through dbus-fast on a background asyncio thread
  (macOS: desktop-notifier). Sending never blocks monitoring.
- Terminal: the sequence is chosen from TERM_PROGRAM / LC_TERMINAL / TERM (configurable), wrapped in a
  DCS passthrough inside tmux (needs `set -g allow-passthrough on`) or screen. Bytes go through a
  pluggable writer, so a TUI that owns the terminal can route them through its driver.
- A firing alert notifies once; the same rule on the same run again within `repeat_interval` is
  suppressed; at most `max_per_minute` notifications (critical ones always pass); `mute` silences all.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import re
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from losswatch.act.audit import AuditLog
from losswatch.model import ActionResult, Alert, json_number

Writer = Callable[[bytes], None]

TERMINAL_KINDS = ("osc777", "osc9", "osc99")
VIA = ("auto", "desktop", "terminal", "both", "none")
_CTRL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass
class NotifyConfig:
    via: str = "auto"
    terminal: tuple[str, ...] | None = None  # None: chosen from the environment
    bell: bool = True
    repeat_interval: float = 1800.0
    max_per_minute: int = 6
    mute: bool = False
    app_name: str = "losswatch"


@dataclass(frozen=True)
class Notification:
    title: str
    body: str
    severity: str = "warning"
    key: tuple[str, str] = ("", "")


def from_alert(alert: Alert) -> Notification:
    value = json_number(alert.value)
    title = f"losswatch: {alert.rule} ({alert.severity})"
    body = f"{alert.message} — {os.path.basename(alert.run) or alert.run}, step {json_number(alert.step)}, value {value}"
    if alert.advice:
        body += f". {alert.advice}"
    return Notification(title, body, alert.severity, (alert.run, alert.rule))


# --- terminal escape sequences --------------------------------------------------------------------


def _clean(text: str, limit: int) -> str:
    text = _CTRL.sub(" ", text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def osc777(title: str, body: str, st: str = "\x07") -> str:
    """rxvt-unicode's `notify` extension, also foot, Ghostty, WezTerm, VTE with the Fedora/Ubuntu patch."""
    return f"\x1b]777;notify;{_clean(title, 100).replace(';', ',')};{_clean(body, 400)}{st}"


def osc9(title: str, body: str, st: str = "\x07") -> str:
    """iTerm2's growl-style notification (also WezTerm, Ghostty, Windows Terminal-ish): one text."""
    text = _clean(f"{title}: {body}", 400)
    if text[:1].isdigit():  # `OSC 9 ; 4 ; ...` means progress to ConEmu / Windows Terminal
        text = " " + text
    return f"\x1b]9;{text}{st}"


def osc99(title: str, body: str, st: str = "\x1b\\", ident: str = "losswatch") -> str:
    """kitty's desktop notification protocol: title chunk (d=0), then body (d=1, p=body)."""
    ident = re.sub(r"[^A-Za-z0-9_+.-]", "", ident) or "lw"
    return (f"\x1b]99;i={ident}:d=0:p=title;{_clean(title, 100)}{st}"
            f"\x1b]99;i={ident}:d=1:p=body;{_clean(body, 400)}{st}")


def wrap_tmux(seq: str) -> str:
    """DCS passthrough: tmux hands the inner sequence to the outer terminal (allow-passthrough on)."""
    return "\x1bPtmux;" + seq.replace("\x1b", "\x1b\x1b") + "\x1b\\"


def wrap_screen(seq: str) -> str:
    """GNU screen passes a DCS string through to the outer terminal (it must not contain ST)."""
    return "\x1bP" + seq + "\x1b\\"


def detect_mux(env: Mapping[str, str]) -> str | None:
    if env.get("TMUX"):
        return "tmux"
    if env.get("STY") or env.get("TERM", "").startswith("screen"):
        return "screen"
    return None


def detect_kinds(env: Mapping[str, str]) -> tuple[str, ...]:
    """Which notification sequence the person's terminal understands, from what reaches us over SSH.

    TERM travels over SSH; LC_TERMINAL (iTerm2) usually does too (SendEnv LC_*); TERM_PROGRAM only
    locally. Unknown terminals get OSC 777 (ignored by terminals that do not know it).
    """
    prog = env.get("TERM_PROGRAM", "")
    lc_term = env.get("LC_TERMINAL", "")
    term = env.get("TERM", "")
    if prog == "iTerm.app" or lc_term == "iTerm2":
        return ("osc9",)
    if term == "xterm-kitty" or env.get("KITTY_WINDOW_ID") or prog == "kitty":
        return ("osc99",)
    if prog in ("WezTerm", "ghostty") or term in ("xterm-ghostty", "wezterm"):
        return ("osc777",)
    if term.startswith(("foot", "rxvt-unicode")) or env.get("VTE_VERSION"):
        return ("osc777",)
    if env.get("WT_SESSION") or env.get("ConEmuPID"):
        return ("osc9",)
    return ("osc777",)


def terminal_bytes(n: Notification, kinds: tuple[str, ...], mux: str | None, bell: bool) -> bytes:
    """The exact bytes to write to the terminal for one notification."""
    st = "\x07" if mux == "screen" else None  # ST would end screen's DCS early
    parts = []
    for kind in kinds:
        if kind == "osc777":
            seq = osc777(n.title, n.body)
        elif kind == "osc9":
            seq = osc9(n.title, n.body)
        elif kind == "osc99":
            seq = osc99(n.title, n.body, st or "\x1b\\")
        else:
            continue
        if mux == "tmux":
            seq = wrap_tmux(seq)
        elif mux == "screen":
            seq = wrap_screen(seq)
        parts.append(seq)
    if bell:
        parts.append("\x07")  # plain: tmux/screen relay the bell by themselves
    return "".join(parts).encode("utf-8", "replace")


def default_writer() -> Writer | None:
    """Write to the terminal on stderr, stdout, or /dev/tty (in that order); None when there is none."""
    for stream in (sys.stderr, sys.stdout):
        try:
            if stream is not None and stream.isatty():
                fd = stream.fileno()
                return lambda data, fd=fd: _write_all(fd, data)
        except (OSError, ValueError):
            continue
    try:
        fd = os.open("/dev/tty", os.O_WRONLY | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError:
        return None
    return lambda data: _write_all(fd, data)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


# --- desktop --------------------------------------------------------------------------------------


def session_bus_address(env: Mapping[str, str]) -> str | None:
    addr = env.get("DBUS_SESSION_BUS_ADDRESS")
    if addr:
        return addr
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime and os.path.exists(os.path.join(runtime, "bus")):
        return f"unix:path={os.path.join(runtime, 'bus')}"
    return None


URGENCY = {"info": 0, "warning": 1, "critical": 2}


class DesktopSender:
    """Sends notifications on the session bus from a background asyncio thread (one connection)."""

    def __init__(self, address: str, app_name: str = "losswatch", timeout: float = 5.0) -> None:
        self.address = address
        self.app_name = app_name
        self.timeout = timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._bus: Any = None
        self._lock = threading.Lock()
        self._pending: set[Any] = set()  # sends not finished yet (waited for at exit)
        self._serial: asyncio.Lock | None = None  # one send at a time, in order, on one connection

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="losswatch-dbus", daemon=True).start()
                self._loop = loop
            return self._loop

    async def _notify(self, n: Notification) -> int:
        if self._serial is None:  # made on the bus thread, where every send runs
            self._serial = asyncio.Lock()
        async with self._serial:  # without it, two sends racing each open a connection, out of order
            return await self._notify_now(n)

    async def _notify_now(self, n: Notification) -> int:
        from dbus_fast import Message, MessageType, Variant
        from dbus_fast.aio import MessageBus

        if self._bus is None or not self._bus.connected:
            self._bus = await asyncio.wait_for(MessageBus(bus_address=self.address).connect(), self.timeout)
        msg = Message(destination="org.freedesktop.Notifications", path="/org/freedesktop/Notifications",
                      interface="org.freedesktop.Notifications", member="Notify", signature="susssasa{sv}i",
                      body=[self.app_name, 0, "dialog-warning", n.title, n.body, [],
                            {"urgency": Variant("y", URGENCY.get(n.severity, 1))}, -1])
        reply = await asyncio.wait_for(self._bus.call(msg), self.timeout)
        if reply.message_type == MessageType.ERROR:
            raise RuntimeError(f"{reply.error_name}: {' '.join(map(str, reply.body))}")
        return int(reply.body[0])

    def send(self, n: Notification, done: Callable[[str, dict[str, Any]], None]) -> None:
        """Queue `n`; `done("sent"|"failed", detail)` is called from the bus thread."""
        fut = asyncio.run_coroutine_threadsafe(self._notify(n), self._ensure_loop())
        with self._lock:
            self._pending.add(fut)

        def finished(f) -> None:
            with self._lock:
                self._pending.discard(f)
            try:
                done("sent", {"id": f.result()})
            except BaseException as e:  # noqa: BLE001 - reported, never raised into monitoring
                done("failed", {"error": f"{type(e).__name__}: {e}" if str(e) else type(e).__name__})

        fut.add_done_callback(finished)

    def drain(self, timeout: float) -> None:
        """Wait up to `timeout` s for the sends under way: a notification about a job's last alert must not be
        lost because losswatch exits right after the job (the bus thread is a daemon)."""
        with self._lock:
            pending = list(self._pending)
        if pending:
            concurrent.futures.wait(pending, timeout)


class MacSender:  # pragma: no cover - macOS only
    """macOS: desktop-notifier (Notification Center)."""

    def __init__(self, app_name: str) -> None:
        from desktop_notifier import DesktopNotifierSync

        self._n = DesktopNotifierSync(app_name=app_name)
        self._sending: list[threading.Thread] = []

    def send(self, n: Notification, done: Callable[[str, dict[str, Any]], None]) -> None:
        def go() -> None:
            try:
                self._n.send(title=n.title, message=n.body)
                done("sent", {})
            except Exception as e:
                done("failed", {"error": str(e)})

        t = threading.Thread(target=go, daemon=True)
        t.start()
        self._sending = [x for x in self._sending if x.is_alive()] + [t]

    def drain(self, timeout: float) -> None:
        """Wait up to `timeout` s for the sends under way (as DesktopSender.drain)."""
        deadline = time.monotonic() + timeout
        for t in self._sending:
            t.join(max(0.0, deadline - time.monotonic()))


# --- the notifier ---------------------------------------------------------------------------------


@dataclass
class _Limits:
    last_sent: dict[tuple[str, str], float] = field(default_factory=dict)
    recent: deque = field(default_factory=deque)
    suppressed: int = 0


class Notifier:
    """Decides whether and how to notify, and does it without blocking the caller."""

    def __init__(self, config: NotifyConfig | None = None, env: Mapping[str, str] | None = None,
                 writer: Writer | None = None, audit: AuditLog | None = None, dry_run: bool = False,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config or NotifyConfig()
        self.env = dict(os.environ if env is None else env)
        self._writer = writer
        self._writer_chosen = writer is not None
        self.audit = audit
        self.dry_run = dry_run
        self.clock = clock
        self._limits = _Limits()
        self._lock = threading.Lock()
        self._desktop: DesktopSender | MacSender | None = None

    # -- configuration -----------------------------------------------------------------------------

    def drain(self, timeout: float) -> None:
        """At exit: let desktop notifications under way reach the bus."""
        if self._desktop is not None:
            self._desktop.drain(timeout)

    def set_writer(self, writer: Writer | None) -> None:
        """Route terminal bytes elsewhere (the TUI's driver while it owns the terminal)."""
        self._writer = writer
        self._writer_chosen = True

    @property
    def writer(self) -> Writer | None:
        if not self._writer_chosen:
            self._writer = default_writer()
            self._writer_chosen = True
        return self._writer

    def routes(self) -> list[str]:
        """Where notifications go now: ["desktop"], ["terminal"], both or none."""
        via = self.config.via
        if via == "none":
            return []
        if via == "both":
            return ["desktop", "terminal"]
        if via in ("desktop", "terminal"):
            return [via]
        over_ssh = bool(self.env.get("SSH_CONNECTION") or self.env.get("SSH_TTY"))
        if sys.platform == "darwin" and not over_ssh:
            return ["desktop"]
        if over_ssh or session_bus_address(self.env) is None:
            return ["terminal"]
        return ["desktop"]

    def terminal_kinds(self) -> tuple[str, ...]:
        return self.config.terminal or detect_kinds(self.env)

    # -- sending -----------------------------------------------------------------------------------

    def notify(self, alert: Alert) -> ActionResult:
        n = from_alert(alert)
        result, detail = self._decide(n)
        if result == "send":
            routes = self.routes()
            detail["via"] = routes
            if self.dry_run:
                result = "dry-run"
            elif not routes:
                result = "disabled"
            else:
                result = "sent"
                for route in routes:
                    if route == "terminal":
                        detail["terminal"] = self._to_terminal(n)
                        if len(routes) == 1 and detail["terminal"].startswith(("no terminal", "write failed")):
                            result = "unavailable"
                    else:
                        self._to_desktop(n, alert)
                        if len(routes) == 1:
                            result = "queued"
        r = ActionResult("notify", alert.rule, alert.run, detail.get("via"), result, detail, time.time())
        if self.audit is not None:
            self.audit.write({"action": "notify", "rule": alert.rule, "run": alert.run, "value": alert.value,
                              "step": alert.step, "result": result, "dry_run": self.dry_run, **detail})
        return r

    def _decide(self, n: Notification) -> tuple[str, dict[str, Any]]:
        if self.config.mute:
            return "muted", {}
        now = self.clock()
        with self._lock:
            lim = self._limits
            last = lim.last_sent.get(n.key)
            if last is not None and now - last < self.config.repeat_interval:
                return "suppressed", {"reason": f"notified {now - last:.0f}s ago (repeat_interval "
                                                f"{self.config.repeat_interval:g}s)"}
            while lim.recent and now - lim.recent[0] >= 60.0:
                lim.recent.popleft()
            if n.severity != "critical" and len(lim.recent) >= self.config.max_per_minute:
                lim.suppressed += 1
                return "suppressed", {"reason": f"rate limit ({self.config.max_per_minute}/min)"}
            lim.last_sent[n.key] = now
            lim.recent.append(now)
            detail: dict[str, Any] = {}
            if lim.suppressed:
                detail["suppressed_before"] = lim.suppressed
                lim.suppressed = 0
            return "send", detail

    def _to_terminal(self, n: Notification) -> str:
        writer = self.writer
        if writer is None:
            return "no terminal"
        mux = detect_mux(self.env)
        data = terminal_bytes(n, self.terminal_kinds(), mux, self.config.bell)
        try:
            writer(data)
        except OSError as e:
            return f"write failed: {e.strerror or e}"
        return "+".join(self.terminal_kinds() + (("bell",) if self.config.bell else ())) + \
            (f" via {mux}" if mux else "")

    def _to_desktop(self, n: Notification, alert: Alert) -> None:
        if self._desktop is None:
            if sys.platform == "darwin":  # pragma: no cover
                self._desktop = MacSender(self.config.app_name)
            else:
                addr = session_bus_address(self.env)
                if addr is None:
                    self._desktop_done(alert, n, "failed", {"error": "no session bus"})
                    return
                self._desktop = DesktopSender(addr, self.config.app_name)
        self._desktop.send(n, lambda result, detail: self._desktop_done(alert, n, result, detail))

    def _desktop_done(self, alert: Alert, n: Notification, result: str, detail: dict[str, Any]) -> None:
        if result == "failed" and self.config.via == "auto":
            detail["fallback"] = self._to_terminal(n)  # the bus is there but nobody shows notifications
        if self.audit is not None:
            self.audit.write({"action": "notify", "rule": alert.rule, "run": alert.run, "via": "desktop",
                              "result": result, **detail})
