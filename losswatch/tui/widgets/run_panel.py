"""Everything about one run: header, metric rows, alerts, and the raw log pane (hidden at first)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical

from losswatch.monitor import Run
from losswatch.tui.job import JobControl
from losswatch.tui.messages import AlertUpdate, RunUpdate, SamplesChanged
from losswatch.tui.widgets.alerts_panel import AlertsPanel
from losswatch.tui.widgets.log_pane import LogPane
from losswatch.tui.widgets.metric_table import MetricTable
from losswatch.tui.widgets.run_header import RunHeader


class RunPanel(Vertical):
    def __init__(self, run: Run, job: JobControl | None = None, **kw) -> None:
        super().__init__(**kw)
        self.run = run
        self.job = job

    def compose(self) -> ComposeResult:
        yield RunHeader(self.run, self.job, classes="run-header")
        yield MetricTable(self.run, classes="metrics")
        yield AlertsPanel(self.run.name, classes="alerts")
        yield LogPane(self.run.name, classes="log-pane")

    def on_mount(self) -> None:
        for a in list(self.run.alerts):  # alerts from before the screen opened
            self.query_one(AlertsPanel).add(a)

    def on_samples_changed(self, msg: SamplesChanged) -> None:
        if all(m.startswith(("gpu", "job.")) for m in msg.metrics):
            return  # the sampler's readings: the GPU panel shows them, the log did not grow
        self.query_one(RunHeader).refresh()
        self.query_one(MetricTable).data_changed()
        self.query_one(LogPane).data_changed()

    def on_alert_update(self, msg: AlertUpdate) -> None:
        self.query_one(AlertsPanel).add(msg.alert)

    def on_run_update(self, msg: RunUpdate) -> None:
        header = self.query_one(RunHeader)
        header.source_changed(msg.kind, msg.detail)
        header.refresh()
        self.query_one(LogPane).data_changed()
