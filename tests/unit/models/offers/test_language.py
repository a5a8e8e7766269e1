"""The offer expression language: round trips, bad inputs pinned to messages, evaluation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reclift.models.offers.language import (
    And,
    AttributeSpec,
    Compare,
    In,
    Node,
    Not,
    OfferSchema,
    OfferSyntaxError,
    Or,
    compile_offer,
    evaluate,
    parse,
    to_text,
)

ITEMS = pd.DataFrame(
    {
        "category": ["shoes", "bags", "shoes", None, "hats"],
        "brand": ["A", "B", "C", "A", "B"],
        "price": [30.0, 80.0, 60.0, 10.0, np.nan],
        "genres": [["x", "y"], ["y"], [], ["z"], ["x"]],
    }
)
SCHEMA = OfferSchema.from_items(ITEMS, ["category", "brand", "price", "genres"])


def test_schema_inference() -> None:
    assert SCHEMA.attributes["price"].kind == "numeric"
    assert SCHEMA.attributes["genres"].multi
    assert SCHEMA.attributes["category"].values == frozenset({"shoes", "bags", "hats"})


def test_examples_from_the_issue() -> None:
    assert parse('category = "shoes" AND price < 50') == And(
        (Compare("category", "=", "shoes"), Compare("price", "<", 50))
    )
    assert parse('brand IN ("A","B") OR category = "bags"') == Or(
        (In("brand", ("A", "B")), Compare("category", "=", "bags"))
    )


def test_precedence_and_flattening() -> None:
    a, b, c = (Compare(n, "=", "v") for n in "abc")
    assert parse('a = "v" OR b = "v" AND c = "v"') == Or((a, And((b, c))))
    assert parse('(a = "v" AND b = "v") AND c = "v"') == And((a, b, c))
    assert parse('not a = "v" and b <> "v"') == And((Not(a), Compare("b", "!=", "v")))
    assert parse("x NOT IN (1, 2.5, -3e2)") == In("x", (1, 2.5, -300.0), negated=True)
    assert parse(r'a = "say \"hi\" \\ ok"') == Compare("a", "=", 'say "hi" \\ ok')


BAD_SYNTAX = [
    ("", 0, "empty expression"),
    ('category = "shoes', 11, "unterminated string"),
    ("price < 5 $", 10, "unexpected character '$'"),
    ("price <", 7, "expected a value (a quoted string or a number), found end of expression"),
    ("category = shoes", 11, "expected a value, found 'shoes'"),
    ('category "shoes"', 9, "expected an operator (=, !=, <, <=, >, >=) or IN after 'category'"),
    ('(category = "a"', 15, "expected ')' or AND/OR, found end of expression"),
    ('category = "a" brand = "b"', 15, "expected AND, OR or the end of the expression"),
    ('brand IN "A"', 9, "expected '(' after IN"),
    ('brand IN ("A" "B")', 14, "expected ',' or ')' in the IN list"),
    ('brand NOT = "A"', 10, "expected IN after NOT"),
    ('AND brand = "A"', 0, "expected an attribute name, NOT or '('"),
]


@pytest.mark.parametrize(("text", "pos", "message"), BAD_SYNTAX)
def test_bad_syntax_is_pinned(text: str, pos: int, message: str) -> None:
    with pytest.raises(OfferSyntaxError) as info:
        parse(text)
    assert info.value.position == pos
    assert str(info.value).startswith(f"offer expression, position {pos}: {message}")


BAD_SEMANTICS = [
    ('colour = "red"', 0, "unknown attribute 'colour'", None),
    ('brand = "A" AND categroy = "shoes"', 16, "unknown attribute 'categroy'", "'category'"),
    ('category = "shoe"', 0, "unknown value 'shoe' of attribute 'category'", "'shoes'"),
    ('price = "cheap"', 0, "attribute 'price' is numeric; 'cheap' is not a number", None),
    ('category < "b"', 0, "operator '<' needs a numeric attribute", None),
    ("brand IN (1)", 0, "attribute 'brand' is categorical; quote the value", None),
    ('genres = "w"', 0, "unknown value 'w' of attribute 'genres'", None),
]


@pytest.mark.parametrize(("text", "pos", "message", "hint"), BAD_SEMANTICS)
def test_bad_semantics_are_pinned(text: str, pos: int, message: str, hint: str | None) -> None:
    with pytest.raises(OfferSyntaxError) as info:
        compile_offer(text, SCHEMA)
    assert info.value.position == pos
    assert message in str(info.value)
    if hint is not None:
        assert info.value.hint is not None and hint in info.value.hint


EVAL_CASES = [
    ('category = "shoes"', [1, 0, 1, 0, 0]),
    ('category != "shoes"', [0, 1, 0, 0, 1]),  # a missing category satisfies neither
    ('category = "shoes" AND price < 50', [1, 0, 0, 0, 0]),
    ('brand IN ("A","B") OR category = "bags"', [1, 1, 0, 1, 1]),
    ("price >= 60", [0, 1, 1, 0, 0]),
    ("NOT price >= 60", [1, 0, 0, 1, 1]),
    ('genres = "x"', [1, 0, 0, 0, 1]),
    ('genres IN ("y", "z")', [1, 1, 0, 1, 0]),
    ('genres NOT IN ("x")', [1, 1, 0, 1, 0]),
    ("price IN (10, 80)", [0, 1, 0, 1, 0]),
]


@pytest.mark.parametrize(("text", "expected"), EVAL_CASES)
def test_evaluate_against_hand_computed_masks(text: str, expected: list[int]) -> None:
    mask = evaluate(compile_offer(text, SCHEMA), ITEMS, SCHEMA)
    assert mask.tolist() == [bool(v) for v in expected]


# ------------------------------------------------------------------- property tests

names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True).filter(
    lambda s: s.upper() not in {"AND", "OR", "NOT", "IN"}
)
values = st.one_of(
    st.text(max_size=8),
    st.integers(-(10**9), 10**9),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
)
leaves = st.one_of(
    st.builds(Compare, names, st.sampled_from(["=", "!=", "<", "<=", ">", ">="]), values),
    st.builds(In, names, st.lists(values, min_size=1, max_size=4).map(tuple), st.booleans()),
)


def _trees(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    no_and = children.filter(lambda n: not isinstance(n, And))
    no_or = children.filter(lambda n: not isinstance(n, Or))
    return st.one_of(
        st.builds(Not, children),
        st.lists(no_and, min_size=2, max_size=3).map(lambda xs: And(tuple(xs))),
        st.lists(no_or, min_size=2, max_size=3).map(lambda xs: Or(tuple(xs))),
    )


trees = st.recursive(leaves, _trees, max_leaves=8)


@settings(max_examples=300, deadline=None)
@given(trees)
def test_parse_print_round_trip(tree: Node) -> None:
    assert parse(to_text(tree)) == tree


CAT = st.sampled_from(["shoes", "bags", "hats"])
simple_leaves = st.one_of(
    st.builds(Compare, st.just("category"), st.sampled_from(["=", "!="]), CAT),
    st.builds(Compare, st.just("price"), st.sampled_from(["<", ">=", "="]), st.integers(0, 90)),
    st.builds(In, st.just("brand"), st.lists(st.sampled_from("ABC"), min_size=1).map(tuple)),
)


def _naive(node: Node, row: pd.Series) -> bool:
    """A row-at-a-time reference evaluator."""
    if isinstance(node, Compare):
        v = row[node.attribute]
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return False
        ops = {
            "=": v == node.value,
            "!=": v != node.value,
            "<": v < node.value,
            ">=": v >= node.value,
        }
        return bool(ops[node.op])
    if isinstance(node, In):
        return bool(row[node.attribute] in node.values) != node.negated
    if isinstance(node, Not):
        return not _naive(node.item, row)
    if isinstance(node, And):
        return all(_naive(i, row) for i in node.items)
    assert isinstance(node, Or)
    return any(_naive(i, row) for i in node.items)


@settings(max_examples=150, deadline=None)
@given(st.recursive(simple_leaves, _trees, max_leaves=6))
def test_vectorised_evaluation_matches_row_reference(tree: Node) -> None:
    frame = ITEMS[["category", "brand", "price"]]
    fast = evaluate(tree, frame, SCHEMA)
    slow = [_naive(tree, row) for _, row in frame.iterrows()]
    assert fast.tolist() == slow


def test_schema_validates_every_leaf_spec() -> None:
    spec = AttributeSpec("x", "categorical", None)
    schema = OfferSchema({"x": spec})
    assert compile_offer('x = "anything"', schema) == Compare("x", "=", "anything")
