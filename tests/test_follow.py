"""The tail, on real files with a real writer: no sample lost, none duplicated, whatever the file goes through.

Every test runs with inotify and with polling. The writer records what it wrote; the pipeline
(Follower → LiveLoop → Monitor with the generic `kv` format) must produce exactly those samples.
"""

from __future__ import annotations

import math
import os
import random
import threading

import pytest

from losswatch.ingest import follow
from tests.follow_harness import Pipeline, wait_until

MODES = [pytest.param(None, id="inotify"), pytest.param(0.005, id="poll")]


def kv_line(step: int, value: float, extra: str = "") -> str:
    return f"step={step} loss={value!r}{extra}"


def key(pairs):
    return [(s, "nan" if math.isnan(v) else v) for s, v in pairs]


class Writer:
    """Appends bytes to a file with unbuffered writes and remembers the samples it wrote."""

    def __init__(self, path, mode: str = "ab") -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | (os.O_APPEND if "a" in mode else os.O_TRUNC), 0o644)
        self.written = 0

    def write(self, data: bytes) -> None:
        while data:
            n = os.write(self.fd, data)
            data = data[n:]
            self.written += n

    def close(self) -> None:
        os.close(self.fd)


@pytest.fixture
def pipes():
    made: list[Pipeline] = []

    def make(path, poll=None) -> Pipeline:
        p = Pipeline(path, poll=poll)
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()


@pytest.mark.parametrize("poll", MODES)
def test_appends_cut_at_arbitrary_byte_boundaries(tmp_path, pipes, poll):
    """Half lines, half UTF-8 characters, half CRLF: each cut is seen by the follower before the rest."""
    rng = random.Random(7)
    expected = []
    parts = []
    for i in range(60):
        v = round(rng.uniform(0, 5), 4)
        expected.append((float(i), v))
        note = " note=héllo✓ épöch" if i % 3 == 0 else ""
        end = "\r\n" if i % 2 else "\n"
        parts.append((kv_line(i, v) + note + end).encode())
    data = b"".join(parts)
    # cut after every '\r', inside every multi-byte character, and at random places
    cuts = {i + 1 for i, b in enumerate(data) if b == 0x0D}
    cuts |= {i for i, b in enumerate(data) if 0x80 <= b < 0xC0}
    cuts |= {rng.randrange(1, len(data)) for _ in range(80)}
    cuts = sorted(c for c in cuts if 0 < c < len(data))
    path = tmp_path / "train.log"
    w = Writer(path)
    p = pipes(path, poll)
    prev = 0
    for c in [*cuts, len(data)]:
        w.write(data[prev:c])
        p.wait_read(w.written)
        prev = c
    w.close()
    p.wait_count(len(expected))
    assert key(p.pairs()) == key(expected)


@pytest.mark.parametrize("poll", MODES)
def test_progress_frames_ansi_backspace_crlf_bad_bytes(tmp_path, pipes, poll):
    """\\r frames, \\b, ANSI colours, CRLF, invalid UTF-8 and NUL: only what a terminal shows is read."""
    path = tmp_path / "train.log"
    w = Writer(path)
    p = pipes(path, poll)
    expected = []
    for i in range(40):
        frames = b"".join(b"\r" + f"epoch 1 {k}%|### | step={i} loss={9.0 + k}".encode() for k in range(30))
        w.write(frames)  # the bar is redrawn; the line is not finished yet
        last = kv_line(i, float(i) / 10).encode()
        if i % 4 == 0:
            last = b"\x1b[32m" + last + b"\x1b[0m"
        elif i % 4 == 1:
            last = last + b"9\b"  # a digit too many, erased by a backspace
        elif i % 4 == 2:
            last = last + b" junk=\xff\xfe\x00\x00"
        w.write(b"\r" + last + (b"\r\n" if i % 2 else b"\n"))
        expected.append((float(i), float(i) / 10))
    p.wait_count(len(expected))
    p.wait_read(w.written)
    assert key(p.pairs()) == key(expected)
    assert p.count == len(expected)  # no stale frame was read as a sample
    w.close()


