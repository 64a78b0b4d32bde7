"""A small Spark SQL expression subset compiled to Python callables (no pyspark).

The export's next-best-action rules (``export.next_best_actions`` in conf) are Spark SQL over
the export's candidate columns; Spark evaluates them in ``build_export`` and the hot lane and the
read API evaluate the same text here. The compiler accepts only what it can evaluate exactly as
Spark does (ANSI mode, Spark 4 defaults), and refuses the rest at compile time with a
:class:`~pipelines.config.ConfigError` naming the rule.

Supported:
- literals: ``'text'``/``"text"`` (backslash escapes), integers (int, bigint, ``L`` suffix),
  decimals (``1.5``, ``BD`` suffix), doubles (``1e3``, ``D`` suffix), ``TRUE``/``FALSE``/``NULL``;
- column references, case-insensitive, optionally backquoted, with struct field access
  (``last_ticket.ticket_id``; on an array of structs it gives the array of that field) and
  subscripts (``open_ticket_ids[0]``, ``identifiers['email']``);
- ``AND``, ``OR``, ``NOT``, ``= == != <> < <= > >= <=>``, ``[NOT] IN (…)``,
  ``[NOT] BETWEEN … AND …``, ``IS [NOT] NULL|TRUE|FALSE``, ``+ - * /``, ``||``, parentheses;
- functions ``concat``, ``concat_ws``, ``coalesce``, ``lower``, ``upper``, ``array_contains``.

Semantics (as Spark's): SQL three-valued logic (NULL propagates; ``false AND NULL`` is false,
``true OR NULL`` true; ``x IN (…, NULL)`` is NULL when no element matches); ``/`` is double
division; comparing a string with a number casts the string to the number's type and a string
with a timestamp casts it to a timestamp (UTC). Errors Spark raises at run time under ANSI
mode (division by zero, integer overflow, array index out of range, a string that is not a
number) raise :class:`RuleError`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from pipelines.config import ConfigError
from pipelines.spark_numbers import java_double

# Static types: a name below, or a dict of struct field name -> type. "any" is a column whose
# type the compiler does not know (checked when the row is evaluated instead).
Type = str | dict
NUMERIC = ("int", "bigint", "decimal", "double")
_INT_RANGE = {"int": 2**31, "bigint": 2**63}
Env = Mapping[str, Any]


class RuleError(ValueError):
    """A rule failed on a row where Spark (ANSI mode) fails too: division by zero, overflow,
    array index out of range, a value that does not cast."""


@dataclass(frozen=True)
class Compiled:
    """A compiled expression: ``fn(columns)`` with ``columns`` keyed by lower-case name."""

    fn: Callable[[Env], Any]
    type: Type
    columns: frozenset[str]  # the (lower-case) columns it reads
    rule: str

    def __call__(self, env: Env) -> Any:
        return self.fn(env)


def compile_condition(sql: str, rule: str, types: Mapping[str, Type] | None = None) -> Compiled:
    """Compile a boolean rule condition; its result is True, False or None (NULL)."""
    parsed = _Parser(sql, rule, types or {}).parse()
    if _category(parsed.type) not in ("boolean", "null", "any"):
        raise _config_error(rule, sql, f"condition is of type {_name(parsed.type)}, not boolean")
    return parsed


def compile_expression(sql: str, rule: str, types: Mapping[str, Type] | None = None) -> Compiled:
    """Compile a value expression (a rule's ``hint_sql``)."""
    return _Parser(sql, rule, types or {}).parse()


# --- rendering --------------------------------------------------------------------------------


def to_spark_string(value: Any, type_: Type = "any") -> str | None:
    """``CAST(value AS STRING)`` as Spark renders it (session time zone UTC)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return java_double(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return _timestamp_string(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_nested_string(v) for v in value) + "]"
    if isinstance(value, Mapping):
        if type_ == "map":
            pairs = (f"{_nested_string(k)} -> {_nested_string(v)}" for k, v in value.items())
            return "{" + ", ".join(pairs) + "}"
        return "{" + ", ".join(_nested_string(v) for v in value.values()) + "}"
    raise RuleError(f"cannot render {type(value).__name__} as a string")


def _nested_string(value: Any) -> str:
    text = to_spark_string(value)
    return "null" if text is None else text




def _timestamp_string(value: datetime) -> str:
    utc = as_utc(value)
    text = utc.strftime("%Y-%m-%d %H:%M:%S")
    if utc.microsecond:  # Spark drops trailing zeros of the fraction
        text += "." + f"{utc.microsecond:06d}".rstrip("0")
    return text


def as_utc(value: datetime) -> datetime:
    """An aware UTC datetime; a naive one means UTC (the session time zone)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


_TIMESTAMP = re.compile(
    r"^\s*(\d{4})(?:-(\d{1,2})(?:-(\d{1,2})(?:[ T](\d{1,2}):(\d{1,2})(?::(\d{1,2})"
    r"(?:\.(\d{1,9}))?)?\s*(Z|[+-]\d{2}:?\d{2})?)?)?)?\s*$"
)


def _to_timestamp(text: str) -> datetime:
    """``CAST(text AS TIMESTAMP)`` in UTC: the ISO forms Spark accepts; anything else fails,
    as it does under ANSI mode."""
    m = _TIMESTAMP.match(text)
    if not m:
        raise RuleError(f"cannot cast {text!r} to a timestamp")
    year, month, day, hour, minute, second, fraction, zone = m.groups()
    micros = int((fraction or "0")[:6].ljust(6, "0"))
    tz: timezone = UTC
    if zone and zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        tz = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    try:
        parsed = datetime(
            int(year), int(month or 1), int(day or 1), int(hour or 0), int(minute or 0),
            int(second or 0), micros, tzinfo=tz,
        )  # fmt: skip
    except ValueError as err:
        raise RuleError(f"cannot cast {text!r} to a timestamp") from err
    return parsed.astimezone(UTC)


# --- runtime helpers (Spark semantics) --------------------------------------------------------


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float | Decimal) and not isinstance(v, bool)


