"""The session service's contract, written once and run on every backend."""

from __future__ import annotations

import pytest

import tapevm
from tapevm.domain.errors import SessionNotFound
from tapevm.infrastructure.session.service import EvalError, open_session
from tapevm.infrastructure.stores.factory import open_store


def test_eval_commit_reopen_and_time_travel(store_url: str) -> None:
    with tapevm.open_session("work", store=store_url) as s:
        s.eval("(define (square x) (* x x))")
        assert s.eval("(square 12)") == 144
        s.run('(define a (atom 1)) (swap! a inc) (assert! (quote (likes ann tea))) (write-file! "f" "hi")')
        head, user = s.head, s.state.namespaces["user"]
        assert [e.seq for e in s.events()] == list(range(1, head + 1))
    with open_session("work", store_url, create=False) as again:
        assert again.head == head and again.state.namespaces["user"] == user
        assert again.eval("(deref a)") == 2 and again.eval('(read-file "f")') == "hi"
        assert again.state_at(1).seq == 1 and "square" not in again.state_at(1).namespaces.get("user", {})


def test_a_failed_form_commits_only_its_record(store_url: str) -> None:
    with open_session("s", store_url) as s:
        s.eval("(define x 1)")
        with pytest.raises(EvalError):
            s.eval("(begin (set! x 2) (car 1))")
        assert s.eval("x") == 1
        types = [e.type_name for e in s.events()]
        assert types[-2:] == ["FormSubmitted", "FormEvaluated"]
    with open_session("s", store_url, create=False) as again:
        assert again.eval("x") == 1


def test_unknown_session_and_several_sessions(store_url: str) -> None:
    with pytest.raises(SessionNotFound):
        open_session("nobody", store_url, create=False)
    with open_store(store_url) as store:
        for name in ("b", "a", "c"):
            with open_session(name, store) as s:
                s.eval(f'(define name "{name}")')
        assert [h.session for h in store.sessions()] == ["a", "b", "c"]
        assert all(h.last_seq == 4 and h.stored_bytes > 0 for h in store.sessions())
