"""The rule expression language: tokenizer and parser into a small typed syntax tree.

Why our own parser: a rule file comes from the user and must never run code. The grammar has
numbers, metric names (dotted, as `clean_name` makes them), arithmetic, comparisons, and/or/not and
calls of registered functions; nothing else exists, so nothing else can run. Errors carry the
column in the expression, which the rule-file loader turns into file:line:column.

    expr    := or
    or      := and ('or' and)*
    and     := not ('and' not)*
    not     := 'not' not | cmp
    cmp     := sum (('<'|'<='|'>'|'>='|'=='|'!=') sum)?
    sum     := product (('+'|'-') product)*
    product := unary (('*'|'/') unary)*
    unary   := '-' unary | atom
    atom    := NUMBER | NAME | NAME '(' [expr (',' expr)*] ')' | '(' expr ')' | 'true' | 'false'
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

MAX_LENGTH = 2000
MAX_DEPTH = 40


class ExprError(Exception):
    """A syntax or validation error in an expression, at a 1-based column of it."""

    def __init__(self, message: str, column: int) -> None:
        super().__init__(message)
        self.message = message
        self.column = column


# --- tokens -----------------------------------------------------------------------------------

_TOKEN_RE = re.compile(
    r"(?P<ws>\s+)"
    r"|(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)"
    r"|(?P<op><=|>=|==|!=|[-+*/<>(),])"
)
KEYWORDS = {"and", "or", "not", "true", "false"}


@dataclass
class Token:
    kind: str  # num | name | op | kw | end
    text: str
    col: int  # 1-based


def tokenize(text: str) -> list[Token]:
    if len(text) > MAX_LENGTH:
        raise ExprError(f"expression longer than {MAX_LENGTH} characters", 1)
    out: list[Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if m is None:
            ch = text[pos]
            hint = ""
            if ch in "\"'":
                hint = " (strings are not part of the language)"
            elif ch in "[]{}.:;=&|!%@^~`$#\\":
                hint = " (expected a number, a metric name, an operator or a function call)"
            raise ExprError(f"unexpected character {ch!r}{hint}", pos + 1)
        kind = m.lastgroup or ""
        if kind != "ws":
            tok = m.group()
            if kind == "name" and tok in KEYWORDS:
                kind = "kw"
            out.append(Token(kind, tok, pos + 1))
        pos = m.end()
    out.append(Token("end", "", len(text) + 1))
    return out


# --- tree -------------------------------------------------------------------------------------


@dataclass
class Node:
    col: int


@dataclass
class Num(Node):
    value: float


@dataclass
class Name(Node):
    name: str


@dataclass
class Call(Node):
    func: str
    args: list[Node] = field(default_factory=list)


@dataclass
class Unary(Node):
    op: str  # '-' | 'not'
    arg: Node


@dataclass
class Binary(Node):
    op: str  # + - * / < <= > >= == != and or
    left: Node
    right: Node


CMP_OPS = ("<", "<=", ">", ">=", "==", "!=")


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = tokenize(text)
        self.i = 0
        self.depth = 0

    def peek(self) -> Token:
        return self.toks[self.i]

    def take(self) -> Token:
        t = self.toks[self.i]
        self.i += 1
        return t

    def expect(self, text: str, what: str) -> Token:
        t = self.peek()
        if t.text != text or t.kind not in ("op", "kw"):
            raise ExprError(f"expected {what}, found {_describe(t)}", t.col)
        return self.take()

    def enter(self, col: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExprError(f"expression nested deeper than {MAX_DEPTH} levels", col)

    def parse(self) -> Node:
        t = self.peek()
        if t.kind == "end":
            raise ExprError("empty expression", t.col)
        node = self.or_()
        t = self.peek()
        if t.kind != "end":
            raise ExprError(f"expected an operator or the end of the expression, found {_describe(t)}", t.col)
        return node

    def or_(self) -> Node:
        node = self.and_()
        while self.peek().kind == "kw" and self.peek().text == "or":
            t = self.take()
            node = Binary(t.col, "or", node, self.and_())
        return node

    def and_(self) -> Node:
        node = self.not_()
        while self.peek().kind == "kw" and self.peek().text == "and":
            t = self.take()
            node = Binary(t.col, "and", node, self.not_())
        return node

    def not_(self) -> Node:
        t = self.peek()
        if t.kind == "kw" and t.text == "not":
            self.take()
            self.enter(t.col)
            node = Unary(t.col, "not", self.not_())
            self.depth -= 1
            return node
        return self.cmp()

    def cmp(self) -> Node:
        node = self.sum()
        t = self.peek()
        if t.kind == "op" and t.text in CMP_OPS:
            self.take()
            node = Binary(t.col, t.text, node, self.sum())
            t2 = self.peek()
            if t2.kind == "op" and t2.text in CMP_OPS:
                raise ExprError("comparisons cannot be chained; join them with `and`", t2.col)
        return node

    def sum(self) -> Node:
        node = self.product()
        while self.peek().kind == "op" and self.peek().text in ("+", "-"):
            t = self.take()
            node = Binary(t.col, t.text, node, self.product())
        return node

    def product(self) -> Node:
        node = self.unary()
        while self.peek().kind == "op" and self.peek().text in ("*", "/"):
            t = self.take()
            node = Binary(t.col, t.text, node, self.unary())
        return node

    def unary(self) -> Node:
        t = self.peek()
        if t.kind == "op" and t.text == "-":
            self.take()
            self.enter(t.col)
            node = Unary(t.col, "-", self.unary())
            self.depth -= 1
            return node
        return self.atom()

    def atom(self) -> Node:
        t = self.take()
        if t.kind == "num":
            return Num(t.col, float(t.text))
        if t.kind == "kw" and t.text in ("true", "false"):
            return Num(t.col, 1.0 if t.text == "true" else 0.0)
        if t.kind == "name":
            if self.peek().kind == "op" and self.peek().text == "(":
                self.take()
                self.enter(t.col)
                args: list[Node] = []
                if not (self.peek().kind == "op" and self.peek().text == ")"):
                    args.append(self.or_())
                    while self.peek().kind == "op" and self.peek().text == ",":
                        self.take()
                        args.append(self.or_())
                self.expect(")", "`,` or `)` closing the call of " + t.text)
                self.depth -= 1
                return Call(t.col, t.text, args)
            return Name(t.col, t.text)
        if t.kind == "op" and t.text == "(":
            self.enter(t.col)
            node = self.or_()
            self.expect(")", "`)`")
            self.depth -= 1
            return node
        raise ExprError(f"expected a number, a metric name, a function call or `(`, found {_describe(t)}", t.col)


def _describe(t: Token) -> str:
    return "the end of the expression" if t.kind == "end" else f"`{t.text}`"


def parse(text: str) -> Node:
    """Syntax tree of an expression; ExprError (with column) when it is not one."""
    if not isinstance(text, str):
        raise ExprError("an expression must be a string", 1)
    return _Parser(text).parse()
