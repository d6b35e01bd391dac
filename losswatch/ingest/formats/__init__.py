"""Format registry and auto-detection.

Every module in this package that defines a `FormatParser` subclass with a `name` is a format;
user formats from a YAML `formats:` file are added with `register`.
"""

from __future__ import annotations

import importlib
import pkgutil

from losswatch.ingest.formats.base import FormatParser

_REGISTRY: dict[str, type[FormatParser]] = {}
_LOADED = False

# Detection decides once it is this sure, or after this many lines with whatever scores best.
SURE = 0.5
MAX_UNDECIDED_LINES = 2000
FALLBACK = "kv"


def _load_builtin() -> None:
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_") or info.name == "base":
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for obj in vars(module).values():
            if (
                isinstance(obj, type)
                and issubclass(obj, FormatParser)
                and obj is not FormatParser
                and obj.name
                and obj.__module__ == module.__name__
            ):
                register(obj)


def register(cls: type[FormatParser]) -> None:
    _REGISTRY[cls.name] = cls


def all_formats() -> dict[str, type[FormatParser]]:
    _load_builtin()
    return dict(sorted(_REGISTRY.items()))


def get_format(name: str) -> type[FormatParser]:
    """The format called `name`; KeyError with the known names when there is none."""
    formats = all_formats()
    if name not in formats:
        raise KeyError(f"unknown format {name!r}; known formats: {', '.join(formats)}")
    return formats[name]


def score_formats(lines: list[str]) -> list[tuple[float, int, str]]:
    """(score, priority, name) for every format, best first."""
    scores = []
    for name, cls in all_formats().items():
        try:
            s = float(cls.detect(lines))
        except Exception:  # a detector bug must not stop ingest; it just does not match
            s = 0.0
        scores.append((s, cls.priority, name))
    scores.sort(reverse=True)
    return scores


def detect(lines: list[str], final: bool = False) -> str | None:
    """Name of the format of a log from its first logical lines.

    Returns None while undecided (no format sure yet and more lines may come); with `final`
    (the whole file has been seen, or enough lines) it always decides, falling back to `kv`.
    """
    scores = score_formats(lines)
    best_score, _, best = scores[0] if scores else (0.0, 0, FALLBACK)
    if best_score >= SURE:
        return best
    if final or len(lines) >= MAX_UNDECIDED_LINES:
        return best if best_score > 0 else FALLBACK
    return None
