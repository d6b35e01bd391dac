"""Pilot tests: each panel and each key of the TUI, over a Monitor fed from real files by a thread."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time

from losswatch.commands.demo import DemoJob
from losswatch.events import ActionDone, AlertChanged
from losswatch.live import LiveLoop
from losswatch.model import ActionResult, Alert
from losswatch.monitor import Monitor
from losswatch.tui import make_app
from losswatch.tui.screens.context_screen import ContextScreen
from losswatch.tui.screens.help_screen import HelpScreen
from losswatch.tui.screens.plot_screen import PlotScreen
from losswatch.tui.screens.stop_dialog import StopDialog
from losswatch.tui.widgets.alerts_panel import AlertsPanel
from losswatch.tui.widgets.metric_table import MetricTable
from tests.tui.helpers import replayed, screen_text, settle


async def _until(pilot, cond, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.02)


def _row(text: str, metric: str) -> str:
    return next(line for line in text.splitlines() if line.strip().startswith(metric + " "))


def test_metric_rows_show_last_best_and_sparkline(kv_log):
    async def go():
        app, monitor, reps = replayed([kv_log])
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot, app, reps)
            text = screen_text(app)
            s = monitor.runs[str(kv_log)].store.get("loss")
            row = _row(text, "loss")
            assert f"{s.last.value:.4g}"[:5] in row
            assert any(c in row for c in "▁▂▃▄▅▆▇█")
            assert "↓" in row  # loss is falling
            assert "val_loss" in text and "lr" in text
            assert "train.log" in text.splitlines()[0] and "step 120" in text.splitlines()[0]
            assert "no GPU" in text and "no alerts" in text

    asyncio.run(go())


def test_nan_is_shown_as_nan(nan_log):
    async def go():
        app, _, reps = replayed([nan_log])
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot, app, reps)
            row = _row(screen_text(app), "loss")
            assert " nan " in row and "×" in row

    asyncio.run(go())


def test_enter_opens_the_plot_and_keys_change_it(kv_log):
    async def go():
        app, _, reps = replayed([kv_log])
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(pilot, app, reps)
            await pilot.press("enter")
            assert isinstance(app.screen, PlotScreen) and app.screen.metric == "loss"
            title = lambda: str(app.screen.query_one("#plot-title").render())  # noqa: E731
            assert "loss + val_loss" in title() and "EMA 5 steps" in title()  # 120 steps: ~1/30 of them
            await pilot.press("plus")
            assert app.smoothing == 10 and "EMA 10 steps" in title()
            await pilot.press("plus", "plus", "minus", "minus", "minus")
            assert app.smoothing == 5
            await pilot.press("minus")
            assert app.smoothing == 0 and "raw" in title()
            await pilot.press("y")
            assert app.log_y and "log y" in title()
            await pilot.press("x")
            assert app.screen.wall
            text = screen_text(app)
            assert "wall time" in text
            await pilot.press("escape")
            assert not isinstance(app.screen, PlotScreen)

    asyncio.run(go())


def test_cursor_moves_between_metrics(kv_log):
    async def go():
        app, _, reps = replayed([kv_log])
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot, app, reps)
            table = app.query_one(MetricTable)
            assert table.current() == "loss"
            await pilot.press("down")
            assert table.current() == "val_loss"
            await pilot.press("down", "enter")
            assert app.screen.metric == "lr"

    asyncio.run(go())


def test_pane_toggles(kv_log):
    async def go():
        app, _, reps = replayed([kv_log])
        async with app.run_test(size=(80, 30)) as pilot:
            await settle(pilot, app, reps)
            log = app.query_one("LogPane")
            assert not log.display
            await pilot.press("l")
            await pilot.pause()
            assert log.display
            last = kv_log.read_text().splitlines()[-1]
            await _until(pilot, lambda: last in screen_text(app))
            await pilot.press("g")
            assert not app.query_one("#gpu").display
            await pilot.press("a")
            assert not app.query_one(AlertsPanel).display
            await pilot.press("g", "a", "l")
            assert app.query_one("#gpu").display and app.query_one(AlertsPanel).display and not log.display

    asyncio.run(go())


def test_pause_freezes_the_view_and_resume_catches_up(kv_log, tmp_path):
    async def go():
        monitor = Monitor()
        run = monitor.add_run(str(kv_log))
        app = make_app(monitor, None, [str(kv_log)])
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("p")
            assert "PAUSED" in screen_text(app)
            t = threading.Thread(target=lambda: (monitor.feed(run, kv_log.read_bytes()), monitor.finish(run)))
            t.start()
            t.join()
            await pilot.pause(0.4)
            assert "waiting for metrics" in screen_text(app)
            await pilot.press("p")
            await _until(pilot, lambda: "loss " in screen_text(app))
            assert "PAUSED" not in screen_text(app)

    asyncio.run(go())


def test_bursts_are_coalesced_into_a_few_refreshes(kv_log):
    async def go():
        monitor = Monitor()
        run = monitor.add_run(str(kv_log))
        run = monitor.add_run(str(kv_log), "kv")  # format fixed: samples flow from the first line
        app = make_app(monitor, None, [str(kv_log)], refresh_interval=0.2)
        async with app.run_test(size=(80, 24)) as pilot:
            lines = kv_log.read_bytes().splitlines(keepends=True)

            def feed():
                for ln in lines:  # one feed per line, ~10 ms apart: ~1.5 s of data
                    monitor.feed(run, ln)
                    time.sleep(0.01)

            t = threading.Thread(target=feed)
            t0 = time.monotonic()
            t.start()
            while t.is_alive():
                await pilot.pause(0.05)
            elapsed = time.monotonic() - t0
            await pilot.pause(0.3)
            assert app.bridge.events >= len(lines) - 10
            # at most one refresh per interval while data flows (plus the last one)
            assert 1 <= app.flushes <= elapsed / 0.2 + 2

    asyncio.run(go())


def _alert(run: str, state: str = "firing", line: int = 100, step: float = 99.0) -> Alert:
    return Alert("nonfinite_loss", "critical", run, state, step, line, float("nan"),
                 "loss is NaN at step 99", advice="Lower the learning rate; check the data.")


def test_alerts_panel_mute_and_context(nan_log):
    async def go():
        app, monitor, reps = replayed([nan_log])
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(pilot, app, reps)
            text_line = nan_log.read_text().splitlines()[99]
            monitor.emit(AlertChanged(_alert(str(nan_log))))
            await settle(pilot, app)
            text = screen_text(app)
            assert "CRIT" in text and "nonfinite_loss" in text and "loss is NaN" in text
            assert "Lower the learning rate" in text
            panel = app.query_one(AlertsPanel)
            assert panel.has_class("-firing")
            assert any("nonfinite_loss" in str(n.title) for n in app._notifications)
            await pilot.press("m")
            assert panel.is_muted("nonfinite_loss") and "muted 15m" in screen_text(app)
            await pilot.click(AlertsPanel, offset=(10, 0), times=2)  # double click: its log lines
            assert isinstance(app.screen, ContextScreen)
            await pilot.press("escape")
            assert panel.has_focus  # the click gave it the keys
            await pilot.press("enter")
            assert isinstance(app.screen, ContextScreen)
            await _until(pilot, lambda: text_line in screen_text(app))
            assert "    100 " in screen_text(app)
            await pilot.press("escape")
            monitor.emit(AlertChanged(_alert(str(nan_log), state="resolved", step=110)))
            await settle(pilot, app)
            assert not panel.has_class("-firing") and "resolved at step 110" in screen_text(app)

    asyncio.run(go())


def test_action_results_are_shown(kv_log):
    async def go():
        app, monitor, reps = replayed([kv_log])
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot, app, reps)
            monitor.emit(ActionDone(ActionResult("notify", "diverging", str(kv_log), "terminal", "sent")))
            await settle(pilot, app)
            assert any(n.title == "notify (diverging)" and str(n.message) == "sent" for n in app._notifications)

    asyncio.run(go())


def test_stop_key_asks_then_stops_a_real_job(tmp_path):
    async def go():
        log = tmp_path / "job.log"
        log.write_bytes(b"")
        monitor = Monitor()
        run = monitor.add_run(str(log))
        job = DemoJob(LiveLoop(monitor), run, str(log), interval=0.05)
        app = make_app(monitor, job, [str(log)])
        async with app.run_test(size=(80, 24)) as pilot:
            await _until(pilot, lambda: job.proc is not None and log.stat().st_size > 0)
            await pilot.press("s")
            assert isinstance(app.screen, StopDialog)
            detail = lambda: str(app.screen.query_one("#stop-detail").render())  # noqa: E731
            await _until(pilot, lambda: f"pid        {job.proc.pid}" in detail())
            text = detail() + str(app.screen.query_one("#stop-countdown").render())
            assert "simulated_job.py" in text and "SIGINT" in text and "closes without stopping in" in text
            await pilot.press("s")  # app keys are off while the dialog is up
            assert len(app.screen_stack) == 2
            await pilot.press("y")
            await _until(pilot, lambda: job.done.is_set())
            assert job.returncode == 130  # the job's own SIGINT handler ran
            assert "checkpoint saved" in log.read_text()
            await settle(pilot, app)
            notes = [str(n.message) for n in app._notifications]
            assert any(n.startswith("signal-sent · SIGINT to pid") for n in notes), notes
            assert any(n.startswith("done") and "exited after SIGINT" in n for n in notes), notes
        job.kill()

    asyncio.run(go())


def test_stop_dialog_cancels_itself_and_quit_leaves_the_job_running(tmp_path):
    async def go():
        log = tmp_path / "job.log"
        log.write_bytes(b"")
        monitor = Monitor()
        run = monitor.add_run(str(log))
        job = DemoJob(LiveLoop(monitor), run, str(log), interval=0.05)
        app = make_app(monitor, job, [str(log)], stop_countdown=1)
        try:
            async with app.run_test(size=(80, 24)) as pilot:
                await _until(pilot, lambda: job.proc is not None)
                await pilot.press("s")
                assert isinstance(app.screen, StopDialog)
                await _until(pilot, lambda: not isinstance(app.screen, StopDialog), timeout=5)
                await pilot.press("s", "n")
                assert not isinstance(app.screen, StopDialog)
                await pilot.press("q")
            assert job.proc.poll() is None  # quitting never stops the job
            os.kill(job.proc.pid, 0)
        finally:
            job.kill()

    asyncio.run(go())


def test_stop_without_a_job_says_so(kv_log):
    async def go():
        app, _, reps = replayed([kv_log])
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot, app, reps)
            await pilot.press("s")
            assert not isinstance(app.screen, StopDialog)
            assert any("Cannot stop: no action layer" in str(n.message) for n in app._notifications)

    asyncio.run(go())


def test_several_runs_are_tabs_and_brackets_switch(kv_log, nan_log):
    async def go():
        app, _, reps = replayed([kv_log, nan_log])
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot, app, reps)
            assert app.current_run() == str(kv_log)
            await pilot.press("right_square_bracket")
            await pilot.pause()
            assert app.current_run() == str(nan_log)
            assert " nan " in _row(screen_text(app), "loss")
            await _until(pilot, lambda: isinstance(app.focused, MetricTable))
            assert app.focused.run.name == str(nan_log)  # the keys go to the run on screen
            await pilot.press("tab")
            assert isinstance(app.focused, AlertsPanel) and app.focused.run == str(nan_log)
            await pilot.press("left_square_bracket")
            await pilot.pause()
            assert app.current_run() == str(kv_log)

    asyncio.run(go())


def test_reload_rules_runs_on_the_feeding_thread(kv_log):
    async def go():
        called = []
        hook = lambda: called.append(threading.current_thread().name) or "3 rules loaded"  # noqa: E731
        app, _, reps = replayed([kv_log], reload_rules=hook)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot, app, reps)
            await pilot.press("r")
            await _until(pilot, lambda: any("3 rules loaded" in str(n.message) for n in app._notifications))
            assert called == ["losswatch-live"]  # core calls run on the loop thread
            assert app.loop.posted == 1

    asyncio.run(go())


def test_help_and_command_palette(kv_log):
    async def go():
        app, _, reps = replayed([kv_log])
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot, app, reps)
            await pilot.press("question_mark")
            assert isinstance(app.screen, HelpScreen)
            await pilot.pause()
            assert "stop the job" in screen_text(app)
            await pilot.press("escape")
            await pilot.press("ctrl+p")
            await pilot.pause()
            for ch in "Log-Y":
                await pilot.press(ch if ch != "-" else "minus")
            await pilot.pause(0.3)
            await pilot.press("enter")
            await _until(pilot, lambda: app.log_y)

    asyncio.run(go())


def test_demo_job_is_a_real_child_process(tmp_path):
    log = tmp_path / "demo.log"
    log.write_bytes(b"")
    monitor = Monitor()
    run = monitor.add_run(str(log))
    job = DemoJob(LiveLoop(monitor), run, str(log), interval=0.0)
    job.start()
    assert job.done.wait(30)
    job.stop()
    assert job.returncode == 0 and job.cmdline[0] == sys.executable
    assert "Training completed." in log.read_text()
    assert run.reader.lines_read == len(log.read_text().splitlines())


def test_plot_marks_alert_steps_also_when_they_fire_while_open(nan_log):
    async def go():
        app, monitor, reps = replayed([nan_log])
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(pilot, app, reps)
            monitor.emit(AlertChanged(_alert(str(nan_log))))
            await settle(pilot, app)
            await pilot.press("enter")
            title = lambda: str(app.screen.query_one("#plot-title").render())  # noqa: E731
            assert "nonfinite_loss@99" in title() and "non-finite from 100" in title()
            monitor.emit(AlertChanged(Alert("diverging", "critical", str(nan_log), "firing", 97.0, 98, 5.0, "up")))
            await settle(pilot, app)
            assert "diverging@97" in title()

    asyncio.run(go())


def test_a_backlog_of_alerts_is_a_few_toasts_not_a_storm(kv_log):
    async def go():
        app, monitor, reps = replayed([kv_log])
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot, app, reps)
            for i in range(10):
                monitor.emit(AlertChanged(Alert(f"rule{i}", "warning", str(kv_log), "firing", i, i + 1, 1.0, f"m{i}")))
            await settle(pilot, app)
            notes = [str(n.message) for n in app._notifications]
            assert len(notes) == 4 and notes[-1] == "7 more alerts: see the alerts panel"
            assert len(app.query_one(AlertsPanel).alerts) == 10

    asyncio.run(go())


def test_following_a_log_that_appears_later(tmp_path):
    async def go():
        path = tmp_path / "later.log"
        monitor = Monitor()
        loop = LiveLoop(monitor)
        loop.follow(str(path), str(path), poll=0.05)
        app = make_app(monitor, loop, [str(path)])
        async with app.run_test(size=(80, 24)) as pilot:
            await _until(pilot, lambda: "waiting for the file" in screen_text(app).splitlines()[0])
            with open(path, "w") as f:
                for s in range(1, 30):
                    f.write(f"{{'loss': {2.0 / s:.4f}, 'learning_rate': 1e-4, 'epoch': 0.1, 'step': {s}}}\n")
            await _until(pilot, lambda: "step 29" in screen_text(app).splitlines()[0], timeout=15)
            assert "waiting" not in screen_text(app).splitlines()[0]
            assert "hf_trainer" in screen_text(app).splitlines()[0]

    asyncio.run(go())


def test_many_alerts_scroll_with_the_cursor(kv_log):
    async def go():
        app, monitor, reps = replayed([kv_log])
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot, app, reps)
            for i in range(12):
                monitor.emit(AlertChanged(Alert(f"rule{i:02d}", "warning", str(kv_log), "firing", i, i + 1, 1.0,
                                                f"message {i}", advice="advice")))
            await settle(pilot, app)
            assert "rule00" in screen_text(app) and "rule11" not in screen_text(app)  # max 8 rows
            await pilot.press("tab", *["down"] * 11)
            await _until(pilot, lambda: "rule11" in screen_text(app))
            assert "rule00" not in screen_text(app)

    asyncio.run(go())


def test_click_selects_a_metric_and_double_click_plots_it(kv_log):
    async def go():
        app, _, reps = replayed([kv_log])
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot, app, reps)
            table = app.query_one(MetricTable)
            await pilot.click(MetricTable, offset=(3, 3))  # header row, loss, val_loss, lr
            assert table.current() == "lr"
            await pilot.click(MetricTable, offset=(3, 2), times=2)
            assert isinstance(app.screen, PlotScreen) and app.screen.metric == "val_loss"

    asyncio.run(go())
