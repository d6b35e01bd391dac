"""The audit log: one JSON object per line for every action taken (or refused, or dry-run).

Lives under the XDG state directory (`$XDG_STATE_HOME/losswatch/audit.jsonl`, default
`~/.local/state/losswatch/audit.jsonl`) unless the rule files' `actions: audit_log:` says otherwise.
Appends are single `write` calls on an O_APPEND descriptor, so concurrent losswatch processes
never interleave half lines.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from losswatch.model import json_number


def default_path() -> Path:
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(state) / "losswatch" / "audit.jsonl"


def _jsonable(x: Any) -> Any:
    if isinstance(x, float):
        return json_number(x)
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if x is None or isinstance(x, (str, int, bool)):
        return x
    return str(x)


class AuditLog:
    """Append-only JSON-lines record of actions. Thread-safe; a failing disk never stops monitoring."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path else default_path()
        self._lock = threading.Lock()
        self._fd: int | None = None
        self.error: str | None = None

    def write(self, record: dict[str, Any]) -> None:
        now = time.time()
        rec = {"time": _dt.datetime.fromtimestamp(now, _dt.timezone.utc).isoformat(timespec="milliseconds"),
               **_jsonable(record)}
        line = (json.dumps(rec, ensure_ascii=False) + "\n").encode()
        with self._lock:
            try:
                if self._fd is None:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                    self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
                os.write(self._fd, line)
            except OSError as e:
                self.error = f"{self.path}: {e.strerror or e}"

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


def read(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """All records of an audit log (for tests and `losswatch` faces)."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.splitlines() if line.strip()]
