"""The reader and printer: syntax, error positions, deep nesting, round trips."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tapevm.vm.errors import ReadError
from tapevm.vm.printer import display, to_source
from tapevm.vm.reader import read_forms, read_one
from tapevm.vm.values import NIL, Keyword, LMap, Pair, Symbol, lisp_equal, make_list

# (source, value it reads as)
READ_CASES = [
    ("42", 42),
    ("-7", -7),
    ("+5", 5),
    ("123456789012345678901234567890", 123456789012345678901234567890),
    ("1.5", 1.5),
    ("-2e3", -2000.0),
    (".5", 0.5),
    ("1e+16", 1e16),
    ('"hi"', "hi"),
    (r'"a\nb\tc\"d\\e"', 'a\nb\tc"d\\e'),
    (r'"caf\u00e9"', "café"),
    (r'"\u{1F600}"', "\U0001F600"),
    (r'"\ud83d\ude00"', "\U0001F600"),
    ("foo", Symbol("foo")),
    ("ns/name", Symbol("ns/name")),
    ("+", Symbol("+")),
    ("-", Symbol("-")),
    ("1+", Symbol("1+")),
    ("|two words|", Symbol("two words")),
    (":key", Keyword("key")),
    (":|odd key|", Keyword("odd key")),
    ("#t", True),
    ("#f", False),
    ("true", True),
    ("false", False),
    ("nil", NIL),
    ("()", NIL),
    ("(1 2 3)", make_list([1, 2, 3])),
    ("(a . b)", Pair(Symbol("a"), Symbol("b"))),
    ("(1 2 . 3)", Pair(1, Pair(2, 3))),
    ("[1 [2] ()]", (1, (2,), NIL)),
    ("[]", ()),
    ("{:a 1 :b [2]}", LMap([(Keyword("a"), 1), (Keyword("b"), (2,))])),
    ("{}", LMap()),
    ("'x", make_list([Symbol("quote"), Symbol("x")])),
    ("`(a ,b ,@c)", make_list([
        Symbol("quasiquote"),
        make_list([Symbol("a"), make_list([Symbol("unquote"), Symbol("b")]),
                   make_list([Symbol("unquote-splicing"), Symbol("c")])]),
    ])),
    ("@a", make_list([Symbol("deref"), Symbol("a")])),
    ("(1 ; comment\n 2)", make_list([1, 2])),
    ("+inf.0", math.inf),
    ("-inf.0", -math.inf),
]


@pytest.mark.parametrize("source, expected", READ_CASES)
def test_reads(source: str, expected: object) -> None:
    assert lisp_equal(read_one(source), expected)
    assert type(read_one(source)) is type(expected)


# (source, message fragment, line, column)
ERROR_CASES = [
    ('(a\n  "abc', "unterminated string", 2, 3),
    ("(a b", "unterminated list", 1, 1),
    ("[1 2", "unterminated vector", 1, 1),
    ("x\n  {1 2", "unterminated map", 2, 3),
    (")", "unexpected ')'", 1, 1),
    ("(a ]", "does not match", 1, 4),
    ("{1 2 3}", "even number", 1, 1),
    ("(. a)", "unexpected '.'", 1, 2),
    ("(a . b c)", "only one form", 1, 8),
    ("(a .)", "one form after '.'", 1, 5),
    ("'", "expected a form after '", 1, 1),
    ("(a ')", "expected a form after '", 1, 5),
    (r'"bad \q escape"', "unknown escape", 1, 6),
    (r'"\u12"', "bad \\u escape", 1, 2),
    (r'"ab\ud800"', "lone UTF-16 surrogate", 1, 4),
    (r'"\u{110000}"', "bad \\u escape", 1, 2),
    ("#foo", "unknown syntax", 1, 1),
    (":", "unknown syntax", 1, 1),
    ("(1 2)\n\n   (3 |abc", "unterminated |symbol|", 3, 7),
]


@pytest.mark.parametrize("source, fragment, line, column", ERROR_CASES)
def test_read_errors_name_line_and_column(source: str, fragment: str, line: int, column: int) -> None:
    with pytest.raises(ReadError) as info:
        read_forms(source)
    assert fragment in str(info.value)
    assert (info.value.line, info.value.column) == (line, column)
    assert str(info.value).endswith(f"at line {line}, column {column}")


def test_error_message_format() -> None:
    with pytest.raises(ReadError, match=r"^syntax error: unterminated string at line 3, column 5$"):
        read_forms('1\n2\n(fn "abc')
    with pytest.raises(ReadError, match=r"^syntax error: unexpected '\)' .* at prog.lisp, line 1, column 3$"):
        read_forms("1 )", "prog.lisp")


def test_top_level_forms_carry_position_and_text() -> None:
    src = "(define x 1)\n  'y ; note\n[1\n 2]"
    forms = read_forms(src)
    assert [(line, col, text) for _, line, col, text in forms] == [
        (1, 1, "(define x 1)"), (2, 3, "'y"), (3, 1, "[1\n 2]"),
    ]


def test_deeply_nested_list_reads_without_recursion() -> None:
    depth = 100_000
    value = read_one("(" * depth + "x" + ")" * depth)
    for _ in range(depth):
        assert type(value) is Pair and value.cdr is NIL
        value = value.car
    assert value is Symbol("x")


def test_deeply_nested_quotes_and_vectors() -> None:
    depth = 100_000
    value = read_one("[" * depth + "]" * depth)
    text = to_source(value)
    assert text == "[" * depth + "]" * depth
    assert lisp_equal(read_one(text), value)


def test_huge_integers_round_trip() -> None:
    n = 7**20000  # far beyond CPython's default int/str digit limit
    assert read_one(to_source(n)) == n
    assert read_one(to_source(-n)) == -n


# (value, to_source text, display text)
PRINT_CASES = [
    (1, "1", "1"),
    (-2.5, "-2.5", "-2.5"),
    (1e16, "1e+16", "1e+16"),
    (math.nan, "+nan.0", "+nan.0"),
    ("a\"b\n", r'"a\"b\n"', 'a"b\n'),
    ("\x01", r'"\u0001"', "\x01"),
    (Symbol("foo"), "foo", "foo"),
    (Symbol("two words"), "|two words|", "two words"),
    (Symbol("12"), "|12|", "12"),
    (Symbol("nil"), "|nil|", "nil"),
    (Keyword("k"), ":k", ":k"),
    (True, "#t", "#t"),
    (NIL, "nil", "nil"),
    (make_list([1, "a", Symbol("b")]), '(1 "a" b)', '(1 "a" b)'),
    (Pair(1, 2), "(1 . 2)", "(1 . 2)"),
    (make_list([Symbol("quote"), Symbol("x")]), "'x", "'x"),
    ((1, (2,)), "[1 [2]]", "[1 [2]]"),
    (LMap([(Keyword("a"), "x")]), '{:a "x"}', '{:a "x"}'),
]


@pytest.mark.parametrize("value, source, shown", PRINT_CASES)
def test_printing(value: object, source: str, shown: str) -> None:
    assert to_source(value) == source
    assert display(value) == shown


# -- the round-trip property ---------------------------------------------------------
_SYMBOL_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=8
)
scalars = st.one_of(
    st.integers(),
    st.integers(min_value=-(10**60), max_value=10**60),
    st.floats(allow_nan=False),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12),
    st.booleans(),
    st.just(NIL),
    _SYMBOL_TEXT.map(Symbol),
    _SYMBOL_TEXT.map(Keyword),
    st.sampled_from([Symbol("quote"), Symbol("unquote"), Symbol("a/b"), Symbol("."), Symbol("1.5")]),
)


def _map_of(children: st.SearchStrategy[object]) -> st.SearchStrategy[LMap]:
    keys = st.one_of(st.integers(), st.text(max_size=5), _SYMBOL_TEXT.map(Keyword))
    return st.lists(st.tuples(keys, children), max_size=4).map(LMap)


data_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5).map(make_list),
        st.tuples(st.lists(children, min_size=1, max_size=4), children).map(
            lambda p: make_list(p[0], p[1])
        ),
        st.lists(children, max_size=5).map(tuple),
        _map_of(children),
    ),
    max_leaves=25,
)


@given(data_values)
def test_read_of_to_source_is_identity(value: object) -> None:
    text = to_source(value)
    back = read_one(text)
    assert lisp_equal(back, value), text
    assert to_source(back) == text
