"""GPU panel: per device utilisation and memory bars with sparklines, temperature, power, and the
job's own GPU memory, from the GPU series in the store (`gpu0.util`, `gpu0.mem_frac`, …,
`job.gpu_mem`). Shows a clear "no GPU" line when the sampler gave nothing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

from rich.text import Text
from textual.widget import Widget

from losswatch.monitor import Monitor, Run
from losswatch.store import Series
from losswatch.tui import series_view as sv

DEVICE_RE = re.compile(r"^gpu(\d+)\.(\w+)$")


def gpu_devices(run: Run) -> dict[str, dict[str, Series]]:
    """Device label → field → series. Per-device series when there are any, else the aggregate."""
    devices: dict[str, dict[str, Series]] = {}
    aggregate: dict[str, Series] = {}
    for name, s in list(run.store.series.items()):
        m = DEVICE_RE.match(name)
        if m:
            devices.setdefault(f"GPU{m.group(1)}", {})[m.group(2)] = s
        elif name.startswith("gpu."):
            aggregate[name[4:]] = s
    if not devices and aggregate:
        devices["GPU"] = aggregate
    return dict(sorted(devices.items(), key=lambda kv: int(kv[0][3:] or -1)))


def bar(frac: float, width: int) -> Text:
    if not math.isfinite(frac):
        return Text("?" * width, style="red")
    frac = max(0.0, min(1.0, frac))
    full = int(round(frac * width))
    style = "green" if frac < 0.7 else "yellow" if frac < 0.9 else "red"
    return Text("█" * full, style=style) + Text("░" * (width - full), style="dim")


def _last(fields: dict[str, Series], key: str) -> float:
    s = fields.get(key)
    return s.last.value if s is not None and s.last is not None else math.nan


def _mem_text(mib: float) -> str:
    """Memory from MiB (the sampler's unit), in GiB."""
    if not math.isfinite(mib):
        return "?"
    return f"{mib / 1024:.1f}G"


class GpuPanel(Widget):
    def __init__(self, monitor: Monitor, current: Callable[[], str | None], **kw) -> None:
        super().__init__(**kw)
        self.monitor = monitor
        self.current = current
        self.status: dict = {}  # the sampler's last word ("no_gpu" and why, "device_lost", ...)

    def set_status(self, detail: dict) -> None:
        self.status = dict(detail)
        self.refresh(layout=True)

    def _run(self) -> Run | None:
        """The current run when it has GPU series, else any run that has them."""
        runs = list(self.monitor.runs.values())
        name = self.current()
        cur = self.monitor.runs.get(name) if name else None
        for r in ([cur] if cur else []) + runs:
            if any(n.startswith("gpu") for n in list(r.store.series)):
                return r
        return cur

    def data_changed(self) -> None:
        self.refresh(layout=True)

    def get_content_height(self, container, viewport, width: int) -> int:
        run = self._run()
        if run is None:
            return 1
        n = len(gpu_devices(run))
        extra = self.status.get("status") not in (None, "ready", "device_ok", "answering", "no_gpu")
        return max(1, n + (1 if run.store.get("job.gpu_mem") else 0) + (1 if n and extra else 0))

    def render(self) -> Text:
        run = self._run()
        devices = gpu_devices(run) if run is not None else {}
        if not devices:
            if self.status.get("message"):
                return Text(str(self.status["message"]), style="dim italic")
            return Text("no GPU: no GPU samples (no NVIDIA device or driver seen)", style="dim italic")
        width = self.size.width
        bar_w = 10 if width >= 100 else 6
        spark_w = max(0, min(24, width - 2 * bar_w - 48))
        out = Text(no_wrap=True, overflow="ellipsis")
        for i, (label, f) in enumerate(devices.items()):
            if i:
                out.append("\n")
            util = _last(f, "util")
            mem = _last(f, "mem_frac")
            out.append(f"{label:<5}", style="bold")
            out.append(" util ")
            out.append_text(bar(util / 100, bar_w))
            out.append(f" {sv.fmt(round(util)) if math.isfinite(util) else '?':>3}%")
            if spark_w and "util" in f:
                text, _ = sv.spark(sv.overview_values(f["util"]), spark_w, "mean", (0.0, 100.0))
                out.append(f" {text}", style="cyan")
            out.append("  mem ")
            out.append_text(bar(mem, bar_w))
            out.append(f" {round(mem * 100) if math.isfinite(mem) else '?':>3}%")
            if "mem_used" in f:
                out.append(f" {_mem_text(_last(f, 'mem_used'))}")
            temp, power = _last(f, "temp"), _last(f, "power")
            if math.isfinite(temp):
                out.append(f"  {temp:.0f}°C", style="red" if temp >= 85 else "")
            if math.isfinite(power):
                out.append(f"  {power:.0f}W")
        job = run.store.get("job.gpu_mem") if run is not None else None
        if job is not None and job.last is not None:
            out.append("\n")
            out.append(f"job GPU memory {_mem_text(job.last.value)}", style="bold")
        if self.status.get("status") not in (None, "ready", "device_ok", "answering", "no_gpu"):
            out.append("\n")
            out.append(str(self.status.get("message", "")), style="yellow")
        return out