def _cast_number(text: str, like: Any) -> Any:
    """A string compared with a number is cast to that number's type (ANSI: or fails)."""
    try:
        if isinstance(like, int):
            return int(text.strip())
        if isinstance(like, Decimal):
            return Decimal(text.strip())
        return float(text.strip())
    except ValueError as err:
        raise RuleError(f"cannot cast {text!r} to a number") from err


def _comparable(a: Any, b: Any) -> tuple[Any, Any]:
    if _is_number(a) and _is_number(b):
        if isinstance(a, float) or isinstance(b, float):
            return float(a), float(b)  # a decimal meets a double as a double, as in Spark
        return a, b
    if isinstance(a, str) and _is_number(b):
        return _cast_number(a, b), b
    if _is_number(a) and isinstance(b, str):
        return a, _cast_number(b, a)
    if isinstance(a, datetime) and isinstance(b, str):
        return as_utc(a), _to_timestamp(b)
    if isinstance(a, str) and isinstance(b, datetime):
        return _to_timestamp(a), as_utc(b)
    if isinstance(a, datetime) and isinstance(b, datetime):
        return as_utc(a), as_utc(b)
    same = (
        (isinstance(a, bool) and isinstance(b, bool))
        or (isinstance(a, str) and isinstance(b, str))
        or (isinstance(a, date) and isinstance(b, date))
        or (isinstance(a, list) and isinstance(b, list))
        or (isinstance(a, Mapping) and isinstance(b, Mapping))
    )
    if not same:
        raise RuleError(f"cannot compare {type(a).__name__} with {type(b).__name__}")
    return a, b


