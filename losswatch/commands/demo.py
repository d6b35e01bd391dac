"""`losswatch demo`: the whole loop on a built-in simulated job, nothing to download."""

from __future__ import annotations

import argparse
import os
import tempfile

from losswatch.commands.common import make_engine, read_whole
from losswatch.examples.simulated_job import lines
from losswatch.headless import TextPrinter
from losswatch.monitor import Monitor


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("demo", help="run the whole loop on a built-in example")
    return p


def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="losswatch-demo-") as tmp:
        path = os.path.join(tmp, "train.log")
        with open(path, "w") as f:
            f.write("\n".join(lines()) + "\n")
        monitor = Monitor(engine=make_engine(args))
        monitor.subscribe(TextPrinter())
        run_ = monitor.add_run(path)
        read_whole(monitor, run_, path)
        print(f"demo: read {run_.reader.lines_read} lines as {run_.format_name}; "
              f"metrics: {', '.join(run_.store.metrics())}")
    return 0
