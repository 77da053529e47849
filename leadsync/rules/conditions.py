"""The condition language: the small, safe expressions an admin writes for rules.

    title contains "marketing" and employees >= 50
    country in ["US", "CA"] or email matches "@(acme|globex)\\.example$"
    not email_opt_out and count(event.type == "form_submit", days=30) >= 2
    source_created_at >= days_ago(14)

Grammar, loosest binding first::

    expr       := or
    or         := and ("or" and)*
    and        := not ("and" not)*
    not        := "not" not | comparison
    comparison := value (op value | "in" list | "not" "in" list
                         | "contains" value | "matches" STRING)?
    op         := "==" | "!=" | "<" | "<=" | ">" | ">="
    value      := NUMBER | STRING | "true" | "false" | list | FIELD | call | "(" expr ")"
    call       := "count(" event_expr ["," "days" "=" NUMBER] ")"
                | "days_ago(" NUMBER ")" | "exists(" FIELD ")"

A condition is parsed once, when the config loads; an unknown field, a bad
regular expression or a syntax error is reported with its column. Evaluation
is a walk over the parsed tree with the lead's values: there is no Python
``eval``, no attribute access and no call the grammar does not name, so a
condition cannot reach files, the network or Python objects. A missing value
makes a comparison false instead of raising, and ``exists(field)`` asks for it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import re2

from leadsync.rules.compare import (
    Context,
    Evaluator,
    Members,
    compare,
    contains,
    context_now,
    count_events,
    typed,
)


class ConditionError(ValueError):
    """A condition that does not parse: what is wrong, and at which column (1-based)."""

    def __init__(self, message: str, column: int) -> None:
        super().__init__(f"column {column}: {message}")
        self.reason = message
        self.column = column


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<number>-?\d+(?:\.\d+)?)
      | (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<op>==|!=|<=|>=|<|>|\(|\)|\[|\]|,|=)
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)
    )""",
    re.VERBOSE,
)
MAX_DEPTH = 100  # brackets and `not`s, nested
MAX_DAYS = 36_500  # days_ago() and days=: a century either way is past any lead

_KEYWORDS = {"and", "or", "not", "in", "contains", "matches", "true", "false"}
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


@dataclass(frozen=True)
class _Token:
    kind: str  # number, string, op, name, end
    text: str
    column: int


def _tokens(source: str) -> list[_Token]:
    out, pos = [], 0
    while pos < len(source):
        if source[pos:].strip() == "":
            break
        match = _TOKEN.match(source, pos)
        if match is None or match.end() == pos:
            start = len(source) - len(source[pos:].lstrip())
            raise ConditionError(f"unexpected character {source[start]!r}", start + 1)
        kind = match.lastgroup or "op"
        text = match.group(kind)
        out.append(_Token(kind, text, match.start(kind) + 1))
        pos = match.end()
    out.append(_Token("end", "", len(source) + 1))
    return out


@dataclass(frozen=True)
class Condition:
    """A parsed condition: call it with a context to get True or False."""

    source: str
    fields: frozenset[str]
    _evaluate: Evaluator

    def __call__(self, context: Context) -> bool:
        try:
            return bool(self._evaluate(context))
        except TypeError:
            # Values of kinds that do not compare ("abc" < 3): the condition does not hold.
            return False


def parse(source: str, fields: Mapping[str, str], *, about_event: bool = False) -> Condition:
    """Parse ``source``; ``fields`` maps each lead field to its type (str, int, date, ...).

    ``about_event``: the condition judges one event (a behaviour rule), so ``event.*``
    may be used anywhere; the event is ``context["event"]``.
    """
    parser = _Parser(_tokens(source), fields)
    parser.about_event = about_event
    evaluate = parser.expression()
    parser.expect_end()
    return Condition(source, frozenset(parser.used), evaluate)