def _order(a: Any, b: Any) -> int:
    """-1, 0 or 1 as Spark orders two non-null values (NaN = NaN, NaN above every number)."""
    a, b = _comparable(a, b)
    if isinstance(a, float) and (math.isnan(a) or math.isnan(b)):
        return (math.isnan(a) > math.isnan(b)) - (math.isnan(a) < math.isnan(b))
    if isinstance(a, list | Mapping):
        if a == b:
            return 0
        if isinstance(a, Mapping):
            raise RuleError("maps and structs only compare for equality")
    return (a > b) - (a < b)


def _equal(a: Any, b: Any) -> bool | None:
    if a is None or b is None:
        return None
    return _order(a, b) == 0


def _check_range(value: Any, type_: Type) -> Any:
    bound = _INT_RANGE.get(type_) if isinstance(type_, str) else None
    if bound is not None and isinstance(value, int) and not -bound <= value < bound:
        raise RuleError(f"{type_} overflow: {value}")
    return value


def _coerce(value: Any, type_: Type) -> Any:
    """A value of a wider static type than its Python value (an int where Spark has a double)."""
    if type_ == "double" and _is_number(value) and not isinstance(value, float):
        return float(value)
    return value


def _negate(value: Any, type_: Type) -> Any:
    if value is None:
        return None
    if not _is_number(value):
        raise RuleError(f"unary - needs a number, got {type(value).__name__}")
    return _check_range(-value, type_)  # -0.0 stays -0.0, as in Spark


def _arith(op: str, a: Any, b: Any, type_: Type) -> Any:
    if a is None or b is None:
        return None
    if not (_is_number(a) and _is_number(b)):
        raise RuleError(f"{op} needs numbers, got {type(a).__name__} and {type(b).__name__}")
    if op == "/":
        if b == 0:
            raise RuleError("division by zero")
        return float(a) / float(b)
    if isinstance(a, float) or isinstance(b, float):
        a, b = float(a), float(b)
    result = a + b if op == "+" else a - b if op == "-" else a * b
    return _check_range(_coerce(result, type_), type_)


# --- static types -----------------------------------------------------------------------------


def _category(t: Type) -> str:
    if isinstance(t, dict):
        return "struct"
    return "numeric" if t in NUMERIC else t


def _name(t: Type) -> str:
    return "struct" if isinstance(t, dict) else t


def _wider(a: Type, b: Type) -> Type:
    """The common numeric type of two numeric types (Spark's widening)."""
    if a == "null":
        return b
    if b == "null":
        return a
    if "any" in (a, b):
        return "any"
    for t in ("double", "decimal", "bigint"):
        if t in (a, b):
            return t
    return "int"


def _common(types: Sequence[Type]) -> Type | None:
    """The type coalesce/IN give a list of types, or None when they do not mix."""
    known = [t for t in types if t not in ("null", "any")]
    if not known:
        return "any" if "any" in types else "null"
    cats = {_category(t) for t in known}
    if cats == {"numeric"}:
        result: Type = "null"
        for t in types:
            result = _wider(result, t)
        return result
    if len(cats) > 1:
        return None
    return "any" if "any" in types else known[0]


def _comparable_types(a: Type, b: Type) -> bool:
    ca, cb = _category(a), _category(b)
    if "any" in (ca, cb) or "null" in (ca, cb) or ca == cb:
        return True
    return {ca, cb} in ({"numeric", "string"}, {"timestamp", "string"})


