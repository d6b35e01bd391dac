"""The generic kv fallback decides on clear training records without waiting for 2000 lines."""

from __future__ import annotations

from losswatch.ingest.reader import LogReader


def _lines(n: int, start: int = 0) -> bytes:
    return "".join(f"step={i} loss={2.0 / (i + 1):.4f} lr=0.001\n" for i in range(start, start + n)).encode()


def test_ten_records_decide_kv_live():
    reader = LogReader()
    steps: list[float] = []
    decided_at = None
    for i in range(30):  # a live job printing one record at a time
        batch = reader.feed(_lines(1, i))
        steps += [s for m, s in zip(batch.metrics, batch.steps, strict=True) if m == "loss"]
        if decided_at is None and reader.format_name is not None:
            decided_at = i + 1
    assert reader.format_name == "kv"
    assert decided_at is not None and decided_at <= 15  # not 2000 lines
    assert steps == list(range(30))  # what was held back while undecided is neither lost nor doubled


def test_known_family_still_wins_over_kv():
    reader = LogReader()
    text = "".join(f"step {i}: train loss {3.0 - i * 0.01:.4f}, val loss {3.1 - i * 0.01:.4f}\n" for i in range(12))
    text += "".join(f"iter {i}: loss {2.0:.4f}, time 12.00ms, mfu 30.00%\n" for i in range(12))
    reader.feed(text.encode())
    reader.finish()
    assert reader.format_name == "nanogpt"


def test_a_sentence_stating_a_fact_is_no_metric():
    """'Number of classes: 10' is a stated class count (meta.classes), not a series named 'of classes';
    a two-word metric name ('train loss: 0.5') is still read."""
    reader = LogReader(format_name="kv")
    text = "Number of classes: 10\nSize of the dataset: 50000\n"
    text += "".join(f"step: {i} train loss: {1.0 / (i + 1):.4f}\n" for i in range(5))
    batch = reader.feed(text.encode())
    metrics = set(batch.metrics)
    assert "meta.classes" in metrics
    assert not any("of" in m.split("_") or m.startswith("the") for m in metrics), metrics
    assert [v for m, v in zip(batch.metrics, batch.values, strict=True) if m == "loss"] == [
        round(1.0 / (i + 1), 4) for i in range(5)]