@pytest.mark.parametrize("poll", MODES)
def test_ten_megabyte_line_then_more(tmp_path, pipes, poll):
    path = tmp_path / "train.log"
    w = Writer(path)
    p = pipes(path, poll)
    w.write((kv_line(0, 1.5) + "\n").encode())
    for _ in range(10):
        w.write(b"x" * (1 << 20))  # one 10 MB line, written in 1 MB pieces
    w.write(b" step=1 loss=2.5\n")  # the end of the long line: beyond the kept part, not read
    w.write((kv_line(2, 3.5) + "\n").encode())
    p.wait_count(2)
    p.wait_read(w.written)
    reader = p.monitor.runs["run"].reader
    wait_until(lambda: reader.lines_read == 3, what="3 lines")
    assert key(p.pairs()) == [(0.0, 1.5), (2.0, 3.5)]
    w.close()


@pytest.mark.parametrize("poll", MODES)
def test_file_appears_later(tmp_path, pipes, poll):
    path = tmp_path / "later" / "train.log"
    p = pipes(path, poll)
    p.wait_kind("waiting")
    path.parent.mkdir()
    w = Writer(path)
    w.write(b"".join((kv_line(i, i + 0.5) + "\n").encode() for i in range(5)))
    p.wait_count(5)
    assert key(p.pairs()) == [(float(i), i + 0.5) for i in range(5)]
    w.close()


@pytest.mark.parametrize("poll", MODES)
def test_deleted_and_recreated(tmp_path, pipes, poll):
    path = tmp_path / "train.log"
    w = Writer(path)
    p = pipes(path, poll)
    w.write(b"".join((kv_line(i, i + 0.25) + "\n").encode() for i in range(5)))
    p.wait_count(5)
    w.close()
    os.unlink(path)
    w = Writer(path)
    w.write(b"".join((kv_line(i, i + 0.75) + "\n").encode() for i in range(3)))
    p.wait_count(8)
    p.wait_kind("replaced")
    assert key(p.pairs()) == [(float(i), i + 0.25) for i in range(5)] + [(float(i), i + 0.75) for i in range(3)]
    # the new file keeps being followed
    w.write((kv_line(3, 9.0) + "\n").encode())
    p.wait_count(9)
    assert p.pairs()[-1] == (3.0, 9.0)
    w.close()


@pytest.mark.parametrize("poll", MODES)
def test_rotation_by_rename_finishes_old_file_first(tmp_path, pipes, poll):
    path = tmp_path / "train.log"
    old = Writer(path)
    p = pipes(path, poll)
    old.write(b"".join((kv_line(i, 1.0 + i) + "\n").encode() for i in range(4)))
    p.wait_count(4)
    os.rename(path, tmp_path / "train.log.1")
    old.write((kv_line(4, 5.0) + "\n").encode())  # the job still writes to the old file
    new = Writer(path)  # the new file exists, empty
    old.write((kv_line(5, 6.0) + "\n").encode())  # ... and the old file still gets a last line
    old.close()
    new.write(b"".join((kv_line(i, 10.0 + i) + "\n").encode() for i in range(3)))
    p.wait_count(9)
    assert key(p.pairs()) == [(float(i), 1.0 + i) for i in range(6)] + [(float(i), 10.0 + i) for i in range(3)]
    assert p.kinds.count("replaced") == 1
    new.close()


@pytest.mark.parametrize("poll", MODES)
def test_copytruncate_starts_again_from_zero(tmp_path, pipes, poll):
    path = tmp_path / "train.log"
    w = Writer(path)
    p = pipes(path, poll)
    w.write(b"".join((kv_line(i, 2.0 + i) + "\n").encode() for i in range(6)))
    p.wait_count(6)
    (tmp_path / "train.log.1").write_bytes(path.read_bytes())  # copy ...
    os.truncate(path, 0)  # ... truncate; the writer (O_APPEND) goes on at the new end
    p.wait_kind("truncated")
    w.write(b"".join((kv_line(i, 20.0 + i) + "\n").encode() for i in range(2)))
    p.wait_count(8)
    assert key(p.pairs()) == [(float(i), 2.0 + i) for i in range(6)] + [(0.0, 20.0), (1.0, 21.0)]
    w.close()


