"""Does every match of a regex hold one of some words? (for the str.find pre-filters of events and meta)

Read from the parsed regex, not its text: a match surely holds a word when a run of literal characters
of the pattern's top-level sequence holds it, or when every branch of an alternation in that sequence
(or a group that is not optional) surely holds one.
"""

from __future__ import annotations

try:
    import re._constants as C
    import re._parser as P
except ImportError:  # Python 3.10
    import sre_constants as C  # type: ignore[no-redef]
    import sre_parse as P  # type: ignore[no-redef]


def holds_one_of(pattern: str, words) -> bool:
    return _holds(P.parse(pattern), tuple(words))


def _holds(seq, words: tuple[str, ...]) -> bool:
    runs, run = [], []
    for op, av in seq:
        if op is C.LITERAL:
            run.append(chr(av))
            continue
        runs.append("".join(run))
        run = []
        if op is C.BRANCH and all(_holds(branch, words) for branch in av[1]):
            return True
        if op is C.SUBPATTERN and _holds(av[-1], words):
            return True
    runs.append("".join(run))
    return any(w in r for r in runs for w in words)
