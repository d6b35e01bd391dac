"""The GPU panel over the real sampler and the fake NVML module (the only fake: no GPU on CI)."""

from __future__ import annotations

import asyncio
import time

from losswatch.gpu import attach_to_loop
from losswatch.live import LiveLoop
from losswatch.monitor import Monitor
from losswatch.tui import make_app
from tests.fakenvml import FakeDevice, FakeNvml, build_module
from tests.tui.helpers import screen_text


async def _until(pilot, cond, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        await pilot.pause(0.05)


def _app(kv_log, fake: FakeNvml):
    monitor = Monitor()
    loop = LiveLoop(monitor)
    monitor.add_run(str(kv_log))
    app = make_app(monitor, loop, [str(kv_log)], refresh_interval=0.05)
    sampler = attach_to_loop(loop, monitor, interval=0.05, lib=build_module(fake))
    return app, sampler


def test_two_devices_with_bars_sparklines_temperature_and_power(kv_log):
    fake = FakeNvml(devices=[
        FakeDevice(util=[10, 50, 90, 97], mem_used_mib=[40960], temp=[71], power_w=[312.0]),
        FakeDevice(util=[0], mem_used_mib=[1024], temp=[38], power_w=[61.0]),
    ])

    async def go():
        app, sampler = _app(kv_log, fake)
        try:
            async with app.run_test(size=(100, 30)) as pilot:
                await _until(pilot, lambda: "97%" in screen_text(app) and "38°C" in screen_text(app))
                text = screen_text(app)
                gpu0 = next(ln for ln in text.splitlines() if ln.strip().startswith("GPU0"))
                gpu1 = next(ln for ln in text.splitlines() if ln.strip().startswith("GPU1"))
                assert "█" in gpu0 and "71°C" in gpu0 and "312W" in gpu0 and "50%" in gpu0  # 40 of 80 GiB
                assert "40.0G" in gpu0
                assert "  0%" in gpu1 and "38°C" in gpu1 and "61W" in gpu1
                assert any(c in gpu0 for c in "▁▂▃▄▅▆▇")  # the util sparkline
                assert "no GPU" not in text
        finally:
            sampler.stop()

    asyncio.run(go())


def test_no_gpu_is_said_clearly(kv_log):
    async def go():
        app, sampler = _app(kv_log, FakeNvml(init_error="DriverNotLoaded"))
        try:
            async with app.run_test(size=(80, 24)) as pilot:
                await _until(pilot, lambda: "GPU rules are inactive" in screen_text(app))
                assert "no GPU" in screen_text(app)
        finally:
            sampler.stop()

    asyncio.run(go())
