"""Command line: parse arguments, hand over to a command module. Thin on purpose."""

from __future__ import annotations

import argparse
import importlib
import sys

from losswatch import __version__
from losswatch.errors import UsageError

# Sub-command modules under losswatch.commands, in the order `--help` lists them.
COMMANDS = ["tail", "run", "check", "replay", "demo", "rules", "formats", "gpu"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # usage errors exit 2 with one line, as argparse does
        self.print_usage(sys.stderr)
        self.exit(2, f"losswatch: error: {message}\n")


def chosen_command(argv: list[str]) -> str | None:
    """The sub-command named on the command line (its first word), None when there is none.

    Only that command's module is imported: each pulls in what it needs (the TUI, D-Bus, NVML,
    numpy), and `check` on a small file must not pay for the others' imports.
    """
    for arg in argv:
        if not arg.startswith("-"):
            return arg if arg in COMMANDS else None
        if arg == "--":
            return None
    return None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser; with `only`, just that sub-command (the others are not imported)."""
    parser = _Parser(prog="losswatch", description="Watch deep-learning training logs from the terminal.")
    parser.add_argument("--version", action="version", version=f"losswatch {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS if only is None else [only]:
        try:
            module = importlib.import_module(f"losswatch.commands.{name}")
        except ModuleNotFoundError as e:
            if e.name == f"losswatch.commands.{name}":
                continue  # command not built yet
            raise
        p = module.add_parser(sub)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    parser = build_parser(chosen_command(argv))
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except UsageError as e:
        print(f"losswatch: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
