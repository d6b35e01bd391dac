"""The Textual app: one panel per run (tabs when several), GPU panel, footer, keys and palette.

It adds no logic of its own. It subscribes a `Bridge` to the `Monitor`, drains it at most
`refresh_interval` apart while data flows (nothing happens while it does not), and hands each
message to the widget it concerns. What changes the core (stop the job, silence an alert, reload
rules) goes through the hooks it was given, on the feeding thread via `loop.post` or a worker.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.timer import Timer
from textual.widgets import Footer, TabbedContent, TabPane

from losswatch.model import ActionResult
from losswatch.monitor import Monitor
from losswatch.tui.bridge import Bridge
from losswatch.tui.job import ActionJobControl, JobControl
from losswatch.tui.messages import ActionUpdate, AlertUpdate, CoreUpdate, RunUpdate, SamplesChanged
from losswatch.tui.screens.context_screen import ContextScreen
from losswatch.tui.screens.help_screen import HelpScreen
from losswatch.tui.screens.plot_screen import PlotScreen
from losswatch.tui.screens.stop_dialog import StopDialog
from losswatch.tui.widgets.alerts_panel import AlertsPanel
from losswatch.tui.widgets.gpu_panel import GpuPanel
from losswatch.tui.widgets.metric_table import MetricTable
from losswatch.tui.widgets.run_header import RunHeader
from losswatch.tui.widgets.run_panel import RunPanel

MUTE_SECONDS = 15 * 60
MAX_TOASTS = 3  # per refresh; more become one "N more alerts" toast
SMOOTHING_STEPS = (0, 5, 10, 25, 50, 100, 250, 500, 1000)  # EMA time constant in steps (0: raw)
SEVERITY_TOAST = {"critical": "error", "warning": "warning", "info": "information"}


def action_text(r: ActionResult) -> str:
    """One line for what an action did: its result and the few details that matter."""
    pid = r.target.get("pid") if isinstance(r.target, dict) else r.target
    d = r.detail or {}
    bits = [r.result]
    if d.get("signal"):
        bits.append(f"{d['signal']} to pid {pid}")
    elif pid is not None and r.action == "stop":
        bits.append(f"pid {pid}")
    for key in ("outcome", "reason", "error", "terminal"):
        if d.get(key):
            bits.append(str(d[key]))
    return " · ".join(bits)


class LosswatchApp(App):
    CSS_PATH = "losswatch.tcss"
    TITLE = "losswatch"
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("s", "stop_job", "Stop job"),
        Binding("m", "mute", "Mute"),
        Binding("p", "pause", "Pause"),
        Binding("plus,equals_sign", "smoothing(1)", "Smooth+", show=False),
        Binding("minus,underscore", "smoothing(-1)", "Smooth-", show=False),
        Binding("y", "log_y", "Log-Y", show=False),
        Binding("r", "reload_rules", "Reload rules", show=False),
        Binding("right_square_bracket", "switch_run(1)", "Next run", show=False),
        Binding("left_square_bracket", "switch_run(-1)", "Prev run", show=False),
        Binding("l", "toggle_pane('log')", "Log"),
        Binding("g", "toggle_pane('gpu')", "GPU", show=False),
        Binding("a", "toggle_pane('alerts')", "Alerts", show=False),
        Binding("question_mark,f1", "help", "Help"),
    ]

    def __init__(
        self,
        monitor: Monitor,
        loop: Any = None,
        runs: list[str] | None = None,
        *,
        job: JobControl | Callable[[str], JobControl | None] | None = None,
        reload_rules: Callable[[], str] | None = None,
        silence: Callable[[str, str, float], object] | None = None,
        refresh_interval: float = 0.25,
        bridge: Bridge | None = None,
        title: str | None = None,
        clock: Callable[[], float] = time.time,
        stop_countdown: int = 15,
    ) -> None:
        super().__init__()
        self.clock = clock
        self.stop_countdown = stop_countdown
        self.monitor = monitor
        self.loop = loop
        self.run_names = list(runs) if runs is not None else list(monitor.runs)
        self._job = job
        self._reload_rules = reload_rules
        self._silence = silence
        self.refresh_interval = refresh_interval
        self.bridge = bridge or Bridge()
        if bridge is None:
            monitor.subscribe(self.bridge)
        self.smoothing: int | None = None  # None: chosen from the plotted run's length
        self.log_y = False
        self.paused = False
        self.flushes = 0
        self._last_flush = 0.0
        self._flush_timer: Timer | None = None
        if title:
            self.title = title

    # -- layout ------------------------------------------------------------------------------------

    def job_for(self, run: str) -> JobControl | None:
        """The job of a run: as given, else the action layer's target for it (tail, run, demo)."""
        if self._job is not None:
            return self._job if hasattr(self._job, "info") else self._job(run)  # type: ignore[return-value]
        post = self.loop.post if self.loop is not None and hasattr(self.loop, "post") else (lambda fn: fn())
        return ActionJobControl(lambda: self.monitor.actions, run, post, self.monitor.emit)

    def compose(self) -> ComposeResult:
        with Vertical(id="runs"):
            if len(self.run_names) > 1:
                with TabbedContent(id="tabs"):
                    for i, name in enumerate(self.run_names):
                        with TabPane(Path(name).parent.name + "/" + Path(name).name, id=f"run-{i}"):
                            yield RunPanel(self.monitor.runs[name], self.job_for(name), id=f"panel-{i}")
            elif self.run_names:
                name = self.run_names[0]
                yield RunPanel(self.monitor.runs[name], self.job_for(name), id="panel-0")
        yield GpuPanel(self.monitor, self.current_run, id="gpu")
        yield Footer()

    def on_mount(self) -> None:
        self.screen.add_class("-show-gpu", "-show-alerts")
        self._focus_metrics()
        self.bridge.attach(self.post_message)
        if self.loop is not None and hasattr(self.loop, "start"):
            self.loop.start()  # `run`/`demo` start their job here and set the monitor's actions
        notifier = getattr(self.monitor.actions, "notifier", None)
        if notifier is not None and hasattr(notifier, "set_writer"):
            # OSC notifications and the bell go through our driver, not around the screen (while the
            # app runs, sys.stderr is Textual's capture, not the terminal)
            notifier.set_writer(self.write_to_terminal)

    def on_unmount(self) -> None:
        self.bridge.detach()
        notifier = getattr(self.monitor.actions, "notifier", None)
        if notifier is not None and hasattr(notifier, "set_writer"):
            notifier.set_writer(None)  # the screen is gone: nothing of ours to write to
        if self.loop is not None and hasattr(self.loop, "stop"):
            self.loop.stop()  # stops following; never the job

    def panels(self) -> list[RunPanel]:
        return list(self.query(RunPanel))

    def current_panel(self) -> RunPanel | None:
        panels = self.panels()
        tabs = list(self.query(TabbedContent))
        if len(panels) > 1 and tabs:
            active = tabs[0].active
            for i, p in enumerate(panels):
                if f"run-{i}" == active:
                    return p
        return panels[0] if panels else None

    def current_run(self) -> str | None:
        p = self.current_panel()
        return p.run.name if p else None

    def _focus_metrics(self) -> None:
        p = self.current_panel()
        if p is not None:
            p.query_one(MetricTable).focus()

    # -- core → widgets ----------------------------------------------------------------------------

    def on_core_update(self, msg: CoreUpdate) -> None:
        if self.paused:
            return
        wait = self._last_flush + self.refresh_interval - time.monotonic()
        if wait > 0:
            if self._flush_timer is None:
                self._flush_timer = self.set_timer(wait, self.flush)
            return
        self.flush()

    def flush(self) -> None:
        """Drain the bridge and deliver each message to the widgets it concerns."""
        self._flush_timer = None
        self._last_flush = time.monotonic()
        self.flushes += 1
        gpus = list(self.query(GpuPanel))
        if not gpus:
            return  # the screen is not there (yet, or any more)
        gpu = gpus[0]
        panels = {p.run.name: p for p in self.panels()}
        toasts = 0
        for m in self.bridge.drain():
            run = getattr(m, "run", None) or getattr(getattr(m, "alert", None), "run", None)
            panel = panels.get(run) if run else None
            if panel is not None:
                panel.post_message(m)
            if isinstance(m, SamplesChanged):
                if any(x.startswith(("gpu", "job.")) for x in m.metrics):
                    gpu.data_changed()
                if isinstance(self.screen, PlotScreen) and self.screen.run.name == m.run:
                    self.screen.data_changed()
            elif isinstance(m, AlertUpdate):
                if self._alert_toast(m, toasts):
                    toasts += 1
                scr = self.screen
                if isinstance(scr, PlotScreen) and scr.run.name == m.alert.run and m.alert.state == "firing":
                    scr.alert_steps.append((m.alert.step, m.alert.rule))
                    scr.replot()
            elif isinstance(m, ActionUpdate):
                r = m.result
                self.notify(action_text(r), title=f"{r.action} ({r.rule})",
                            severity="error" if r.result in ("refused", "error") else "warning", timeout=6)
                for p in panels.values():
                    p.query_one(RunHeader).refresh()
            elif isinstance(m, RunUpdate) and m.kind == "gpu":
                gpu.set_status(m.detail)
        if toasts > MAX_TOASTS:
            self.notify(f"{toasts - MAX_TOASTS} more alerts: see the alerts panel", timeout=8)

    def _alert_toast(self, m: AlertUpdate, shown: int) -> bool:
        """A toast for a newly firing, unmuted alert; a backlog's many alerts become one summary."""
        a = m.alert
        if a.state != "firing":
            return False
        panel = next((p for p in self.panels() if p.run.name == a.run), None)
        if panel is not None and panel.query_one(AlertsPanel).is_muted(a.rule):
            return False
        if shown < MAX_TOASTS:
            self.notify(a.message, title=f"{a.severity}: {a.rule}",
                        severity=SEVERITY_TOAST.get(a.severity, "warning"), timeout=8)
        return True

    # -- actions (keys, palette) -------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if isinstance(self.screen, ModalScreen) and action not in ("quit", "pop_screen"):
            return False
        return True

    def action_stop_job(self) -> None:
        panel = self.current_panel()
        job = panel.job if panel else None
        if job is None:
            self.notify("No job to stop: losswatch knows no process for this log "
                        "(use --pid, or start it with `losswatch run`).", severity="warning")
            return
        info = job.info(refresh=True)
        if info.problem:
            self.notify(f"Cannot stop: {info.problem}", severity="error")
            return
        if info.state != "running":
            self.notify(f"The job is not running ({info.state}).", severity="warning")
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.notify(f"Stopping pid {info.pid}…", severity="warning")
                self.run_worker(lambda: self._stop(job), thread=True, group="stop")

        self.push_screen(StopDialog(info, self.stop_countdown), confirmed)

    def _stop(self, job: JobControl) -> None:
        try:
            outcome = job.stop()
        except Exception as e:  # the action layer reports; the screen must stay up
            outcome = f"stop failed: {e}"
        self.from_any_thread(self.notify, str(outcome), title="stop", severity="warning", timeout=10)
        self.from_any_thread(self._refresh_headers)

    def _refresh_headers(self) -> None:
        for p in self.panels():
            p.query_one(RunHeader).refresh()

    def action_mute(self) -> None:
        panel = self.current_panel()
        if panel is None:
            return
        alerts = panel.query_one(AlertsPanel)
        a = alerts.current() if alerts.has_focus else next(
            (x for x in reversed(list(alerts.alerts.values())) if x.state == "firing"), alerts.current())
        if a is None:
            self.notify("No alert to mute.")
            return
        alerts.mute(a.rule, MUTE_SECONDS)
        if self._silence is not None:
            self._call_core(lambda: self._silence(a.run, a.rule, MUTE_SECONDS))
        self.notify(f"{a.rule} muted for {MUTE_SECONDS // 60} minutes.")

    def action_smoothing(self, delta: int) -> None:
        now = self.smoothing
        if now is None:
            now = self.screen.span() if isinstance(self.screen, PlotScreen) else 50
        i = min(range(len(SMOOTHING_STEPS)), key=lambda k: abs(SMOOTHING_STEPS[k] - now))
        self.smoothing = SMOOTHING_STEPS[max(0, min(len(SMOOTHING_STEPS) - 1, i + delta))]
        self._replot()
        self.notify(f"EMA over {self.smoothing} steps" if self.smoothing else "no smoothing", timeout=2)

    def action_log_y(self) -> None:
        self.log_y = not self.log_y
        self._replot()
        self.notify(f"{'log' if self.log_y else 'linear'} y axis", timeout=2)

    def _replot(self) -> None:
        if isinstance(self.screen, PlotScreen):
            self.screen.replot()

    def action_pause(self) -> None:
        self.paused = not self.paused
        for p in self.panels():
            header = p.query_one(RunHeader)
            header.paused = self.paused
            header.refresh()
        if not self.paused and self.bridge.pending():
            self.flush()

    def action_reload_rules(self) -> None:
        if self._reload_rules is None:
            self.notify("No rule files to reload here.", severity="warning")
            return
        hook = self._reload_rules

        def reload() -> None:
            try:
                text = hook()
            except Exception as e:  # a bad rule file: say so, keep the old rules
                text = f"rules not reloaded: {e}"
            self.from_any_thread(self.notify, text or "rules reloaded", title="rules")

        self._call_core(reload)

    def from_any_thread(self, fn: Callable[..., object], *args: Any, **kw: Any) -> None:
        """Call a UI method from the UI thread or from another one (a hook may run on either)."""
        if threading.get_ident() == self._thread_id:
            fn(*args, **kw)
        else:
            self.call_from_thread(fn, *args, **kw)

    def write_to_terminal(self, data: str | bytes) -> None:
        """Write raw bytes (OSC notifications, the bell) to the terminal through Textual's driver,
        from any thread, so they do not tear the screen. The action layer's notify uses this as its
        writer while the TUI is up."""
        text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data

        def write() -> None:
            driver = self._driver
            if driver is not None:
                driver.write(text)
                driver.flush()

        self.from_any_thread(write)

    def _call_core(self, fn: Callable[[], object]) -> None:
        """Run a core method on the feeding thread when there is one (the core is single-threaded)."""
        if self.loop is not None and hasattr(self.loop, "post"):
            self.loop.post(fn)
        else:
            self.run_worker(fn, thread=True)

    def action_switch_run(self, delta: int) -> None:
        if len(self.run_names) < 2:
            return
        tabs = self.query_one(TabbedContent)
        ids = [f"run-{i}" for i in range(len(self.run_names))]
        i = ids.index(tabs.active) if tabs.active in ids else 0
        self.set_focus(None)  # the focused table is about to be hidden; the new run's takes over
        tabs.active = ids[(i + delta) % len(ids)]

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        """Another run is shown (key or click): its metric rows take the keys, the GPU panel follows."""
        tables = list(event.pane.query(MetricTable))
        focused = self.focused
        if tables and (focused is None or event.pane not in focused.ancestors):
            self.call_after_refresh(tables[0].focus)
        for gpu in self.query(GpuPanel):
            gpu.data_changed()

    def action_toggle_pane(self, pane: str) -> None:
        self.screen.toggle_class(f"-show-{pane}")
        if pane == "log":
            for p in self.panels():
                p.query_one("LogPane").data_changed()

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    # -- widget requests ---------------------------------------------------------------------------

    def on_metric_table_opened(self, msg: MetricTable.Opened) -> None:
        run = self.monitor.runs[msg.run]
        panel = next((p for p in self.panels() if p.run.name == msg.run), None)
        steps = list(panel.query_one(AlertsPanel).fired) if panel is not None else []
        self.push_screen(PlotScreen(run, msg.metric, steps))

    def on_alerts_panel_opened(self, msg: AlertsPanel.Opened) -> None:
        self.push_screen(ContextScreen(msg.alert, msg.alert.run))

    def get_system_commands(self, screen: Screen):
        yield from super().get_system_commands(screen)
        yield SystemCommand("Stop the job", "Stop the training job (asks first)", self.action_stop_job)
        yield SystemCommand("Mute alert", "Silence the selected alert for 15 minutes", self.action_mute)
        yield SystemCommand("Smoothing up", "More EMA smoothing in plots", lambda: self.action_smoothing(1))
        yield SystemCommand("Smoothing down", "Less EMA smoothing in plots", lambda: self.action_smoothing(-1))
        yield SystemCommand("Log-Y", "Toggle a logarithmic y axis in plots", self.action_log_y)
        yield SystemCommand("Pause / resume", "Freeze the view; data keeps being read", self.action_pause)
        yield SystemCommand("Reload rules", "Read the rule files again", self.action_reload_rules)
        yield SystemCommand("Next run", "Show the next followed log", lambda: self.action_switch_run(1))
        yield SystemCommand("Previous run", "Show the previous followed log", lambda: self.action_switch_run(-1))
        yield SystemCommand("Toggle log pane", "Show the raw log", lambda: self.action_toggle_pane("log"))
        yield SystemCommand("Toggle GPU panel", "Show GPU use", lambda: self.action_toggle_pane("gpu"))
        yield SystemCommand("Toggle alerts", "Show the alerts panel", lambda: self.action_toggle_pane("alerts"))
        yield SystemCommand("Help", "Keys and what they do", self.action_help)
