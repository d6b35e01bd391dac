"""What the TUI needs to know about the job being watched, and how it asks the core to stop it.

The action layer owns the job (which process, its start time, the escalation, the audit log); the
TUI only shows `JobInfo` and calls `stop()`. `stop()` may block while the escalation waits, so the
app calls it from a worker thread, never from the UI thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass
class JobInfo:
    pid: int | None
    cmdline: list[str] = field(default_factory=list)
    escalation: str = ""  # e.g. "SIGINT, wait 10s, SIGTERM, wait 10s, SIGKILL (process group)"
    state: str = "running"  # running | exited 0 | stopped | unknown ...
    problem: str = ""  # why the job cannot be stopped (ambiguous target, not found), "" when it can


class JobControl(Protocol):
    def info(self) -> JobInfo: ...

    def stop(self) -> str:
        """Stop the job through the action layer (escalation, audit); returns what was done."""
        ...