# --- tokenizer --------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""(?P<ws>\s+)
    |(?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
    |(?P<qid>`(?:[^`]|``)+`)
    |(?P<num>(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)(?:BD|bd|[LlDd])?(?![\w]))
    |(?P<id>[A-Za-z_][A-Za-z0-9_]*)
    |(?P<op><=>|<>|!=|==|<=|>=|\|\||[=<>+\-*/(),.\[\]])
    """,
    re.VERBOSE,
)
_ESCAPES = {"0": "\0", "b": "\b", "n": "\n", "r": "\r", "t": "\t", "Z": "\x1a"}
KEYWORDS = frozenset({"and", "or", "not", "in", "is", "null", "true", "false", "between"})


@dataclass(frozen=True)
class _Token:
    kind: str  # str, qid, num, id, kw, op, end
    text: str
    pos: int


def _unescape(body: str) -> str:
    """Spark's string literal escapes (``\\'``, ``\\n``, ``\\uXXXX``…; ``\\%``/``\\_`` stay)."""
    out, i = [], 0
    while i < len(body):
        ch = body[i]
        if ch != "\\" or i + 1 == len(body):
            out.append(ch)
            i += 1
            continue
        nxt = body[i + 1]
        if nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", body[i + 2 : i + 6]):
            out.append(chr(int(body[i + 2 : i + 6], 16)))
            i += 6
            continue
        out.append(_ESCAPES.get(nxt, "\\" + nxt if nxt in "%_" else nxt))
        i += 2
    return "".join(out)


def _tokens(sql: str, rule: str) -> list[_Token]:
    tokens, pos = [], 0
    while pos < len(sql):
        m = _TOKEN.match(sql, pos)
        if not m:
            raise _config_error(rule, sql, f"unsupported character {sql[pos]!r} at {pos}")
        kind = m.lastgroup or ""
        if kind != "ws":
            text = m.group()
            if kind == "id" and text.lower() in KEYWORDS:
                kind, text = "kw", text.lower()
            tokens.append(_Token(kind, text, pos))
        pos = m.end()
    tokens.append(_Token("end", "", len(sql)))
    return tokens


def _config_error(rule: str, sql: str, message: str) -> ConfigError:
    return ConfigError(f"export.next_best_actions rule {rule!r}: {message} in {sql!r}")


# --- parser / compiler ------------------------------------------------------------------------

_CMP = {
    "=": lambda o: o == 0,
    "==": lambda o: o == 0,
    "!=": lambda o: o != 0,
    "<>": lambda o: o != 0,
    "<": lambda o: o < 0,
    "<=": lambda o: o <= 0,
    ">": lambda o: o > 0,
    ">=": lambda o: o >= 0,
}
_FUNCTIONS = ("concat", "concat_ws", "coalesce", "lower", "upper", "array_contains")


class _Parser:
    """Recursive descent over Spark's precedence: OR < AND < NOT < IN/BETWEEN/IS <
    comparison < + - || < * / < unary - < field access and subscript."""

    def __init__(self, sql: str, rule: str, types: Mapping[str, Type]) -> None:
        self.sql, self.rule = sql, rule
        self.types = {k.lower(): v for k, v in types.items()}
        self.tokens = _tokens(sql, rule)
        self.i = 0
        self.columns: set[str] = set()

    # token helpers
    def peek(self) -> _Token:
        return self.tokens[self.i]

    def take(self) -> _Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def accept(self, *texts: str) -> _Token | None:
        tok = self.peek()
        if tok.kind in ("op", "kw") and tok.text in texts:
            return self.take()
        return None

    def expect(self, text: str) -> None:
        if not self.accept(text):
            self.fail(f"expected {text!r}")

    def fail(self, message: str, tok: _Token | None = None) -> None:
        tok = tok or self.peek()
        where = f"'{tok.text}' at {tok.pos}" if tok.kind != "end" else "the end"
        raise _config_error(self.rule, self.sql, f"{message} (found {where})")

    def error(self, message: str) -> ConfigError:
        return _config_error(self.rule, self.sql, message)

    def node(self, fn: Callable[[Env], Any], type_: Type) -> Compiled:
        return Compiled(fn, type_, frozenset(self.columns), self.rule)

    def parse(self) -> Compiled:
        if self.peek().kind == "end":
            self.fail("empty expression")
        expr = self.or_()
        if self.peek().kind != "end":
            self.fail("unsupported syntax")
        return self.node(expr.fn, expr.type)

    # boolean levels
    def boolean(self, expr: Compiled, what: str) -> Compiled:
        if _category(expr.type) not in ("boolean", "null", "any"):
            raise self.error(f"{what} needs a boolean, got {_name(expr.type)}")
        return expr

    def or_(self) -> Compiled:
        left = self.and_()
        while self.accept("or"):
            left = _or(self.boolean(left, "OR"), self.boolean(self.and_(), "OR"))
        return left

    def and_(self) -> Compiled:
        left = self.not_()
        while self.accept("and"):
            left = _and(self.boolean(left, "AND"), self.boolean(self.not_(), "AND"))
        return left

    def not_(self) -> Compiled:
        if self.accept("not"):
            return _not(self.boolean(self.not_(), "NOT"))
        return self.predicate()

    def predicate(self) -> Compiled:
        value = self.comparison()
        negate = bool(self.accept("not"))
        if self.accept("between"):
            low = self.comparison()
            self.expect("and")
            high = self.comparison()
            for bound in (low, high):
                self.check_comparable(value, bound, "BETWEEN")
            result = _and(_compare(">=", value, low), _compare("<=", value, high))
        elif self.accept("in"):
            self.expect("(")
            items = [self.or_()]
            while self.accept(","):
                items.append(self.or_())
            self.expect(")")
            for item in items:
                self.check_comparable(value, item, "IN")
            result = _in(value, items)
        elif not negate and self.accept("is"):
            negate = bool(self.accept("not"))
            tok = self.take()
            if tok.kind != "kw" or tok.text not in ("null", "true", "false"):
                self.fail("expected NULL, TRUE or FALSE after IS", tok)
            if tok.text != "null":
                self.boolean(value, "IS TRUE/FALSE")
            result = _is(value, tok.text)
        elif negate:
            self.fail("expected BETWEEN or IN after NOT")
            raise AssertionError  # unreachable: fail raises
        else:
            return value
        return _not(result) if negate else result

    # value levels
    def check_comparable(self, a: Compiled, b: Compiled, op: str) -> None:
        if not _comparable_types(a.type, b.type):
            raise self.error(f"{op} cannot compare {_name(a.type)} with {_name(b.type)}")

    def comparison(self) -> Compiled:
        left = self.additive()
        while True:
            tok = self.accept(*_CMP, "<=>")
            if not tok:
                return left
            right = self.additive()
            self.check_comparable(left, right, tok.text)
            left = _compare(tok.text, left, right)

    def additive(self) -> Compiled:
        left = self.multiplicative()
        while tok := self.accept("+", "-", "||"):
            right = self.multiplicative()
            if tok.text == "||":
                left = self.concat([left, right])
            else:
                left = self.arith(tok.text, left, right)
        return left

    def multiplicative(self) -> Compiled:
        left = self.unary()
        while tok := self.accept("*", "/"):
            left = self.arith(tok.text, left, self.unary())
        return left

    def arith(self, op: str, a: Compiled, b: Compiled) -> Compiled:
        for side in (a, b):
            if _category(side.type) not in ("numeric", "null", "any"):
                raise self.error(f"{op} needs numbers, got {_name(side.type)}")
        if op == "/":
            if "decimal" in (a.type, b.type):  # Spark's decimal division scale is not modelled
                raise self.error("decimal division is not supported; write a double (1.5D)")
            type_: Type = "double"
        else:
            type_ = _wider(a.type, b.type)
        fa, fb = a.fn, b.fn
        return self.node(lambda env: _arith(op, fa(env), fb(env), type_), type_)

    def unary(self) -> Compiled:
        if tok := self.accept("-", "+"):
            inner = self.unary()
            if _category(inner.type) not in ("numeric", "null", "any"):
                raise self.error(f"unary {tok.text} needs a number, got {_name(inner.type)}")
            if tok.text == "+":
                return inner
            fn, type_ = inner.fn, inner.type
            return self.node(lambda env: _negate(fn(env), type_), type_)
        return self.postfix(self.primary())

    def postfix(self, expr: Compiled) -> Compiled:
        while True:
            if self.accept("."):
                tok = self.take()
                if tok.kind not in ("id", "qid", "kw"):
                    self.fail("expected a field name", tok)
                expr = self.field(expr, _identifier(tok))
            elif self.accept("["):
                index = self.or_()
                self.expect("]")
                expr = self.subscript(expr, index)
            else:
                return expr

    def field(self, expr: Compiled, name: str) -> Compiled:
        type_: Type = "any"
        if isinstance(expr.type, dict):
            fields = {k.lower(): v for k, v in expr.type.items()}
            if name.lower() not in fields:
                raise self.error(f"no field {name!r} in the struct (fields: {sorted(fields)})")
            type_ = fields[name.lower()]
        elif _category(expr.type) not in ("any", "array", "map"):
            raise self.error(f"field access .{name} on {_name(expr.type)}")
        fn, rule = expr.fn, self.rule
        return self.node(lambda env: _get_field(fn(env), name, rule), type_)

    def subscript(self, expr: Compiled, index: Compiled) -> Compiled:
        if _category(expr.type) not in ("any", "array", "map", "struct"):
            raise self.error(f"subscript on {_name(expr.type)}")
        fn, fi = expr.fn, index.fn
        return self.node(lambda env: _subscript(fn(env), fi(env)), "any")

    def primary(self) -> Compiled:
        tok = self.take()
        if tok.kind == "op" and tok.text == "(":
            inner = self.or_()
            self.expect(")")
            return inner
        if tok.kind == "str":
            if self.peek().kind == "str":  # Spark would join adjacent literals; say it instead
                self.fail("adjacent string literals")
            return self.const(_unescape(tok.text[1:-1]), "string")
        if tok.kind == "num":
            return self.number(tok.text)
        if tok.kind == "kw" and tok.text in ("true", "false"):
            return self.const(tok.text == "true", "boolean")
        if tok.kind == "kw" and tok.text == "null":
            return self.const(None, "null")
        if tok.kind in ("id", "qid"):
            if tok.kind == "id" and self.accept("("):
                return self.call(tok)
            return self.column(_identifier(tok))
        self.fail("unsupported syntax", tok)
        raise AssertionError  # unreachable: fail raises

    def const(self, value: Any, type_: Type) -> Compiled:
        return self.node(lambda _env: value, type_)

    def number(self, text: str) -> Compiled:
        lower = text.lower()
        if lower.endswith("bd"):
            return self.const(Decimal(text[:-2]), "decimal")
        if lower.endswith("d"):
            return self.const(float(text[:-1]), "double")
        if lower.endswith("l"):
            value = int(text[:-1]) if text[:-1].isdigit() else None
            if value is None or value >= 2**63:
                raise self.error(f"invalid bigint literal {text}")
            return self.const(value, "bigint")
        if "e" in lower:
            return self.const(float(text), "double")
        if "." in text:
            return self.const(Decimal(text), "decimal")
        value = int(text)
        if value < 2**31:
            return self.const(value, "int")
        if value < 2**63:
            return self.const(value, "bigint")
        return self.const(Decimal(value), "decimal")

    def column(self, name: str) -> Compiled:
        key = name.lower()
        self.columns.add(key)
        rule = self.rule

        def fn(env: Env) -> Any:
            try:
                return env[key]
            except KeyError:
                raise ConfigError(
                    f"export.next_best_actions rule {rule!r}: unknown column {name!r}"
                ) from None

        return self.node(fn, self.types.get(key, "any"))

    def call(self, tok: _Token) -> Compiled:
        name = tok.text.lower()
        if name not in _FUNCTIONS:
            self.fail(f"unsupported function {tok.text}()", tok)
        args: list[Compiled] = []
        if not self.accept(")"):
            args.append(self.or_())
            while self.accept(","):
                args.append(self.or_())
            self.expect(")")
        arity = {"lower": 1, "upper": 1, "array_contains": 2}.get(name)
        if (arity is not None and len(args) != arity) or (name == "coalesce" and not args):
            raise self.error(f"{name}() takes {arity or 'at least 1'} argument(s), got {len(args)}")
        if name == "concat_ws" and not args:
            raise self.error("concat_ws() takes at least 1 argument(s), got 0")
        if name == "concat":
            return self.concat(args)
        if name == "concat_ws":
            return self.concat_ws(args[0], args[1:])
        if name == "coalesce":
            return self.coalesce(args)
        if name == "array_contains":
            return self.array_contains(*args)
        return self.case(name, args[0])

    def concat(self, args: list[Compiled]) -> Compiled:
        cats = {_category(a.type) for a in args} - {"null", "any"}
        if cats & {"struct", "map"} or ("array" in cats and len(cats) > 1):
            raise self.error(f"concat() of {sorted(cats)}: strings or arrays only")
        fns = [a.fn for a in args]
        types = [a.type for a in args]
        type_: Type = "array" if cats == {"array"} else "string"

        def fn(env: Env) -> Any:
            values = [f(env) for f in fns]
            if any(v is None for v in values):
                return None
            if type_ == "array":
                return [x for v in values for x in v]
            if any(isinstance(v, list | Mapping) for v in values):
                raise RuleError("concat() of an array or struct with strings")
            return "".join(to_spark_string(v, t) or "" for v, t in zip(values, types, strict=True))

        return self.node(fn, type_)

    def concat_ws(self, sep: Compiled, parts: list[Compiled]) -> Compiled:
        """Spark's ``concat_ws``: null only when the separator is; null parts and null array
        elements are skipped; arrays contribute their elements."""
        for a in (sep, *parts):
            if _category(a.type) in ("struct", "map"):
                raise self.error(f"concat_ws() of {_name(a.type)}: strings or arrays only")
        if _category(sep.type) == "array":
            raise self.error("concat_ws() separator must be a string, got array")
        fsep, fns = sep.fn, [(a.fn, a.type) for a in parts]

        def fn(env: Env) -> Any:
            separator = to_spark_string(fsep(env), sep.type)
            if separator is None:
                return None
            texts: list[str] = []
            for f, type_ in fns:
                value = f(env)
                items = value if isinstance(value, list) else [value]
                for item in items:
                    if isinstance(item, list | Mapping):
                        raise RuleError("concat_ws() of a nested array or struct")
                    text = to_spark_string(item, "any" if isinstance(value, list) else type_)
                    if text is not None:
                        texts.append(text)
            return separator.join(texts)

        return self.node(fn, "string")

    def coalesce(self, args: list[Compiled]) -> Compiled:
        type_ = _common([a.type for a in args])
        if type_ is None:
            raise self.error(f"coalesce() of mixed types {[_name(a.type) for a in args]}")
        fns = [a.fn for a in args]

        def fn(env: Env) -> Any:
            for f in fns:
                value = f(env)
                if value is not None:
                    return _coerce(value, type_)
            return None

        return self.node(fn, type_)

    def array_contains(self, array: Compiled, item: Compiled) -> Compiled:
        if _category(array.type) not in ("array", "any", "null"):
            raise self.error(f"array_contains() needs an array, got {_name(array.type)}")
        fa, fi = array.fn, item.fn

        def fn(env: Env) -> Any:
            values, wanted = fa(env), fi(env)
            if values is None or wanted is None:
                return None
            if any(v is not None and _order(v, wanted) == 0 for v in values):
                return True
            return None if any(v is None for v in values) else False

        return self.node(fn, "boolean")

    def case(self, name: str, arg: Compiled) -> Compiled:
        if _category(arg.type) in ("array", "struct", "map", "boolean"):
            raise self.error(f"{name}() needs a string, got {_name(arg.type)}")
        fa, type_ = arg.fn, arg.type
        convert = str.lower if name == "lower" else str.upper

        def fn(env: Env) -> Any:
            text = to_spark_string(fa(env), type_)
            return None if text is None else convert(text)

        return self.node(fn, "string")


def _identifier(tok: _Token) -> str:
    return tok.text[1:-1].replace("``", "`") if tok.kind == "qid" else tok.text


