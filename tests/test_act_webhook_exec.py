"""Webhooks to a real HTTP server on 127.0.0.1 (and one that hangs), and exec commands."""

from __future__ import annotations

import json
import math
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from losswatch.act.audit import AuditLog, read
from losswatch.act.exec import ExecCommand, ExecRunner
from losswatch.act.webhook import Receiver, WebhookSender
from losswatch.model import Alert
from tests.jobs import wait_until


def alert(rule="nonfinite_loss", severity="critical") -> Alert:
    return Alert(rule, severity, "/runs/a/train.log", "firing", 120, 121, math.nan, "loss is NaN",
                 "Lower the lr.", ["webhook:x"])


class Server:
    """Records requests; answers with the `status` list in turn; `hang` holds requests until closed."""

    def __init__(self, status: int = 200, hang: bool = False) -> None:
        self.requests: list[dict] = []
        self.status = [status]
        self.release = threading.Event()
        if not hang:
            self.release.set()
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.release.wait(30)
                outer.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                code = outer.status.pop(0) if len(outer.status) > 1 else outer.status[0]
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


def test_payload_shapes(server, tmp_path):
    receivers = {k: Receiver(k, f"{server.url}/{k}", k) for k in ("json", "slack", "discord", "ntfy")}
    receivers["json"].headers = {"Authorization": "Bearer t0ken"}
    sender = WebhookSender(receivers, AuditLog(tmp_path / "audit.jsonl"))
    for k in receivers:
        assert sender.send(k, alert()).result == "queued"
    assert wait_until(lambda: len(server.requests) == 4)
    by = {r["path"][1:]: r for r in server.requests}
    j = json.loads(by["json"]["body"])
    assert j["rule"] == "nonfinite_loss" and j["value"] == "nan" and j["step"] == 120 and j["severity"] == "critical"
    assert by["json"]["headers"]["Authorization"] == "Bearer t0ken" and j["time"].endswith("+00:00")
    assert json.loads(by["slack"]["body"])["text"].startswith("[critical] nonfinite_loss on train.log at step 120")
    assert "loss is NaN" in json.loads(by["discord"]["body"])["content"]
    assert by["ntfy"]["body"] == b"loss is NaN\nLower the lr."
    assert by["ntfy"]["headers"]["Title"] == "losswatch: nonfinite_loss (critical)"
    assert by["ntfy"]["headers"]["Priority"] == "5"
    assert wait_until(lambda: sum(r["result"] == "sent" for r in read(tmp_path / "audit.jsonl")) == 4)


def test_retries_on_server_errors_not_on_client_errors(server, tmp_path):
    server.status = [503, 502, 200]
    audit = AuditLog(tmp_path / "audit.jsonl")
    sender = WebhookSender({"x": Receiver("x", server.url, retries=3, backoff=0.01)}, audit)
    sender.send("x", alert())
    assert wait_until(lambda: any(r["result"] == "sent" for r in read(tmp_path / "audit.jsonl")))
    assert len(server.requests) == 3 and read(tmp_path / "audit.jsonl")[-1]["attempts"] == 3
    server.status = [404]
    sender.send("x", alert("other"))
    assert wait_until(lambda: read(tmp_path / "audit.jsonl")[-1]["result"] == "failed")
    assert read(tmp_path / "audit.jsonl")[-1]["error"] == "HTTP 404" and len(server.requests) == 4


def test_hanging_receiver_blocks_neither_alerts_nor_other_receivers(server, tmp_path):
    hanging = Server(hang=True)
    try:
        audit = AuditLog(tmp_path / "audit.jsonl")
        sender = WebhookSender({"slow": Receiver("slow", hanging.url, timeout=0.5, retries=0),
                                "ok": Receiver("ok", server.url)}, audit)
        t0 = time.monotonic()
        for i in range(5):
            assert sender.send("slow", alert(f"r{i}")).result == "queued"
        sender.send("ok", alert())
        assert time.monotonic() - t0 < 0.2
        assert wait_until(lambda: len(server.requests) == 1, 2.0)
        assert wait_until(lambda: any(r["result"] == "failed" and "timed out" in r["error"]
                                      for r in read(tmp_path / "audit.jsonl")), 5.0)
    finally:
        hanging.close()


def test_unreachable_receiver_fails_cleanly(tmp_path):
    audit = AuditLog(tmp_path / "audit.jsonl")
    WebhookSender({"x": Receiver("x", "http://127.0.0.1:9/", retries=1, backoff=0.01)}, audit).send("x", alert())
    assert wait_until(lambda: bool(read(tmp_path / "audit.jsonl")))
    rec = read(tmp_path / "audit.jsonl")[-1]
    assert rec["result"] == "failed" and rec["attempts"] == 2


def test_exec_gets_the_alert_in_its_environment(tmp_path):
    out = tmp_path / "env.txt"
    runner = ExecRunner({"dump": ExecCommand("dump", f"env | grep ^LOSSWATCH_ | sort > {out}", 5)},
                        AuditLog(tmp_path / "audit.jsonl"))
    r = runner.run("dump", alert(), pid=4242)
    assert r.result == "started"
    runner.wait(5)
    env = dict(line.split("=", 1) for line in out.read_text().splitlines())
    assert env["LOSSWATCH_RULE"] == "nonfinite_loss" and env["LOSSWATCH_VALUE"] == "nan"
    assert env["LOSSWATCH_STEP"] == "120" and env["LOSSWATCH_PID"] == "4242"
    assert env["LOSSWATCH_MESSAGE"] == "loss is NaN" and env["LOSSWATCH_SEVERITY"] == "critical"
    assert read(tmp_path / "audit.jsonl")[-1]["result"] == "ok"


def test_exec_message_is_not_shell_code(tmp_path):
    a = alert()
    a.message = "$(touch pwned) `touch pwned2`"
    runner = ExecRunner({"echo": ExecCommand("echo", ["sh", "-c", 'printf %s "$LOSSWATCH_MESSAGE"'], 5)},
                        AuditLog(tmp_path / "audit.jsonl"))
    runner.run("echo", a)
    runner.wait(5)
    assert read(tmp_path / "audit.jsonl")[-1]["stdout"] == a.message
    assert not (tmp_path / "pwned").exists()


def test_exec_timeout_kills_the_command(tmp_path):
    runner = ExecRunner({"slow": ExecCommand("slow", "sleep 30", 0.3)}, AuditLog(tmp_path / "audit.jsonl"))
    t0 = time.monotonic()
    runner.run("slow", alert())
    assert time.monotonic() - t0 < 0.2
    runner.wait(5)
    assert read(tmp_path / "audit.jsonl")[-1]["result"] == "timeout"
    assert time.monotonic() - t0 < 3
