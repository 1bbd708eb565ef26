"""Runs of plain-atom lists (``(begin (define a 1) (define b 2) ...)``) are read in one go.

The run path must read exactly what the list-by-list path reads: the same
forms, positions and source texts, and the same ReadError (message, line,
column) when a list of the run needs the general path (``.``, bad syntax).
Differential: the same text read with the run path switched off.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tapevm.vm import reader
from tapevm.vm.errors import ReadError
from tapevm.vm.values import Pair

CASES = [
    "(begin (define a 1) (define b 2))",
    "(a (b c) ; (x) y\n (d . e) (f g))",
    "(a (b c) (d e . f) (g))",
    "[(a 1) (b 2) (c 3)]",
    "{(a) (b) (c) (d)}",
    "(let ((a 1) (b 2)) (+ a b))",
    "(x (a) (b) . (c))",
    "(q '(a) (b) (c))",
    "((a) (b)) ((c) (d))",
    "(begin (define a 1) (define b #bad))",
    "(begin (define a 1) (define b 1) (. x))",
    "(begin (a b)(c d)(e f))",
    '(begin (a b) (c d) "s" (e f))',
    "(begin (define a 1) (define b 2)",
    "(begin (a) (b) ;; (c)\n)",
    "(1 (2 3) (4 5) . 6)",
    "(x . (a) (b))",
    "(begin (a 99999999999999999999999999) (b -1.5e3 :k \"\") (c))",
]


def shape(value: Any) -> Any:
    """A comparable form of read data (Pairs compare with their dotted tails)."""
    if type(value) is Pair:
        return ("pair", shape(value.car), shape(value.cdr))
    if isinstance(value, tuple):
        return ("vector", *map(shape, value))
    return (type(value).__name__, repr(value))


def read_both(text: str, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    def outcome() -> Any:
        try:
            return [(shape(f), line, col, src) for f, line, col, src in reader.read_forms(text)]
        except ReadError as e:
            return ("error", str(e), e.line, e.column)

    fast = outcome()
    with monkeypatch.context() as m:  # a run pattern that never goes past one list: the run path is off
        m.setattr(reader, "_FLAT_RUN", re.compile(rf"\({reader._FLAT_INSIDE}\)"))
        slow = outcome()
    return fast, slow


@pytest.mark.parametrize("text", CASES)
def test_runs_read_like_lists_one_by_one(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fast, slow = read_both(text, monkeypatch)
    assert fast == slow


ATOMS = st.sampled_from(["a", "define", "x1", "0", "42", "-3", "1.5", ":k", "nil", "#t", ".", "#bad", "1e999",
                         "ns/x", "12345678901234567890"])
FLAT = st.lists(ATOMS, max_size=4).map(lambda xs: "(" + " ".join(xs) + ")")
PIECE = st.one_of(FLAT, FLAT, FLAT, st.sampled_from([" ", "\n", " ; (c) x\n", "'", '"s"', "(", ")", "[", "]", "y"]))


@given(st.lists(PIECE, max_size=30).map(lambda ps: "(begin " + " ".join(ps) + ")"))
def test_random_runs_read_like_lists_one_by_one(text: str) -> None:
    with pytest.MonkeyPatch.context() as monkeypatch:
        fast, slow = read_both(text, monkeypatch)
    assert fast == slow