def _get_field(value: Any, name: str, rule: str) -> Any:
    """``struct.field`` (case-insensitive, as Spark resolves it); on an array of structs, the
    array of that field."""
    if value is None:
        return None
    if isinstance(value, list):
        return [_get_field(v, name, rule) for v in value]
    if not isinstance(value, Mapping):
        raise RuleError(f"field access .{name} on {type(value).__name__}")
    if name in value:
        return value[name]
    for key, field_value in value.items():
        if isinstance(key, str) and key.lower() == name.lower():
            return field_value
    raise ConfigError(f"export.next_best_actions rule {rule!r}: no field {name!r}")


def _subscript(value: Any, index: Any) -> Any:
    if value is None or index is None:
        return None
    if isinstance(value, Mapping):
        return value.get(index)
    if isinstance(index, bool) or not isinstance(index, int):
        raise RuleError(f"array index must be an integer, got {index!r}")
    if not 0 <= index < len(value):  # ANSI mode: INVALID_ARRAY_INDEX
        raise RuleError(f"array index {index} out of bounds (size {len(value)})")
    return value[index]


# --- compiled node builders (three-valued logic) ----------------------------------------------


def _node(fn: Callable[[Env], Any], type_: Type, *parts: Compiled) -> Compiled:
    columns = frozenset().union(*(p.columns for p in parts))
    return Compiled(fn, type_, columns, parts[0].rule)


