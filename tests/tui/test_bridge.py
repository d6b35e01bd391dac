"""The bridge: core events from another thread become few Textual messages, nothing lost."""

from __future__ import annotations

import threading

from losswatch.events import AlertChanged, RunChanged, SamplesAdded
from losswatch.model import Alert, SampleBatch
from losswatch.tui.bridge import Bridge
from losswatch.tui.messages import AlertUpdate, CoreUpdate, RunUpdate, SamplesChanged


def _batch(metric: str, n: int) -> SampleBatch:
    b = SampleBatch(0.0)
    for i in range(n):
        b.add(metric, float(i), 1.0, i + 1)
    return b


def test_a_burst_is_one_wake_and_one_message_per_run():
    woken = []
    bridge = Bridge()
    bridge.attach(woken.append)

    def feed():
        for i in range(5000):
            bridge(SamplesAdded("a", _batch("loss" if i % 2 else "lr", 3)))
            bridge(SamplesAdded("b", _batch("acc", 1)))

    t = threading.Thread(target=feed)
    t.start()
    t.join()
    assert len(woken) == 1 and isinstance(woken[0], CoreUpdate)
    msgs = bridge.drain()
    got = {m.run: m for m in msgs if isinstance(m, SamplesChanged)}
    assert got["a"].metrics == {"loss", "lr"} and got["a"].count == 15000
    assert got["b"].count == 5000
    assert not bridge.pending() and bridge.drain() == []
    bridge(SamplesAdded("a", _batch("loss", 1)))
    assert len(woken) == 2  # woken again after a drain


def test_alerts_and_run_changes_keep_their_order_and_are_copies():
    bridge = Bridge()
    a = Alert("diverging", "critical", "r", "firing", 5.0, 6, 9.0, "loss rose")
    bridge(AlertChanged(a))
    a.state = "resolved"  # the engine may reuse its object; the face keeps what it was told
    bridge(RunChanged("r", "truncated"))
    bridge(AlertChanged(a))
    msgs = bridge.drain()
    assert [type(m) for m in msgs] == [AlertUpdate, RunUpdate, AlertUpdate]
    assert msgs[0].alert.state == "firing" and msgs[2].alert.state == "resolved"


def test_attach_wakes_at_once_when_data_came_first():
    bridge = Bridge()
    bridge(SamplesAdded("a", _batch("loss", 2)))
    woken = []
    bridge.attach(woken.append)
    assert len(woken) == 1


def test_core_update_replaces_a_queued_one():
    assert CoreUpdate().can_replace(CoreUpdate())
