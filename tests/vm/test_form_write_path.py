"""The per-form write path: fast paths give the same events as the general path; printed is capped."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapevm.domain.events import FormEvaluated
from tapevm.infrastructure.session.service import open_session
from tapevm.vm.form_events import PRINTED_LIMIT
from tapevm.vm.interpreter import Interpreter
from tapevm.vm.printer import to_source
from tapevm.vm.values import NIL, Keyword, Symbol
from tapevm.vm.world import World


def test_printed_text_is_kept_whole_up_to_the_limit_and_cut_past_it() -> None:
    exact = Symbol("a" * PRINTED_LIMIT)
    assert to_source(exact, PRINTED_LIMIT) == exact.name
    long = Symbol("b" * (PRINTED_LIMIT + 1))
    assert to_source(long, PRINTED_LIMIT) == "b" * PRINTED_LIMIT + "..."


def test_long_result_is_capped_in_the_log_but_returned_in_full(tmp_path: Path) -> None:
    with open_session("cap", store=str(tmp_path / "s.db")) as s:
        outcome = s.run("(define big (range 1000)) big")[-1]
        full = outcome.printed
        assert full == to_source(s.interpreter.world.namespaces["user"]["big"])
        assert full.startswith("(0 1 2 ") and full.endswith(" 999)") and len(full) > PRINTED_LIMIT
        stored = [r.event for r in s.events() if isinstance(r.event, FormEvaluated)][-1]
        assert stored.printed == full[:PRINTED_LIMIT] + "..."
        assert stored.result[0] == "@"  # the value itself is stored by reference


def _general_define(interp: Interpreter, form: object) -> object:
    """``form`` evaluated by compiling and running it (what the fast path stands for)."""
    return interp.machine.run(interp.compile(form), None)


@pytest.mark.parametrize("source", [
    "(define a 1)", "(define a -7)", "(define a 1.5)", '(define a "s")', "(define a #t)", "(define a #f)",
    "(define a :k)", "(define a nil)", "(define a ())", "(define a 123456789012345678901234567890)",
])
def test_define_of_a_constant_matches_the_compiled_define(source: str) -> None:
    fast, slow = Interpreter(World()), Interpreter(World())
    (form, _, _, _), = fast.read_forms(source)
    fast.world.begin()
    slow.world.begin()
    assert fast.eval_form(form) is _general_define(slow, form) is Symbol("a")
    assert fast.world.take_mutations() == slow.world.take_mutations()
    assert fast.world.namespaces == slow.world.namespaces


@pytest.mark.parametrize("source, kind", [
    ("(define a 1 2)", "syntax-error"),
    ("(define if 1)", "syntax-error"),
    ("(define ns/a 1)", "syntax-error"),
    ("(define 1 2)", "syntax-error"),
    ("(define a . 1)", "syntax-error"),
])
def test_malformed_defines_still_raise_the_compiler_errors(source: str, kind: str) -> None:
    interp = Interpreter(World())
    (form, _, _, _), = interp.read_forms(source)
    interp.world.begin()
    with pytest.raises(Exception) as info:
        interp.eval_form(form)
    assert info.value.error.kind == kind  # type: ignore[attr-defined]


def test_top_level_begin_of_defines_journals_in_order_and_rolls_back() -> None:
    interp = Interpreter(World())
    interp.world.begin()
    interp.eval_string("(define keep 0)")
    interp.world.commit()
    interp.world.begin()
    (form, _, _, _), = interp.read_forms("(begin (define a 1) (define keep :k) (define b [1 2]) (in-ns other) (define c 3))")
    assert interp.eval_form(form) is Symbol("c")
    kinds = [(m.kind, m.args[:2]) for m in interp.world.take_mutations()]
    assert kinds == [("define", ("user", "a")), ("define", ("user", "keep")), ("define", ("user", "b")),
                     ("enter-ns", ("other",)), ("define", ("other", "c"))]
    assert interp.world.namespaces["user"]["keep"] is Keyword("k")
    interp.world.rollback()
    assert interp.world.namespaces["user"] == {"keep": 0}
    assert interp.world.current_ns == "user"
    assert "c" not in interp.world.namespaces.get("other", {})


def test_set_is_undone_by_rollback() -> None:
    interp = Interpreter(World())
    interp.world.begin()
    interp.eval_string("(define x nil)")
    interp.world.commit()
    interp.world.begin()
    interp.eval_string("(set! x 5) (set! x 6)")
    assert interp.world.namespaces["user"]["x"] == 6
    interp.world.rollback()
    assert interp.world.namespaces["user"]["x"] is NIL


def test_a_result_is_rendered_only_as_far_as_the_log_keeps_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Printing a form's result whole and cutting it for the log made a session's turns slower as
    a list it returns grew; the log's text now costs its limit, whatever the value's length."""
    from tapevm.vm import printer

    atoms: list[object] = []
    real = printer._atom_text
    monkeypatch.setattr(printer, "_atom_text", lambda v: atoms.append(v) or real(v))
    with open_session("cap", store=str(tmp_path / "s.db")) as s:
        s.eval("(define big (range 100000))")
        atoms.clear()
        assert s.eval("big") is not None  # a value returned, not shown: rendered for the log only
        assert len(atoms) <= PRINTED_LIMIT
        stored = [r.event for r in s.events() if isinstance(r.event, FormEvaluated)][-1]
        assert stored.printed.startswith("(0 1 2 ") and stored.printed.endswith("...")
        atoms.clear()
        shown = s.run("big")[0].printed  # run's outcomes carry the whole text
        assert shown.endswith(" 99999)") and len(atoms) > 100_000


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.one_of(st.integers(), st.text(max_size=30), st.booleans(), st.none()),
                    lambda inner: st.lists(inner, max_size=8), max_leaves=60),
       st.integers(min_value=0, max_value=120))
def test_bounded_printing_is_the_whole_text_cut(data: object, limit: int) -> None:
    """``to_source(value, limit)`` opens compound values one element at a time; its text is the
    whole text cut at ``limit`` with ``...``, for lists, vectors, maps and dotted lists alike."""
    from tapevm.vm.values import NIL, LMap, Pair

    def lisp(x: object, depth: int = 0) -> object:
        if isinstance(x, list):
            items = [lisp(i, depth + 1) for i in x]
            kind = depth % 3
            if kind == 0:
                node: object = NIL if len(items) % 2 == 0 or not items else items.pop()  # sometimes dotted
                for item in reversed(items):
                    node = Pair(item, node)
                return node
            if kind == 1:
                return tuple(items)
            pairs = iter(items)
            return LMap(list(zip(pairs, pairs, strict=False)))
        return NIL if x is None else x

    value = lisp(data)
    whole = to_source(value)
    assert to_source(value, limit) == (whole if len(whole) <= limit else whole[:limit] + "...")