@pytest.mark.parametrize("poll", MODES)
def test_symlink_repointed(tmp_path, pipes, poll):
    runs = tmp_path / "runs"
    runs.mkdir()
    a, b = runs / "a.log", runs / "b.log"
    link = tmp_path / "latest.log"
    wa = Writer(a)
    wa.write(b"".join((kv_line(i, 0.5 + i) + "\n").encode() for i in range(3)))
    os.symlink(a, link)
    p = pipes(link, poll)
    p.wait_count(3)
    wa.write((kv_line(3, 3.5) + "\n").encode())  # written through the target's directory
    p.wait_count(4)
    wb = Writer(b)
    wb.write(b"".join((kv_line(i, 7.0 + i) + "\n").encode() for i in range(2)))
    tmp_link = tmp_path / "latest.tmp"
    os.symlink(b, tmp_link)
    os.replace(tmp_link, link)  # `ln -sfn`: atomic re-point
    p.wait_count(6)
    wb.write((kv_line(2, 9.0) + "\n").encode())
    p.wait_count(7)
    assert key(p.pairs()) == [(float(i), 0.5 + i) for i in range(4)] + [(0.0, 7.0), (1.0, 8.0), (2.0, 9.0)]
    wa.close()
    wb.close()


def test_burst_of_a_million_lines(tmp_path, pipes):
    path = tmp_path / "train.log"
    w = Writer(path)
    p = pipes(path)
    n = 1_000_000
    w.write((kv_line(0, 0.0) + "\n").encode())
    p.wait_count(1)
    data = "".join(f"step={i} loss={i % 1000 / 1000}\n" for i in range(1, n)).encode()
    t = threading.Thread(target=w.write, args=(data,))
    t.start()
    t.join()
    p.wait_count(n, timeout=120)
    wait_until(lambda: p.monitor.runs["run"].reader.lines_read == n, what="all lines")
    steps, values = p.steps, p.values
    assert len(steps) == n
    assert list(steps) == [float(i) for i in range(n)]
    assert all(values[i] == i % 1000 / 1000 for i in range(0, n, 997))
    w.close()


def test_blind_inotify_switches_to_polling(tmp_path, monkeypatch):
    """Where writes raise no event (NFS, ...), a size change seen only by the safety check means: poll."""
    monkeypatch.setattr(follow, "SAFETY_INTERVAL", 0.1)
    monkeypatch.setattr(follow, "MISSED_EVENT_AGE", 0.2)

    class BlindObserver:  # a file system on which inotify sees nothing
        def schedule(self, handler, path, recursive=False):
            return object()

        def remove_handler_for_watch(self, handler, watch):
            pass

    path = tmp_path / "train.log"
    path.write_text(kv_line(0, 1.0) + "\n")
    got: list[bytes] = []
    status: list[str] = []
    f = follow.Follower(str(path), got.append, lambda r: None, lambda k, d: status.append(k),
                        observer=BlindObserver())
    f.start()
    try:
        wait_until(lambda: f.bytes_read == path.stat().st_size)
        with open(path, "ab") as fh:
            fh.write((kv_line(1, 2.0) + "\n").encode())
        os.utime(path, (1, 1))  # written "long ago": an event would have arrived by now
        wait_until(lambda: "polling" in status, what="switch to polling")
        assert f.polling
        assert b"".join(got) == path.read_bytes()
    finally:
        f.stop()


def test_network_file_systems_are_polled(monkeypatch):
    monkeypatch.setattr(follow, "_mounts", lambda: [("/mnt/nfs", "nfs4"), ("/", "ext4")])
    assert follow.needs_polling("/mnt/nfs/run1/train.log")
    assert not follow.needs_polling("/home/me/train.log")
    monkeypatch.setattr(follow, "_mounts", lambda: [("/mnt/s", "fuse.sshfs"), ("/", "ext4")])
    assert follow.needs_polling("/mnt/s/train.log")


@pytest.mark.parametrize("poll", [pytest.param(None, id="inotify"), pytest.param(0.3, id="slow-poll")])
def test_copytruncate_then_fast_rewrite_past_the_old_end(tmp_path, pipes, poll):
    """Truncated and refilled beyond the old size before the follower looks again: still from 0, nothing lost."""
    path = tmp_path / "train.log"
    w = Writer(path)
    p = pipes(path, poll)  # slow polling: the writer outruns it
    w.write(b"".join((kv_line(i, 2.0 + i) + "\n").encode() for i in range(3)))
    p.wait_count(3)
    os.truncate(path, 0)
    w.write(b"".join((kv_line(i, 30.0 + i) + "\n").encode() for i in range(10)))
    p.wait_count(13)
    assert key(p.pairs()) == [(float(i), 2.0 + i) for i in range(3)] + [(float(i), 30.0 + i) for i in range(10)]
    assert "truncated" in p.kinds
    w.close()
