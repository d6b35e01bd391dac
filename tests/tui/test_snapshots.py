"""Snapshot tests (pytest-textual-snapshot) of the real TUI on real corpus logs, at 80×24 and larger.

Each log is read whole before the snapshot, the clock is fixed, so the picture depends only on the
log, its parser and the screen. Update after an intended change with `pytest tests/tui --snapshot-update`.
"""

from __future__ import annotations

import pytest

from tests.tui.helpers import replayed, settle

LOGS = {
    "keras_overfit": "keras/dlwp-cats-dogs-convnet_overfit.log",
    "mmengine": "mmengine/rtmdet-tiny-ear_200ep.log",
    "nanogpt": "modded_nanogpt/muon_6200steps.log",
}


def _snap(snap_compare, paths, size, press=()):
    # No rule engine: the shipped rules are tuned often and each change would redraw these pictures;
    # the alerts panel has its own pilot tests. The parsers and the screen are what is pinned here.
    app, _, reps = replayed(paths)

    async def ready(pilot):
        await settle(pilot, app, reps)
        app.clear_notifications()  # toasts time out: not part of a stable picture
        await pilot.pause()

    return snap_compare(app, terminal_size=size, run_before=ready, press=list(press))


@pytest.mark.parametrize("name", sorted(LOGS))
@pytest.mark.parametrize("size", [(80, 24), (140, 40)], ids=["80x24", "140x40"])
def test_main_screen(snap_compare, corpus, name, size):
    assert _snap(snap_compare, [corpus / LOGS[name]], size)


def test_plot_screen(snap_compare, corpus):
    assert _snap(snap_compare, [corpus / LOGS["keras_overfit"]], (100, 30), press=["down", "enter"])


def test_two_runs_with_log_pane(snap_compare, corpus):
    paths = [corpus / LOGS["keras_overfit"], corpus / LOGS["mmengine"]]
    assert _snap(snap_compare, paths, (120, 36), press=["l"])
