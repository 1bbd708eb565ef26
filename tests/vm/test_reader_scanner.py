"""The reader's scanner fast paths (flat lists read in one match, cached atoms) give the general path's results.

Every expectation here is what the token-by-token reader produced before the
fast paths existed.
"""

from __future__ import annotations

import pytest

from tapevm.vm.errors import ReadError
from tapevm.vm.printer import to_source
from tapevm.vm.reader import read_forms

# (source, [(to_source of the form, line, column, source text)])
FORMS = [
    ("(a . b)", [("(a . b)", 1, 1, "(a . b)")]),
    ("(define x 1)\n  (define y -2) ; c\n(f)",
     [("(define x 1)", 1, 1, "(define x 1)"), ("(define y -2)", 2, 3, "(define y -2)"), ("(f)", 3, 1, "(f)")]),
    ("(x\u00a0y\u2028z)", [("(x y z)", 1, 1, "(x\u00a0y\u2028z)")]),
    ("[(a b) (c d)]", [("[(a b) (c d)]", 1, 1, "[(a b) (c d)]")]),
    ("'(a b)", [("'(a b)", 1, 1, "'(a b)")]),
    ("((a . 1) (b . 2))", [("((a . 1) (b . 2))", 1, 1, "((a . 1) (b . 2))")]),
    ("(a @b)", [("(a (deref b))", 1, 1, "(a @b)")]),
    ("(+5 -0 007 1.5 \u0663)", [("(5 0 7 1.5 \u0663)", 1, 1, "(+5 -0 007 1.5 \u0663)")]),
    ("{(k) (v)}", [("{(k) (v)}", 1, 1, "{(k) (v)}")]),
    ("(a) (b . c) (d e)", [("(a)", 1, 1, "(a)"), ("(b . c)", 1, 5, "(b . c)"), ("(d e)", 1, 13, "(d e)")]),
    ('"plain" |sym bol| :|key word| "esc\\n"',
     [('"plain"', 1, 1, '"plain"'), ("|sym bol|", 1, 9, "|sym bol|"), (":|key word|", 1, 19, ":|key word|"),
      ('"esc\\n"', 1, 31, '"esc\\n"')]),
]


@pytest.mark.parametrize("source, expected", FORMS)
def test_forms_positions_and_text(source: str, expected: list[tuple[str, int, int, str]]) -> None:
    assert [(to_source(f), line, col, text) for f, line, col, text in read_forms(source)] == expected


# (source, message, incomplete)
ERRORS = [
    ("(a #bad)", "syntax error: unknown syntax '#bad' at line 1, column 4", False),
    ("(1 2 :)", "syntax error: unknown syntax ':' at line 1, column 6", False),
    ("(a . (b c) d)", "syntax error: only one form may follow '.' in a dotted list at line 1, column 12", False),
    ("(a (b) . )", "syntax error: expected one form after '.' in a dotted list at line 1, column 10", False),
    ("(a (b c)", "syntax error: unterminated list at line 1, column 1", True),
    ('(a "b\\', "syntax error: unterminated string at line 1, column 4", True),
]


@pytest.mark.parametrize("source, message, incomplete", ERRORS)
def test_errors_inside_flat_lists_keep_their_positions(source: str, message: str, incomplete: bool) -> None:
    with pytest.raises(ReadError) as info:
        read_forms(source)
    assert str(info.value) == message
    assert info.value.incomplete is incomplete
