"""`exec:NAME` actions: run a user command with the alert in its environment, with a timeout.

The alert is passed only through environment variables (LOSSWATCH_RULE, LOSSWATCH_VALUE,
LOSSWATCH_SEVERITY, LOSSWATCH_RUN, LOSSWATCH_STEP, LOSSWATCH_LINE, LOSSWATCH_MESSAGE,
LOSSWATCH_ADVICE, LOSSWATCH_STATE, LOSSWATCH_PID), never pasted into the command line, so a message
cannot inject shell syntax. A command given as a string runs under `sh -c`; as a list, directly.
It runs on its own thread and process group; on timeout the whole group is killed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from losswatch.act.audit import AuditLog
from losswatch.model import ActionResult, Alert, json_number


@dataclass
class ExecCommand:
    name: str
    command: str | list[str]
    timeout: float = 60.0


def alert_env(alert: Alert, pid: int | None = None) -> dict[str, str]:
    env = {
        "LOSSWATCH_RULE": alert.rule, "LOSSWATCH_SEVERITY": alert.severity, "LOSSWATCH_RUN": alert.run,
        "LOSSWATCH_STATE": alert.state, "LOSSWATCH_STEP": str(json_number(alert.step)),
        "LOSSWATCH_VALUE": str(json_number(alert.value)), "LOSSWATCH_LINE": str(alert.line),
        "LOSSWATCH_MESSAGE": alert.message, "LOSSWATCH_ADVICE": alert.advice,
    }
    if pid is not None:
        env["LOSSWATCH_PID"] = str(pid)
    return env


def run_command(cmd: ExecCommand, env: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """Run to completion or timeout. Returns ("ok"|"failed"|"timeout", detail)."""
    argv = ["/bin/sh", "-c", cmd.command] if isinstance(cmd.command, str) else list(cmd.command)
    try:
        proc = subprocess.Popen(argv, env={**os.environ, **env}, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    except OSError as e:
        return "failed", {"error": f"{argv[0]}: {e.strerror or e}"}
    try:
        out, err = proc.communicate(timeout=cmd.timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.communicate()
        return "timeout", {"error": f"killed after {cmd.timeout:g}s"}
    detail = {"exit": proc.returncode, "stdout": out.decode(errors="replace")[-500:],
              "stderr": err.decode(errors="replace")[-500:]}
    return ("ok" if proc.returncode == 0 else "failed"), detail


class ExecRunner:
    def __init__(self, commands: dict[str, ExecCommand], audit: AuditLog | None = None, dry_run: bool = False,
                 on_result: Callable[[ActionResult], None] | None = None) -> None:
        self.commands = commands
        self.audit = audit
        self.dry_run = dry_run
        self.on_result = on_result
        self._threads: list[threading.Thread] = []

    def run(self, name: str, alert: Alert, pid: int | None = None) -> ActionResult:
        cmd = self.commands.get(name)
        if cmd is None:
            return self._record(alert, name, "error", {"error": f"no exec command named {name!r}"})
        if self.dry_run:
            return self._record(alert, name, "dry-run", {"command": cmd.command})
        env = alert_env(alert, pid)

        def go() -> None:
            result, detail = run_command(cmd, env)
            r = self._record(alert, name, result, detail)
            if self.on_result is not None:
                self.on_result(r)

        t = threading.Thread(target=go, name=f"losswatch-exec-{name}", daemon=True)
        t.start()
        self._threads.append(t)
        return ActionResult(f"exec:{name}", alert.rule, alert.run, cmd.command, "started", {}, time.time())

    def wait(self, timeout: float | None = None) -> None:
        for t in self._threads:
            t.join(timeout)

    def _record(self, alert: Alert, name: str, result: str, detail: dict[str, Any]) -> ActionResult:
        if self.audit is not None:
            self.audit.write({"action": f"exec:{name}", "rule": alert.rule, "run": alert.run,
                              "value": alert.value, "step": alert.step, "result": result,
                              "dry_run": self.dry_run, **detail})
        cmd = self.commands.get(name)
        return ActionResult(f"exec:{name}", alert.rule, alert.run, cmd.command if cmd else None, result,
                            detail, time.time())