class _Parser:
    def __init__(self, tokens: list[_Token], fields: Mapping[str, str]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.fields = fields
        self.used: set[str] = set()
        self.in_count = False
        self.about_event = False
        self.depth = 0

    # -- tokens ----------------------------------------------------------------

    @property
    def current(self) -> _Token:
        return self.tokens[self.pos]

    def take(self) -> _Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def at(self, *texts: str) -> bool:
        return self.current.kind in ("op", "name") and self.current.text in texts

    def expect(self, text: str) -> _Token:
        if not self.at(text):
            raise self.error(f"expected {text!r}")
        return self.take()

    def expect_end(self) -> None:
        if self.current.kind != "end":
            raise self.error("expected the end of the condition, or `and` / `or`")

    def error(self, message: str) -> ConditionError:
        token = self.current
        found = "the end" if token.kind == "end" else repr(token.text)
        return ConditionError(f"{message}, found {found}", token.column)

    # -- grammar ---------------------------------------------------------------

    def expression(self) -> Evaluator:
        self.deeper()
        try:
            return self.disjunction()
        finally:
            self.depth -= 1

    def deeper(self) -> None:
        """One level of brackets or `not` more; a condition nested past MAX_DEPTH is refused
        (no admin writes one, and evaluating it would exhaust the stack)."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"nested more than {MAX_DEPTH} levels deep")

    def disjunction(self) -> Evaluator:
        return self.joined("or", self.conjunction, any)

    def conjunction(self) -> Evaluator:
        return self.joined("and", self.negation, all)

    def joined(
        self, word: str, operand: Callable[[], Evaluator], combine: Callable[..., bool]
    ) -> Evaluator:
        """Operands joined by ``word`` (or, and), combined by ``combine`` (any, all): each
        evaluated only while the answer is still open."""
        parts = [operand()]
        while self.at(word):
            self.take()
            parts.append(operand())
        if len(parts) == 1:
            return parts[0]
        return lambda ctx: combine(p(ctx) for p in parts)

    def negation(self) -> Evaluator:
        if self.at("not"):
            self.take()
            self.deeper()
            inner = self.negation()
            self.depth -= 1
            return lambda ctx: not inner(ctx)
        return self.comparison()

    def comparison(self) -> Evaluator:
        left = self.value()
        if self.current.kind == "op" and self.current.text in _COMPARE:
            op = _COMPARE[self.take().text]
            right = self.value()
            return lambda ctx: compare(op, left(ctx), right(ctx))
        if self.at("in"):
            self.take()
            options = self.literal_list()
            members = Members(options)
            return lambda ctx: members.hold(left(ctx))
        if self.at("not") and self.tokens[self.pos + 1].text == "in":
            self.take()
            self.take()
            options = self.literal_list()
            members = Members(options)
            return lambda ctx: (v := left(ctx)) is not None and not members.hold(v)
        if self.at("contains"):
            self.take()
            needle = self.value()
            return lambda ctx: contains(left(ctx), needle(ctx))
        if self.at("matches"):
            self.take()
            token = self.current
            if token.kind != "string":
                raise self.error("`matches` takes a regular expression in quotes")
            self.take()
            pattern = _regex(_unquote(token.text), token.column)
            return lambda ctx: isinstance(v := left(ctx), str) and pattern.search(v) is not None
        return left

    def value(self) -> Evaluator:
        token = self.current
        if token.kind == "number":
            self.take()
            number = float(token.text) if "." in token.text else int(token.text)
            return lambda ctx: number
        if token.kind == "string":
            self.take()
            text = _unquote(token.text)
            return lambda ctx: text
        if token.kind == "op" and token.text == "(":
            self.take()
            inner = self.expression()
            self.expect(")")
            return inner
        if token.kind == "op" and token.text == "[":
            options = self.literal_list()
            return lambda ctx: list(options)
        if token.kind == "name":
            if token.text in ("true", "false"):
                self.take()
                flag = token.text == "true"
                return lambda ctx: flag
            if token.text in _KEYWORDS:
                raise self.error("expected a value")
            if self.tokens[self.pos + 1].text == "(":
                return self.call()
            return self.field()
        raise self.error("expected a value")

    def field(self) -> Evaluator:
        token = self.take()
        name = token.text
        if name.startswith("event."):
            if not (self.in_count or self.about_event):
                raise ConditionError(f"{name!r} is only known inside count(...)", token.column)
            key = name.removeprefix("event.")
            return lambda ctx: (ctx.get("event") or {}).get(key)
        if "." in name or name not in self.fields:
            known = ", ".join(sorted(self.fields))
            raise ConditionError(f"unknown field {name!r} (lead fields: {known})", token.column)
        self.used.add(name)
        kind = self.fields[name]
        return lambda ctx: typed((ctx.get("lead") or {}).get(name), kind)

    def call(self) -> Evaluator:
        token = self.take()
        self.expect("(")
        if token.text == "exists":
            name_token = self.current
            if name_token.kind != "name" or name_token.text not in self.fields:
                raise self.error("exists() takes a lead field")
            self.take()
            self.expect(")")
            self.used.add(name_token.text)
            field = name_token.text
            return lambda ctx: (ctx.get("lead") or {}).get(field) not in (None, "")
        if token.text == "days_ago":
            days = self.days("days_ago() takes a number of days")
            self.expect(")")
            return lambda ctx: context_now(ctx) - timedelta(days=days)
        if token.text == "count":
            if self.in_count:
                raise ConditionError("count() cannot be nested", token.column)
            self.in_count = True
            predicate = self.expression()
            self.in_count = False
            window = None
            if self.at(","):
                self.take()
                self.expect("days")
                self.expect("=")
                window = self.days("days= takes a number")
            self.expect(")")
            return lambda ctx: count_events(ctx, predicate, window)
        raise ConditionError(
            f"unknown function {token.text!r} (known: count, days_ago, exists)", token.column
        )

    def number(self, message: str) -> float:
        token = self.current
        if token.kind != "number":
            raise self.error(message)
        self.take()
        return float(token.text)

    def days(self, message: str) -> float:
        """A number of days, within what a date can be moved by."""
        column = self.current.column
        days = self.number(message)
        if not 0 <= days <= MAX_DAYS:
            raise ConditionError(f"{days:g} days: give 0 to {MAX_DAYS} (100 years)", column)
        return days

    def literal_list(self) -> tuple[Any, ...]:
        self.expect("[")
        items: list[Any] = []
        while not self.at("]"):
            token = self.current
            if token.kind == "string":
                items.append(_unquote(token.text))
            elif token.kind == "number":
                items.append(float(token.text) if "." in token.text else int(token.text))
            else:
                raise self.error("a list holds strings and numbers")
            self.take()
            if not self.at("]"):
                self.expect(",")
        self.take()
        return tuple(items)


# -- evaluation helpers ---------------------------------------------------------


def _regex(text: str, column: int) -> Any:
    """A `matches` pattern, compiled by RE2: matching takes time linear in the text, so a
    pattern such as (a+)+$ cannot hang a sync. RE2 has no backreferences or lookaround;
    a pattern that needs them is refused here, at load time."""
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False  # the error is ours to word, not a line on stderr
    try:
        return re2.compile(text, options)
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
        raise ConditionError(
            f"bad regular expression: {reason} (RE2 syntax: no backreferences or lookaround)",
            column,
        ) from None


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text[1:-1])
