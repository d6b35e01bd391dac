"""Naming and filtering helpers shared by the structured-log formats (not a format itself).

Why shared: every family splits train from validation metrics and must leave timings, ETAs and
memory readings alone, and all of them must name a validation metric the same way.
"""

from __future__ import annotations

import json
import re

from losswatch.model import SYNONYMS, clean_name, parse_number

NUM = r"[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|nan|NaN|NAN|inf|Inf|INF|Infinity)"

# Keys that are timings, progress counters or memory readings, not training metrics.
_NOT_METRIC = re.compile(
    r"(?:^|[_. /])(?:eta|time|data_time|elapsed|wall|memory|mem|max_mem|seconds|date|timestamp"
    r"|eta_seconds|remaining_time|elapsed_time|percentage|total_steps)$"
    r"|^(?:memory|mem|max_mem|gpu_mem|time|data_time|eta|rank_data_time|last_time|last_data_time)$",
    re.IGNORECASE,
)


# Names repeat on every line of a log: each helper remembers its answers (bounded, so a log with
# ever-new keys cannot grow them without limit).
_CACHE_MAX = 4096


def _cached(fn):
    cache: dict[str, object] = {}

    def wrapper(key: str):
        try:
            return cache[key]
        except KeyError:
            value = fn(key)
            if len(cache) < _CACHE_MAX:
                cache[key] = value
            return value

    wrapper.__doc__ = fn.__doc__
    wrapper.__name__ = fn.__name__
    return wrapper


@_cached
def is_timing(key: str) -> bool:
    """True for keys like `eta`, `time`, `data_time`, `memory`, `max_mem`, `train_wall`.

    Names the model knows as `step_time` or `throughput` (`iter_time`, `tok/sec`) are metrics.
    """
    if SYNONYMS.get(clean_name(key)) in ("step_time", "throughput"):
        return False
    return _NOT_METRIC.search(key) is not None


@_cached
def train_name(raw: str) -> str:
    """Canonical name of a training metric (the model's synonyms, else the cleaned name)."""
    cleaned = clean_name(raw)
    return SYNONYMS.get(cleaned, cleaned)


@_cached
def val_name(raw: str) -> str:
    """Name of a validation metric: `loss` → `val_loss`, `acc` → `val_acc`, else `val.<cleaned>`.

    One rule for every family so that `bbox_mAP`, `coco/bbox_mAP` and fairseq's `nll_loss` read
    the same way (`val.bbox_map`, `val.coco.bbox_map`, `val.nll_loss`).
    """
    cleaned = clean_name(raw)
    canon = SYNONYMS.get(cleaned, cleaned)
    if canon in ("loss", "acc"):
        return "val_" + canon
    if canon in ("val_loss", "val_acc") or canon.startswith("val.") or canon.startswith("val_"):
        return canon
    return "val." + cleaned


def json_object(line: str) -> dict | None:
    """The JSON object on a line, or None (a line that is not one object is not an error)."""
    s = line.strip()
    if not s.startswith("{") or not s.endswith("}"):
        return None
    try:
        obj = json.loads(s)
    except ValueError:
        return None
    return obj if isinstance(obj, dict) else None


def json_value(v: object) -> float | None:
    """A number from a JSON value: numbers, numeric strings ("9.1", "nan"); not bools or lists."""
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        return parse_number(v)
    return None


def add_pairs(pair_re: re.Pattern, text: str, step: float, line_no: int, out, val: bool) -> None:
    """`key: value` pairs found by `pair_re` (groups: key, value) → samples; timings and non-numbers skipped."""
    for m in pair_re.finditer(text):
        key = m.group(1)
        if is_timing(key):
            continue
        v = parse_number(m.group(2).strip())
        if v is None:
            continue
        metric = val_name(key) if val else train_name(key)
        out.name(metric, key)
        out.add(metric, step, v, line_no)

