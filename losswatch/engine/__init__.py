"""The rule engine: YAML rule packs (language, window functions, alert states) evaluated over a run's samples.

`build_engine` is the one entry point the commands use: shipped packs (`losswatch/rules/*.yaml`),
then the user's `--rules` files (a rule with the same id replaces the earlier one), minus `--disable`,
with `--var NAME=VALUE` set in every remaining rule that declares NAME.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from losswatch.engine.engine import Engine
from losswatch.engine.rulefile import RuleDef, RuleFile, load_rule_file
from losswatch.errors import UsageError

RULES_DIR = Path(__file__).resolve().parent.parent / "rules"

__all__ = ["Engine", "build_engine", "load_rules", "set_vars", "shipped_rule_files"]


def shipped_rule_files() -> list[str]:
    """Every shipped pack, default.yaml first (then gpu.yaml and any other), by name."""
    files = sorted(RULES_DIR.glob("*.yaml"), key=lambda p: (p.name != "default.yaml", p.name))
    return [str(p) for p in files]


def load_rules(rule_files: list[str], disable: list[str], defaults: bool,
               overrides: dict[str, float] | None = None) -> tuple[list[RuleDef], list[RuleFile]]:
    """The effective rule list: shipped packs, overridden by id by the user files, minus `disable`,
    with the `overrides` (`--var`) set."""
    files = (shipped_rule_files() if defaults else []) + list(rule_files)
    loaded = [load_rule_file(p) for p in files]
    by_id: dict[str, RuleDef] = {}
    for rf in loaded:
        for r in rf.rules:
            by_id.pop(r.id, None)  # a replaced rule takes the new one's place at the end
            by_id[r.id] = r
    for rid in disable:
        if rid not in by_id:
            known = ", ".join(sorted(by_id)) or "none loaded"
            raise UsageError(f"--disable {rid}: no such rule (rules: {known})")
        del by_id[rid]
    rules = list(by_id.values())
    return (set_vars(rules, overrides) if overrides else rules), loaded


def set_vars(rules: list[RuleDef], overrides: dict[str, float]) -> list[RuleDef]:
    """The rules with `overrides` in place of their own value of each var they declare.

    A name that no rule declares is a user mistake (a typo would otherwise change nothing, silently).
    """
    declared = {k for r in rules for k in r.vars}
    for name, value in overrides.items():
        if name not in declared:
            known = ", ".join(sorted(declared)) or "none"
            raise UsageError(f"--var {name}={value:g}: no loaded rule declares a var `{name}` (vars: {known})")
    return [dataclasses.replace(r, vars={k: overrides.get(k, v) for k, v in r.vars.items()})
            if overrides.keys() & r.vars.keys() else r for r in rules]


def build_engine(rule_files: list[str], disable: list[str], defaults: bool,
                 overrides: dict[str, float] | None = None) -> Engine:
    return Engine(load_rules(rule_files, disable, defaults, overrides)[0])
