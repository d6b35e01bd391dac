"""Dump every alert change the default packs produce on a set of logs, to compare engine versions.

Usage: python3 bench/alert_oracle.py OUT.jsonl [--bench-lines N] [PATH ...]
Without PATHs: every log of ../shared/corpus (when present), tests/fixtures/frameworks and
tests/fixtures/calibration, plus the generated bench logs (kv, hf_stdout, darknet, keras; N lines
each, default 300,000). One JSON line per alert change (rule, state, step, line, value, message,
advice, resolved step; not the wall time), in the order the engine emitted them. Two dumps taken
before and after an engine change must be identical (`cmp`): an optimization may not move an alert.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from losswatch.commands.common import read_whole  # noqa: E402
from losswatch.engine import build_engine  # noqa: E402
from losswatch.monitor import Monitor  # noqa: E402


def default_paths() -> list[str]:
    out: list[str] = []
    for d in (ROOT.parent / "shared" / "corpus",
              ROOT / "tests" / "fixtures" / "frameworks", ROOT / "tests" / "fixtures" / "calibration"):
        if not d.is_dir():
            continue
        for p in sorted(d.rglob("*")):
            if p.is_file() and p.suffix in (".log", ".csv", ".json", ".jsonl") and p.name != "truth.json" \
                    and str(p) not in out:
                out.append(str(p))
    return out


def alerts_of(path: str) -> list[dict]:
    m = Monitor(engine=build_engine([], [], True))
    got: list[dict] = []

    def on(ev) -> None:
        if type(ev).__name__ == "AlertChanged":
            a = ev.alert
            v = a.value
            got.append({"rule": a.rule, "state": a.state, "step": a.step, "line": a.line,
                        "value": None if isinstance(v, float) and math.isnan(v) else v,
                        "message": a.message, "advice": a.advice, "resolved_step": a.resolved_step})
    m.subscribe(on)
    run = m.add_run(path)
    try:
        read_whole(m, run, path)
    except Exception as e:  # a file the ingest refuses: record that, it must not change either
        got.append({"error": type(e).__name__})
    return got


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("paths", nargs="*")
    ap.add_argument("--bench-lines", type=int, default=300_000)
    args = ap.parse_args()
    paths = args.paths or default_paths()
    with open(args.out, "w") as out, tempfile.TemporaryDirectory(prefix="losswatch-oracle-") as tmp:
        if not args.paths and args.bench_lines:
            from bench import bench_rules, gen_logs
            p = os.path.join(tmp, "kv.log")
            bench_rules.write_log(p, args.bench_lines)
            paths.append(p)
            for name in ("hf_stdout", "darknet", "keras"):
                p = os.path.join(tmp, f"{name}.log")
                with open(p, "wb") as f:
                    f.write(getattr(gen_logs, name)(args.bench_lines))
                paths.append(p)
        total = 0
        for p in paths:
            got = alerts_of(p)
            total += len(got)
            name = os.path.basename(p) if p.startswith(tmp) else p
            for a in got:
                out.write(json.dumps({"file": name, **a}, sort_keys=True) + "\n")
            print(f"{len(got):6d}  {name}", file=sys.stderr)
        print(f"{len(paths)} logs, {total} alert changes", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
