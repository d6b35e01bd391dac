"""`losswatch rules list | show ID | lint FILE... | test FILE...`: see, check and unit-test rule packs."""

from __future__ import annotations

import argparse
import os
import sys

from losswatch.commands.common import add_rule_args, parse_vars
from losswatch.engine import Engine, load_rules
from losswatch.engine.compile import function_help
from losswatch.engine.rulefile import RuleDef
from losswatch.engine.ruletest import run_test_file
from losswatch.errors import UsageError


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("rules", help="list, show, lint and test alert rules")
    p.add_argument("action", choices=["list", "show", "lint", "test", "functions"])
    p.add_argument("args", nargs="*", metavar="ID|FILE")
    add_rule_args(p)
    return p


def _effective(args: argparse.Namespace) -> list[RuleDef]:
    rules, _ = load_rules(args.rules, args.disable, not args.no_default_rules, parse_vars(args.var))
    Engine(rules)  # compile: expression errors surface here with file:line:column
    return rules


def _where(r: RuleDef) -> str:
    return f"{os.path.relpath(r.source) if r.source else '?'}:{r.where.line}"


def run(args: argparse.Namespace) -> int:
    if args.action == "list":
        rules = _effective(args)
        width = max((len(r.id) for r in rules), default=10)
        for r in rules:
            acts = ",".join(r.actions) or "-"
            print(f"{r.id:{width}}  {r.severity:8}  {acts:14}  {_where(r)}")
        from losswatch.engine import functions

        print("native engine loops: " + ("in use" if functions.K is not None else
              "not in use (not built, or LOSSWATCH_PURE_PYTHON is set): the same alerts, computed slower"),
              file=sys.stderr)
        return 0
    if args.action == "functions":
        for name, text in function_help().items():
            print(f"{name:16} {text}")
        return 0
    if args.action == "show":
        if len(args.args) != 1:
            raise UsageError("rules show needs one rule ID")
        rules = {r.id: r for r in _effective(args)}
        r = rules.get(args.args[0])
        if r is None:
            raise UsageError(f"no rule `{args.args[0]}`; known: {', '.join(sorted(rules))}")
        print(f"id:              {r.id}   ({_where(r)})")
        print(f"severity:        {r.severity}")
        print(f"when:            {' '.join(r.when_text.split())}")
        if r.value_text:
            print(f"value:           {r.value_text}")
        if r.on:
            print(f"on:              {', '.join(r.on)}")
        print(f"for:             {r.for_}")
        print(f"keep_firing_for: {r.keep_firing_for}")
        if r.warmup.amount:
            print(f"warmup:          {r.warmup}")
        if r.thin:
            print("thin:            true")
        print(f"actions:         {', '.join(r.actions) or '-'}")
        if r.inhibited_by:
            print(f"inhibited_by:    {', '.join(r.inhibited_by)}")
        for k, v in r.vars.items():
            print(f"var {k}: {v:g}")
        for k, v in r.field_texts.items():
            print(f"field {k}: {v}")
        print(f"summary:         {r.summary}")
        print(f"advice:          {' '.join(r.advice.split())}")
        return 0
    if args.action == "lint":
        if not args.args:
            raise UsageError("rules lint needs a FILE")
        for path in args.args:
            rules, files = load_rules([path], [], not args.no_default_rules)
            Engine(rules)
            mine = files[-1].rules
            known = {r.id for r in rules}
            for r in mine:
                for i in r.inhibited_by:
                    if i not in known:
                        w = r.wheres.get("inhibited_by", r.where)
                        print(f"{path}:{w.line}:{w.column}: warning: rule {r.id} is inhibited by unknown rule `{i}`")
            print(f"{path}: {len(mine)} rule(s) OK")
        return 0
    # test
    if not args.args:
        raise UsageError("rules test needs a FILE")
    failed = 0
    total = 0
    for path in args.args:
        for res in run_test_file(path):
            total += 1
            if res.ok:
                print(f"PASS {path}: {res.name}")
            else:
                failed += 1
                print(f"FAIL {path}: {res.name}")
                for p in res.problems:
                    print(f"     {p}")
                if res.fired:
                    got = ", ".join(f"{a.rule}@{a.step:g}" for a in res.fired)
                    print(f"     fired: {got}")
    print(f"{total - failed}/{total} rule tests passed")
    return 1 if failed else 0