def _bool(value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise RuleError(f"expected a boolean, got {type(value).__name__}")


def _and(a: Compiled, b: Compiled) -> Compiled:
    fa, fb = a.fn, b.fn

    def fn(env: Env) -> bool | None:
        left = _bool(fa(env))
        if left is False:  # Spark short-circuits too
            return False
        right = _bool(fb(env))
        if right is False:
            return False
        return None if left is None or right is None else True

    return _node(fn, "boolean", a, b)


def _or(a: Compiled, b: Compiled) -> Compiled:
    fa, fb = a.fn, b.fn

    def fn(env: Env) -> bool | None:
        left = _bool(fa(env))
        if left is True:
            return True
        right = _bool(fb(env))
        if right is True:
            return True
        return None if left is None or right is None else False

    return _node(fn, "boolean", a, b)


def _not(a: Compiled) -> Compiled:
    fa = a.fn

    def fn(env: Env) -> bool | None:
        value = _bool(fa(env))
        return None if value is None else not value

    return _node(fn, "boolean", a)


def _compare(op: str, a: Compiled, b: Compiled) -> Compiled:
    fa, fb = a.fn, b.fn
    if op == "<=>":  # null-safe equality: never NULL

        def safe(env: Env) -> bool:
            left, right = fa(env), fb(env)
            if left is None or right is None:
                return left is None and right is None
            return _order(left, right) == 0

        return _node(safe, "boolean", a, b)
    test = _CMP[op]

    def fn(env: Env) -> bool | None:
        left, right = fa(env), fb(env)
        if left is None or right is None:
            return None
        return test(_order(left, right))

    return _node(fn, "boolean", a, b)


def _in(value: Compiled, items: list[Compiled]) -> Compiled:
    fv, fns = value.fn, [i.fn for i in items]

    def fn(env: Env) -> bool | None:
        wanted = fv(env)
        if wanted is None:
            return None
        saw_null = False
        for f in fns:
            match = _equal(wanted, f(env))
            if match:
                return True
            saw_null = saw_null or match is None
        return None if saw_null else False

    return _node(fn, "boolean", value, *items)


def _is(value: Compiled, what: str) -> Compiled:
    fv = value.fn
    target = {"null": None, "true": True, "false": False}[what]

    def fn(env: Env) -> bool:
        got = fv(env)
        return got is None if target is None else _bool(got) is target

    return _node(fn, "boolean", value)
