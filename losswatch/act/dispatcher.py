"""The action layer's face to the core: `handle(alert) -> list[ActionResult]` (monitor.ActionDispatcher).

Maps the action names rules use — `notify`, `stop`, `webhook:NAME`, `exec:NAME` — to the notifier,
the stopper, webhook receivers and exec commands, honours `--dry-run` and `--quiet`, and writes every
decision to the audit log. `handle` never blocks on the network, a child command or a grace period:
those run on background threads and report later through `on_result`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from losswatch.act.audit import AuditLog
from losswatch.act.config import ActionsConfig
from losswatch.act.exec import ExecRunner
from losswatch.act.notify import VIA, Notifier, Writer
from losswatch.act.stop import Stopper
from losswatch.act.target import TargetError, TargetFinder
from losswatch.act.webhook import WebhookSender
from losswatch.errors import UsageError
from losswatch.model import ActionResult, Alert

BUILTIN = ("notify", "stop")


class ActionDispatcher:
    def __init__(self, config: ActionsConfig | None = None, finder: TargetFinder | None = None,
                 dry_run: bool = False, quiet: bool = False,
                 on_result: Callable[[ActionResult], None] | None = None,
                 env: Mapping[str, str] | None = None, writer: Writer | None = None) -> None:
        self.config = config or ActionsConfig()
        self.finder = finder or TargetFinder()
        self.dry_run = dry_run
        self.audit = AuditLog(self.config.audit_log)
        self._on_result = on_result
        if quiet:
            self.config.notify.mute = True
        via = os.environ.get("LOSSWATCH_NOTIFY")  # e.g. `none` in CI and test suites
        if via in VIA:
            self.config.notify.via = via
        self.notifier = Notifier(self.config.notify, env=env, writer=writer, audit=self.audit, dry_run=dry_run)
        self.stopper = Stopper(self.config.stop, self.audit, dry_run, self._later)
        self.webhooks = WebhookSender(self.config.receivers, self.audit, dry_run, self._later)
        self.execs = ExecRunner(self.config.exec, self.audit, dry_run, self._later)
        self._silenced: dict[tuple[str, str], float] = {}  # (run, rule) → monotonic time the silence ends

    def set_on_result(self, callback: Callable[[ActionResult], None] | None) -> None:
        """Where results that arrive later (stop steps, webhook replies) go; called from worker threads."""
        self._on_result = callback

    def _later(self, result: ActionResult) -> None:
        if self._on_result is not None:
            self._on_result(result)

    def validate(self, action_names: Iterable[str], where: str | None = None) -> None:
        """Refuse rule actions that name no receiver / exec command, before anything starts."""
        for name in action_names:
            problem = self.problem(name)
            if problem:
                raise UsageError(problem, where)

    def problem(self, name: str) -> str | None:
        kind, _, arg = name.partition(":")
        if name in BUILTIN:
            return None
        if kind == "webhook" and arg:
            return None if arg in self.config.receivers else \
                f"action {name!r}: no receiver {arg!r} in any `actions: receivers:` section"
        if kind == "exec" and arg:
            return None if arg in self.config.exec else \
                f"action {name!r}: no command {arg!r} in any `actions: exec:` section"
        return f"unknown action {name!r} (expected notify, stop, webhook:NAME or exec:NAME)"

    # -- ActionDispatcher protocol -----------------------------------------------------------------

    def handle(self, alert: Alert) -> list[ActionResult]:
        results = []
        for name in dict.fromkeys(alert.actions):
            try:
                results.append(self._one(name, alert))
            except Exception as e:  # an action must never take monitoring down
                results.append(self._error(name, alert, f"{type(e).__name__}: {e}"))
        return results

    def silence(self, run: str, rule: str, seconds: float) -> None:
        """Mute a rule's notifications, webhooks and exec commands for a run for a while (the TUI's mute key).

        A stop is never silenced: it only comes from unambiguous evidence, and muting means "stop telling me".
        """
        self._silenced[(run, rule)] = time.monotonic() + seconds
        self.audit.write({"action": "silence", "rule": rule, "run": run, "seconds": seconds})

    def _is_silenced(self, alert: Alert) -> bool:
        until = self._silenced.get((alert.run, alert.rule))
        if until is None:
            return False
        if time.monotonic() >= until:
            del self._silenced[(alert.run, alert.rule)]
            return False
        return True

    def _one(self, name: str, alert: Alert) -> ActionResult:
        if name != "stop" and self._is_silenced(alert):
            return self._record(name, alert, None, "silenced", {})
        if name == "notify":
            return self.notifier.notify(alert)
        if name == "stop":
            try:
                target = self.finder.resolve(alert.run)
            except TargetError as e:
                return self._record(name, alert, None, "refused", {"reason": str(e)})
            return self.stopper.stop(target, alert)
        kind, _, arg = name.partition(":")
        if kind == "webhook" and arg:
            return self.webhooks.send(arg, alert)
        if kind == "exec" and arg:
            try:
                pid = self.finder.resolve(alert.run).pid
            except TargetError:
                pid = None
            return self.execs.run(arg, alert, pid)
        return self._error(name, alert, self.problem(name) or "unknown action")

    def _error(self, name: str, alert: Alert, message: str) -> ActionResult:
        return self._record(name, alert, None, "error", {"error": message})

    def _record(self, name: str, alert: Alert, target: Any, result: str, detail: dict[str, Any]) -> ActionResult:
        self.audit.write({"action": name, "rule": alert.rule, "run": alert.run, "value": alert.value,
                          "step": alert.step, "target": target, "result": result, "dry_run": self.dry_run,
                          **detail})
        return ActionResult(name, alert.rule, alert.run, target, result, detail, time.time())

    def close(self, timeout: float = 2.0) -> None:
        """At exit: give queued notifications, webhooks and exec commands a moment, then close the audit log."""
        self.notifier.drain(timeout)
        self.webhooks.drain(timeout)
        self.execs.wait(timeout)
        self.audit.close()


def check_rule_actions(engine: Any, dispatcher: ActionDispatcher) -> None:
    """Refuse, before anything starts, a rule whose action names no receiver or command."""
    for rule in getattr(engine, "rules_def", None) or []:
        for action in getattr(rule, "actions", None) or []:
            problem = dispatcher.problem(action)
            if problem:
                raise UsageError(f"rule {getattr(rule, 'id', '?')}: {problem}")


def for_command(args: Any, engine: Any, log_paths: list[str], post: Callable[[Callable[[], object]], None],
                emit: Callable[[Any], None], target: Any = None) -> ActionDispatcher:
    """The dispatcher for `tail`/`run`: actions config from --rules, target from `target`, --pid or the
    writer of the logs; results that come later are posted to the live loop and emitted as events.
    Bad input raises UsageError before anything starts.
    """
    from losswatch.act.config import load_actions
    from losswatch.act.target import from_pid
    from losswatch.events import ActionDone

    config = load_actions(list(getattr(args, "rules", []) or []))
    pid = getattr(args, "pid", None)
    if target is None and pid is not None:
        try:
            target = from_pid(pid)
        except TargetError as e:
            raise UsageError(f"--pid {pid}: {e}") from None
    d = ActionDispatcher(config, TargetFinder(target, log_paths), dry_run=bool(getattr(args, "dry_run", False)),
                         quiet=bool(getattr(args, "quiet", False)),
                         on_result=lambda r: post(lambda: emit(ActionDone(r))))
    check_rule_actions(engine, d)
    d.finder.prime()
    return d


def build_dispatcher(rule_files: list[str], finder: TargetFinder, dry_run: bool = False, quiet: bool = False,
                     **kwargs: Any) -> ActionDispatcher:
    from losswatch.act.config import load_actions

    return ActionDispatcher(load_actions(rule_files), finder, dry_run=dry_run, quiet=quiet, **kwargs)
