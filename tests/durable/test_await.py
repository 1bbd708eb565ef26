"""``await`` through the Python API: suspend, answer from another Session object, go on from the stored continuation."""

from __future__ import annotations

from pathlib import Path

import pytest

from tapevm import open_session
from tapevm.domain.errors import FormPending, UsageError
from tapevm.infrastructure.session.service import EvalError, Session
from tapevm.vm.interpreter import Interpreter
from tapevm.vm.values import Symbol
from tapevm.vm.world import World


def _open(store: str, calls: list[int] | None = None) -> Session:
    s = open_session("w", store)
    if calls is not None:
        s.tool("count")(lambda n: calls.append(n) or len(calls))
    return s


def test_answer_from_another_session_object_goes_on_without_redoing_work(store_url: str) -> None:
    calls: list[int] = []
    with _open(store_url, calls) as s:
        s.eval("(define (work n) (if (= n 0) 0 (+ 1 (work (- n 1)))))")
        with pytest.raises(FormPending) as e:
            s.eval("(define r (let ((a (work 500)) (c (tool 'count 1))) (list a c (await 'go :payload a))))")
        assert (e.value.tag, e.value.seq) == ("go", s.pending()[0].seq)
        with pytest.raises(UsageError, match="pending form"):
            s.eval("(+ 1 2)")
    with _open(store_url, calls) as s2:  # another object: a fresh VM from the log
        [p] = s2.pending()
        assert p.tag == "go" and p.stack[-1]["function"] == "<form>"
        outcome = s2.answer("go", Symbol("yes"))
        assert outcome.ok
        assert s2.eval("r") is not None and str(s2.eval("(list (car r) (car (cdr r)))")) == "(500 1)"
        assert str(s2.eval("(car (cdr (cdr r)))")) == "yes"
    assert calls == [1]  # the effect before the await was not performed again


def test_continuations_keep_frames_handlers_atoms_closures_and_map(tmp_path: Path) -> None:
    store = str(tmp_path / "s.db")
    program = """
      (define log (atom '()))
      (define (step x) (swap! log (lambda (l) (cons x l))) x)
      (define result
        (try
          (letrec ((even? (lambda (n) (if (= n 0) #t (odd? (- n 1)))))
                   (odd? (lambda (n) (if (= n 0) #f (even? (- n 1))))))
            (define a (atom 10))
            (define (g y) (+ y (deref a)))
            (step 1)
            (let ((xs (map (lambda (i) (g (* i (await 'each :payload i)))) '(1 2 3))))
              (reset! a 100)
              (step 2)
              (if (even? 10) (throw 'after (list xs (g 0))) 'no)))
          (catch e (list 'caught e (reverse (deref log))))))
    """
    answers = iter([5, 6, 7])
    with open_session("w", store) as s:
        forms = s.interpreter.read_forms(program)
        for form, line, column, text in forms[:-1]:
            s.run_form(form, line, column, text, "<t>")
        form, line, column, text = forms[-1]
        with pytest.raises(FormPending):
            s.run_form(form, line, column, text, "<t>")
    while True:
        with open_session("w", store) as s:
            try:
                s.answer("each", next(answers))
                break
            except FormPending:
                continue
    with open_session("w", store) as s:
        assert s.pending() == []
        got = str(s.eval("result"))
        assert got.startswith("(caught ") and "((15 22 31) 100)" in got and got.endswith("(1 2))"), got


def test_await_where_it_cannot_suspend(tmp_path: Path) -> None:
    with open_session("w", str(tmp_path / "s.db")) as s:
        s.eval("(define-macro (m) (await 'x) 1)")
        with pytest.raises(EvalError, match="await-unsupported"):
            s.eval("(m)")
        with pytest.raises(EvalError, match="await-unsupported"):
            s.eval("(eval '(+ 1 (await 'x)))")
        assert s.pending() == [] and s.eval("(+ 1 1)") == 2
    bare = Interpreter(World())
    assert str(bare.eval_string("(try (await 'x) (catch e (error-kind e)))")) == "effect-unavailable"


def test_a_failing_resumed_form_changes_nothing(tmp_path: Path) -> None:
    store = str(tmp_path / "s.db")
    with open_session("w", store) as s, pytest.raises(FormPending):
        s.eval("(begin (define a 1) (define b (car (await 'x))))")
    with open_session("w", store) as s:
        head = s.head
        outcome = s.answer("x", 5)  # (car 5) fails: the form's mutations are rolled back
        assert not outcome.ok and outcome.error_kind == "type-error"
        assert s.head > head
        with pytest.raises(EvalError, match="unbound"):
            s.eval("a")


def test_awaiting_again_and_top_level_begin(tmp_path: Path) -> None:
    store = str(tmp_path / "s.db")
    with open_session("w", store) as s, pytest.raises(FormPending):
        s.eval("(begin (define a (await 'one)) (define-macro (twice x) (list '* 2 x)) (define b (twice (await 'two))))")
    with open_session("w", store) as s:
        with pytest.raises(FormPending) as e:
            s.answer("one", 3)
        assert e.value.tag == "two"
    with open_session("w", store) as s:
        assert s.answer("two", 4).ok
        assert s.eval("(list a b)") is not None and str(s.eval("(list a b)")) == "(3 8)"


def test_a_form_interrupted_after_its_answer_resumes_from_the_continuation(tmp_path: Path) -> None:
    store = str(tmp_path / "s.db")
    before: list[int] = []
    booms: list[int] = []

    def boom(n: int) -> int:
        booms.append(n)
        if len(booms) == 1:
            raise KeyboardInterrupt  # the process dies after the answer was recorded
        return n

    def tools(s: Session) -> Session:
        s.tool("before")(lambda n: before.append(n) or n)
        s.tool("boom")(boom)
        return s

    with tools(open_session("w", store)) as s, pytest.raises(FormPending):
        s.eval("(define r (let ((a (tool 'before 1))) (+ a (tool 'boom (await 'go)))))")
    with tools(open_session("w", store)) as s, pytest.raises(KeyboardInterrupt):
        s.answer("go", 10)
    with tools(open_session("w", store)) as s:
        assert s.unfinished is not None and s.pending() == []
        with pytest.raises(UsageError, match="unfinished form"):
            s.eval("(+ 1 1)")
        outcome = s.resume()  # from the stored continuation, with the recorded answer
        assert outcome is not None and outcome.ok
        assert s.eval("r") == 11
    assert before == [1] and booms == [10, 10]


def test_a_timeout_settled_by_pending_or_answer_and_awaiting_again(tmp_path: Path) -> None:
    store = str(tmp_path / "s.db")
    with open_session("w", store) as s, pytest.raises(FormPending):
        s.eval("(define r (list (try (await 'a :timeout-ms 0) (catch e (error-kind e))) (await 'b)))")
    with open_session("w", store) as s:
        [p] = s.pending()  # settles 'a (await-timeout, caught), and the form now awaits 'b
        assert p.tag == "b"
        with pytest.raises(UsageError, match="awaits 'b', not 'a'"):
            s.answer("a", 1)
        assert s.answer("b", 2).ok
        assert str(s.eval("r")) == "(await-timeout 2)"
