"""Webhooks: named receivers (generic JSON, Slack, Discord, ntfy-style text) posted from background threads.

One worker thread and a bounded queue per receiver, so a receiver that hangs delays only itself and
never the monitor or another receiver. Each request has a timeout; connection errors, 5xx and 429
are retried with backoff; every outcome goes to the audit log.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import queue
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from losswatch.act.audit import AuditLog
from losswatch.model import ActionResult, Alert, json_number

KINDS = ("json", "slack", "discord", "ntfy")
NTFY_PRIORITY = {"info": "3", "warning": "4", "critical": "5"}


@dataclass
class Receiver:
    name: str
    url: str
    kind: str = "json"
    headers: dict[str, str] = field(default_factory=dict)
    timeout: float = 5.0
    retries: int = 2
    backoff: float = 1.0


def alert_text(alert: Alert) -> str:
    return (f"[{alert.severity}] {alert.rule} on {os.path.basename(alert.run) or alert.run} at step "
            f"{json_number(alert.step)}: {alert.message}" + (f" — {alert.advice}" if alert.advice else ""))


def alert_dict(alert: Alert) -> dict[str, Any]:
    return {"event": "alert", "state": alert.state, "rule": alert.rule, "severity": alert.severity,
            "run": alert.run, "step": json_number(alert.step), "line": alert.line,
            "value": json_number(alert.value), "message": alert.message, "advice": alert.advice,
            "host": socket.gethostname(), "time": _iso(alert.wall_time)}


def _iso(t: float) -> str:
    t = time.time() if math.isnan(t) else t
    return _dt.datetime.fromtimestamp(t, _dt.timezone.utc).isoformat(timespec="milliseconds")


def build_request(r: Receiver, alert: Alert) -> tuple[bytes, dict[str, str]]:
    """Body and headers in the shape the receiver kind expects."""
    headers = {"User-Agent": "losswatch"}
    if r.kind == "slack":
        body, ctype = json.dumps({"text": alert_text(alert)}), "application/json"
    elif r.kind == "discord":
        body, ctype = json.dumps({"content": alert_text(alert)[:2000]}), "application/json"
    elif r.kind == "ntfy":
        body, ctype = f"{alert.message}" + (f"\n{alert.advice}" if alert.advice else ""), "text/plain; charset=utf-8"
        headers.update({"Title": f"losswatch: {alert.rule} ({alert.severity})",
                        "Priority": NTFY_PRIORITY.get(alert.severity, "3"), "Tags": "warning,losswatch"})
    else:
        body, ctype = json.dumps(alert_dict(alert)), "application/json"
    headers["Content-Type"] = ctype
    headers.update(r.headers)
    # HTTP header values must be latin-1: keep what fits.
    headers = {k: v.encode("latin-1", "replace").decode("latin-1") for k, v in headers.items()}
    return body.encode(), headers


def post(r: Receiver, body: bytes, headers: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """POST with retries. Returns ("sent"|"failed", detail)."""
    attempts = 0
    last = ""
    while True:
        attempts += 1
        req = urllib.request.Request(r.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=r.timeout) as resp:
                return "sent", {"status": resp.status, "attempts": attempts}
        except urllib.error.HTTPError as e:
            last = f"HTTP {e.code}"
            retry = e.code >= 500 or e.code == 429
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            last = f"{type(reason).__name__}: {reason}" if not isinstance(reason, str) else reason
            retry = True
        if not retry or attempts > r.retries:
            return "failed", {"error": last, "attempts": attempts}
        time.sleep(r.backoff * (2 ** (attempts - 1)))


class WebhookSender:
    """Queues alerts per receiver; never blocks the caller."""

    def __init__(self, receivers: dict[str, Receiver], audit: AuditLog | None = None, dry_run: bool = False,
                 on_result: Callable[[ActionResult], None] | None = None, queue_size: int = 100) -> None:
        self.receivers = receivers
        self.audit = audit
        self.dry_run = dry_run
        self.on_result = on_result
        self.queue_size = queue_size
        self._queues: dict[str, queue.Queue] = {}
        self._lock = threading.Lock()

    def send(self, name: str, alert: Alert) -> ActionResult:
        r = self.receivers.get(name)
        if r is None:
            return self._record(alert, name, "error", {"error": f"no receiver named {name!r}"})
        if self.dry_run:
            return self._record(alert, name, "dry-run", {"url": r.url, "kind": r.kind})
        q = self._queue(r)
        try:
            q.put_nowait(alert)
        except queue.Full:
            return self._record(alert, name, "dropped", {"error": f"{self.queue_size} alerts already waiting"})
        return ActionResult(f"webhook:{name}", alert.rule, alert.run, r.url, "queued", {}, time.time())

    def _queue(self, r: Receiver) -> queue.Queue:
        with self._lock:
            q = self._queues.get(r.name)
            if q is None:
                q = self._queues[r.name] = queue.Queue(self.queue_size)
                threading.Thread(target=self._work, args=(r, q), name=f"losswatch-webhook-{r.name}",
                                 daemon=True).start()
            return q

    def _work(self, r: Receiver, q: queue.Queue) -> None:
        while True:
            alert = q.get()
            try:
                body, headers = build_request(r, alert)
                result, detail = post(r, body, headers)
            except Exception as e:  # a bad receiver must never kill its worker silently
                result, detail = "failed", {"error": str(e)}
            res = self._record(alert, r.name, result, {"url": r.url, **detail})
            if self.on_result is not None:
                self.on_result(res)
            q.task_done()

    def drain(self, timeout: float) -> bool:
        """Wait until queued webhooks are done (at exit); False when some are still pending."""
        deadline = time.monotonic() + timeout
        for q in list(self._queues.values()):
            while q.unfinished_tasks:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(0.02)
        return True

    def _record(self, alert: Alert, name: str, result: str, detail: dict[str, Any]) -> ActionResult:
        if self.audit is not None:
            self.audit.write({"action": f"webhook:{name}", "rule": alert.rule, "run": alert.run,
                              "value": alert.value, "step": alert.step, "result": result,
                              "dry_run": self.dry_run, **detail})
        r = self.receivers.get(name)
        return ActionResult(f"webhook:{name}", alert.rule, alert.run, r.url if r else None, result, detail,
                            time.time())
