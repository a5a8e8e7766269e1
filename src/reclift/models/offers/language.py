"""A small, validated expression language that defines an offer by item attributes.

Examples::

    category = "shoes" AND price < 50
    brand IN ("A", "B") OR category = "bags"
    NOT (genre = "Drama") AND decade >= 1990

Grammar (keywords are case-insensitive; attribute names are identifiers)::

    expr       := or_expr
    or_expr    := and_expr ("OR" and_expr)*
    and_expr   := not_expr ("AND" not_expr)*
    not_expr   := "NOT" not_expr | "(" expr ")" | condition
    condition  := NAME op literal | NAME ["NOT"] "IN" "(" literal ("," literal)* ")"
    op         := "=" | "!=" | "<" | "<=" | ">" | ">="
    literal    := STRING | NUMBER        (STRING: double quotes, \\" and \\\\ escapes)

:func:`parse` returns a typed tree (:class:`Compare`, :class:`In`, :class:`And`, :class:`Or`,
:class:`Not`) in canonical form: ``AND``/``OR`` chains are flattened into one n-ary node.
:func:`to_text` prints a tree so that ``parse(to_text(tree)) == tree``. :func:`validate`
checks a tree against an :class:`OfferSchema` (known attributes, known values of categorical
attributes, comparisons only on numeric ones) and :func:`evaluate` turns it into a boolean
mask over an items table. Every error is an :class:`OfferSyntaxError` naming the character
position and what was expected or unknown.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from reclift.errors import ReclifError

Value = str | int | float
CompareOp = Literal["=", "!=", "<", "<=", ">", ">="]
_OPS: tuple[CompareOp, ...] = ("=", "!=", "<", "<=", ">", ">=")
_KEYWORDS = frozenset({"AND", "OR", "NOT", "IN"})
MAX_DEPTH = 50
"""Deepest nesting of NOT and parentheses an expression may have."""


class OfferSyntaxError(ReclifError):
    """An offer expression that does not parse or does not fit the catalog.

    Attributes
    ----------
    position
        0-based character offset in the expression where the problem starts.
    """

    def __init__(self, message: str, position: int, *, hint: str | None = None) -> None:
        super().__init__(f"offer expression, position {position}: {message}", hint=hint)
        self.position = position


# ---------------------------------------------------------------------------------- the tree


@dataclass(frozen=True)
class Compare:
    """``attribute op value``."""

    attribute: str
    op: CompareOp
    value: Value
    pos: int = field(default=0, compare=False, repr=False)


@dataclass(frozen=True)
class In:
    """``attribute IN (v1, v2, ...)`` (or ``NOT IN`` when ``negated``)."""

    attribute: str
    values: tuple[Value, ...]
    negated: bool = False
    pos: int = field(default=0, compare=False, repr=False)


@dataclass(frozen=True)
class And:
    """All of ``items`` (two or more, none of them an :class:`And`)."""

    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    """Any of ``items`` (two or more, none of them an :class:`Or`)."""

    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    """The complement of ``item``."""

    item: Node


Node = Compare | In | And | Or | Not


# ---------------------------------------------------------------------------------- lexing

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<number>-?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<name>[A-Za-z_][A-Za-z0-9_.]*)
  | (?P<op><=|>=|!=|<>|=|<|>)
  | (?P<lparen>\()
  | (?P<rparen>\))
  | (?P<comma>,)
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Token:
    kind: str  # number, string, name, keyword, op, lparen, rparen, comma, end
    text: str
    pos: int


def _tokens(text: str) -> list[_Token]:
    out: list[_Token] = []
    i = 0
    while i < len(text):
        m = _TOKEN.match(text, i)
        if m is None:
            if text[i] == '"':
                raise OfferSyntaxError("unterminated string", i, hint='close it with "')
            raise OfferSyntaxError(f"unexpected character {text[i]!r}", i)
        kind = m.lastgroup or ""
        if kind != "ws":
            tok = m.group()
            if kind == "name" and tok.upper() in _KEYWORDS:
                out.append(_Token("keyword", tok.upper(), i))
            elif kind == "op":
                out.append(_Token("op", "!=" if tok == "<>" else tok, i))
            else:
                out.append(_Token(kind, tok, i))
        i = m.end()
    out.append(_Token("end", "", len(text)))
    return out


def _unescape(raw: str) -> str:
    return re.sub(r"\\(.)", r"\1", raw[1:-1])


# ---------------------------------------------------------------------------------- parsing


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = _tokens(text)
        self.i = 0
        self.depth = 0

    def peek(self) -> _Token:
        return self.toks[self.i]

    def take(self) -> _Token:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def is_kw(self, word: str) -> bool:
        tok = self.peek()
        return tok.kind == "keyword" and tok.text == word

    def fail(self, expected: str) -> OfferSyntaxError:
        tok = self.peek()
        found = "end of expression" if tok.kind == "end" else repr(tok.text)
        return OfferSyntaxError(f"expected {expected}, found {found}", tok.pos)

    def expr(self) -> Node:
        items = [self.and_expr()]
        while self.is_kw("OR"):
            self.take()
            items.append(self.and_expr())
        return _flatten(Or, items)

    def and_expr(self) -> Node:
        items = [self.not_expr()]
        while self.is_kw("AND"):
            self.take()
            items.append(self.not_expr())
        return _flatten(And, items)

    def not_expr(self) -> Node:
        # NOT and parentheses recurse: bound the depth so a hostile text cannot exhaust
        # the interpreter's stack
        if self.depth >= MAX_DEPTH:
            raise OfferSyntaxError(
                f"expression nested deeper than {MAX_DEPTH} NOT/parentheses", self.peek().pos
            )
        self.depth += 1
        try:
            if self.is_kw("NOT"):
                self.take()
                return Not(self.not_expr())
            if self.peek().kind == "lparen":
                self.take()
                node = self.expr()
                if self.peek().kind != "rparen":
                    raise self.fail("')' or AND/OR")
                self.take()
                return node
            return self.condition()
        finally:
            self.depth -= 1

    def literal(self) -> Value:
        tok = self.peek()
        if tok.kind == "string":
            self.take()
            return _unescape(tok.text)
        if tok.kind == "number":
            self.take()
            try:
                value: int | float = (
                    int(tok.text) if re.fullmatch(r"-?\d+", tok.text) else float(tok.text)
                )
                finite = math.isfinite(float(value))
            except (OverflowError, ValueError):
                # an integer beyond float range (or Python's digit limit) cannot be compared
                finite = False
            if not finite:
                shown = tok.text if len(tok.text) <= 24 else tok.text[:20] + "..."
                raise OfferSyntaxError(f"number {shown} is out of range", tok.pos)
            return value
        if tok.kind == "name":
            raise OfferSyntaxError(
                f"expected a value, found {tok.text!r}",
                tok.pos,
                hint=f'quote text values: "{tok.text}"',
            )
        raise self.fail("a value (a quoted string or a number)")

    def condition(self) -> Node:
        tok = self.peek()
        if tok.kind != "name":
            raise self.fail("an attribute name, NOT or '('")
        self.take()
        name, pos = tok.text, tok.pos
        negated = False
        if self.is_kw("NOT"):
            self.take()
            negated = True
            if not self.is_kw("IN"):
                raise self.fail("IN after NOT")
        if self.is_kw("IN"):
            self.take()
            if self.peek().kind != "lparen":
                raise self.fail("'(' after IN")
            self.take()
            values = [self.literal()]
            while self.peek().kind == "comma":
                self.take()
                values.append(self.literal())
            if self.peek().kind != "rparen":
                raise self.fail("',' or ')' in the IN list")
            self.take()
            return In(name, tuple(values), negated, pos=pos)
        op = self.peek()
        if op.kind != "op":
            raise self.fail(f"an operator ({', '.join(_OPS)}) or IN after {name!r}")
        self.take()
        return Compare(name, op.text, self.literal(), pos=pos)  # type: ignore[arg-type]


def _flatten(cls: type[And] | type[Or], items: list[Node]) -> Node:
    if len(items) == 1:
        return items[0]
    flat: list[Node] = []
    for item in items:
        # a parenthesised chain of the same connective is the same set: keep the tree canonical
        flat.extend(item.items if isinstance(item, cls) else (item,))
    return cls(tuple(flat))


def parse(text: str) -> Node:
    """Parse an offer expression into its canonical tree.

    Parameters
    ----------
    text
        The expression, e.g. ``'genre = "Comedy" AND decade >= 1990'``.

    Raises
    ------
    OfferSyntaxError
        With the 0-based position of the first token that does not fit the grammar.
    """
    if not isinstance(text, str):
        raise OfferSyntaxError(f"expected a string, got {type(text).__name__}", 0)
    if not text.strip():
        raise OfferSyntaxError("empty expression", 0, hint='e.g. category = "shoes"')
    parser = _Parser(text)
    node = parser.expr()
    if parser.peek().kind != "end":
        raise parser.fail("AND, OR or the end of the expression")
    return node


# ---------------------------------------------------------------------------------- printing


def _literal_text(value: Value) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, bool):
        raise OfferSyntaxError(f"boolean value {value!r} is not supported", 0)
    if isinstance(value, int):
        return str(value)
    text = repr(float(value))
    # repr may print an integral float as "5.0" or "1e+16": both parse back to a float
    return text


def to_text(node: Node) -> str:
    """Print a tree in the language; ``parse(to_text(node)) == node`` for canonical trees."""
    if isinstance(node, Compare):
        return f"{node.attribute} {node.op} {_literal_text(node.value)}"
    if isinstance(node, In):
        vals = ", ".join(_literal_text(v) for v in node.values)
        return f"{node.attribute} {'NOT IN' if node.negated else 'IN'} ({vals})"
    if isinstance(node, Not):
        inner = to_text(node.item)
        return f"NOT ({inner})" if isinstance(node.item, (And, Or)) else f"NOT {inner}"
    if isinstance(node, And):
        return " AND ".join(
            f"({to_text(i)})" if isinstance(i, Or) else to_text(i) for i in node.items
        )
    return " OR ".join(f"({to_text(i)})" if isinstance(i, And) else to_text(i) for i in node.items)


def conditions(node: Node) -> list[Compare | In]:
    """The leaf conditions of a tree, left to right."""
    if isinstance(node, (Compare, In)):
        return [node]
    if isinstance(node, Not):
        return conditions(node.item)
    return [leaf for item in node.items for leaf in conditions(item)]


# ---------------------------------------------------------------------------------- schema


@dataclass(frozen=True)
class AttributeSpec:
    """One attribute offers may use.

    Attributes
    ----------
    name
        Column name in the items table.
    kind
        ``"categorical"`` (strings; ``=``, ``!=``, ``IN``) or ``"numeric"`` (all operators).
    values
        Known values of a categorical attribute (None: any value is accepted).
    multi
        The items column holds lists (e.g. several genres); a condition holds when any of an
        item's values satisfies it.
    """

    name: str
    kind: Literal["categorical", "numeric"]
    values: frozenset[str] | None = None
    multi: bool = False


@dataclass(frozen=True)
class OfferSchema:
    """The attributes of a catalog that offers can be written against."""

    attributes: Mapping[str, AttributeSpec]

    @classmethod
    def from_items(cls, items: pd.DataFrame, columns: Sequence[str]) -> OfferSchema:
        """Infer specs from an items frame: numeric dtypes are numeric, lists are multi-valued."""
        specs: dict[str, AttributeSpec] = {}
        for col in columns:
            if col not in items.columns:
                raise ReclifError(f"items: no column {col!r}; it has {list(items.columns)}")
            series = items[col]
            sample = series.dropna()
            multi = bool(len(sample)) and isinstance(sample.iloc[0], (list, tuple, np.ndarray))
            if multi:
                vals = {str(v) for row in sample for v in row}
                specs[col] = AttributeSpec(col, "categorical", frozenset(vals), True)
            elif pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
                specs[col] = AttributeSpec(col, "numeric")
            else:
                specs[col] = AttributeSpec(col, "categorical", frozenset(sample.astype(str)))
        return cls(specs)


def _suggest(word: str, choices: Iterable[str]) -> str | None:
    from rapidfuzz import process

    found = process.extractOne(word, list(choices), score_cutoff=60)
    return None if found is None else str(found[0])


def validate(node: Node, schema: OfferSchema) -> Node:
    """Check a tree against ``schema`` and return it (numbers on numeric attributes only).

    Raises
    ------
    OfferSyntaxError
        Unknown attribute, unknown value of a categorical attribute, a string compared to a
        numeric attribute, or an ordering operator on a categorical one; with the position of
        the condition and the closest known name when one is close.
    """
    for leaf in conditions(node):
        spec = schema.attributes.get(leaf.attribute)
        if spec is None:
            near = _suggest(leaf.attribute, schema.attributes)
            raise OfferSyntaxError(
                f"unknown attribute {leaf.attribute!r}; known: {sorted(schema.attributes)}",
                leaf.pos,
                hint=f"did you mean {near!r}?" if near else None,
            )
        values = leaf.values if isinstance(leaf, In) else (leaf.value,)
        if spec.kind == "numeric":
            for v in values:
                if isinstance(v, str):
                    raise OfferSyntaxError(
                        f"attribute {leaf.attribute!r} is numeric; {v!r} is not a number",
                        leaf.pos,
                    )
            continue
        if isinstance(leaf, Compare) and leaf.op not in ("=", "!="):
            raise OfferSyntaxError(
                f"operator {leaf.op!r} needs a numeric attribute; {leaf.attribute!r} is "
                "categorical (use =, != or IN)",
                leaf.pos,
            )
        for v in values:
            if not isinstance(v, str):
                raise OfferSyntaxError(
                    f'attribute {leaf.attribute!r} is categorical; quote the value: "{v}"',
                    leaf.pos,
                )
            if spec.values is not None and v not in spec.values:
                near = _suggest(v, spec.values)
                raise OfferSyntaxError(
                    f"unknown value {v!r} of attribute {leaf.attribute!r}",
                    leaf.pos,
                    hint=f"did you mean {near!r}?" if near else None,
                )
    return node


# ---------------------------------------------------------------------------------- evaluation


def _leaf_mask(leaf: Compare | In, column: pd.Series, spec: AttributeSpec) -> np.ndarray:
    if spec.multi:
        # explode once, test each value, then "any" per item
        exploded = column.explode()
        inner = _leaf_mask(leaf, exploded, AttributeSpec(spec.name, spec.kind, spec.values))
        hit = pd.Series(inner, index=exploded.index).groupby(level=0).any()
        return np.asarray(hit.reindex(column.index, fill_value=False), dtype=bool)
    if spec.kind == "categorical":
        col: pd.Series = column.astype("string")
        if isinstance(leaf, In):
            m = col.isin([str(v) for v in leaf.values]).fillna(False).to_numpy(dtype=bool)
            return ~m & col.notna().to_numpy() if leaf.negated else m
        eq = (col == str(leaf.value)).fillna(False).to_numpy(dtype=bool)
        return ~eq & col.notna().to_numpy() if leaf.op == "!=" else eq
    num = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)
    known = ~np.isnan(num)
    if isinstance(leaf, In):
        m = np.isin(num, np.asarray([float(v) for v in leaf.values]))
        return (~m & known) if leaf.negated else m
    v = float(leaf.value)
    with np.errstate(invalid="ignore"):
        res = {
            "=": num == v,
            "!=": num != v,
            "<": num < v,
            "<=": num <= v,
            ">": num > v,
            ">=": num >= v,
        }[leaf.op]
    # a missing value satisfies no condition (SQL-like), so NOT of it does
    return np.asarray(res & known, dtype=bool)


def evaluate(node: Node, items: pd.DataFrame, schema: OfferSchema) -> np.ndarray:
    """Boolean mask, shape ``(len(items),)``, of the items the offer covers.

    ``items`` must hold a column per attribute the tree uses (its index is ignored).
    """
    frame = items.reset_index(drop=True)
    if isinstance(node, (Compare, In)):
        spec = schema.attributes[node.attribute]
        if node.attribute not in frame.columns:
            raise ReclifError(f"items: no column {node.attribute!r} for the offer")
        return _leaf_mask(node, frame[node.attribute], spec)
    if isinstance(node, Not):
        return ~evaluate(node.item, frame, schema)
    masks = [evaluate(i, frame, schema) for i in node.items]
    out = masks[0].copy()
    for m in masks[1:]:
        out = (out & m) if isinstance(node, And) else (out | m)
    return out


def compile_offer(text: str, schema: OfferSchema) -> Node:
    """:func:`parse` then :func:`validate`."""
    return validate(parse(text), schema)
