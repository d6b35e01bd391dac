"""When each line of a finished log was written: for replaying it at the pace it was written.

Many logs stamp their lines (Python logging and mmdet `2021-12-07 13:57:38,253`, glog/Caffe
`I0602 09:59:17.724205`, detectron2 `[11/16 02:58:09]`, Megatron `datetime: 2021-05-23 08:23:58`).
A log counts as stamped when enough of its first lines carry one of these; the other lines of a
stamped log are played with the stamped line before them. Unstamped logs play at a line rate.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Iterator

_ISO = re.compile(rb"(\d{4})-(\d\d)-(\d\d)[ T](\d\d):(\d\d):(\d\d)(?:[.,](\d{1,6}))?")
_GLOG = re.compile(rb"^[IWEF](\d\d)(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?")
_MDHMS = re.compile(rb"\[(\d\d)/(\d\d) (\d\d):(\d\d):(\d\d)\]")
_STAMPS = (_ISO, _GLOG, _MDHMS)
_LOOK = 160  # stamps are near the start of a line

STAMPED_MIN_LINES = 3


def _seconds(year: int, month: int, day: int, h: int, m: int, s: int, frac: bytes | None) -> float | None:
    try:
        t = _dt.datetime(year, month, day, h, m, s, tzinfo=_dt.timezone.utc).timestamp()
    except ValueError:
        return None
    if frac:
        t += int(frac) / 10 ** len(frac)
    return t


def line_time(line: bytes) -> float | None:
    """Seconds (UTC epoch; year 2000 where the stamp has none) of the stamp on a line, or None."""
    head = line[:_LOOK]
    m = _ISO.search(head)
    if m:
        y, mo, d, h, mi, s = (int(g) for g in m.groups()[:6])
        return _seconds(y, mo, d, h, mi, s, m.group(7))
    m = _GLOG.match(head)
    if m:
        mo, d, h, mi, s = (int(g) for g in m.groups()[:5])
        return _seconds(2000, mo, d, h, mi, s, m.group(6))
    m = _MDHMS.search(head)
    if m:
        mo, d, h, mi, s = (int(g) for g in m.groups())
        return _seconds(2000, mo, d, h, mi, s, None)
    return None


def is_stamped(lines: list[bytes]) -> bool:
    return sum(1 for ln in lines if line_time(ln) is not None) >= STAMPED_MIN_LINES


def schedule(lines: Iterator[bytes], stamped: bool, speed: float, lines_per_second: float,
             max_gap: float, slot: float = 0.05) -> Iterator[tuple[float, bytes]]:
    """(seconds after the start to feed it, block of lines) for a log's lines, in order.

    `speed` multiplies the pace (0: no pacing); a gap between two lines never waits longer than
    `max_gap` seconds (a night without output replays in a moment). Lines due within one `slot`
    are fed together.
    """
    due = 0.0
    last_stamp: float | None = None
    block: list[bytes] = []
    block_due = 0.0
    rate = lines_per_second * speed
    for line in lines:
        if speed > 0:
            if stamped:
                t = line_time(line)
                if t is not None:
                    if last_stamp is not None:
                        due += min(max(0.0, (t - last_stamp) / speed), max_gap)
                    last_stamp = t
            elif rate > 0:
                due += 1.0 / rate
        if block and due - block_due >= slot:
            yield block_due, b"".join(block)
            block = []
        if not block:
            block_due = due
        block.append(line)
        if len(block) >= 4096:
            yield block_due, b"".join(block)
            block = []
    if block:
        yield block_due, b"".join(block)
