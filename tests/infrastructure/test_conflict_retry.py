"""run_retrying: a writer that loses a race re-opens at the new head and runs the form again."""

from __future__ import annotations

import pytest

from tapevm.domain.errors import ConflictError
from tapevm.infrastructure.session.retry import run_retrying
from tapevm.infrastructure.session.service import Session, open_session
from tapevm.infrastructure.stores.factory import open_store


def test_stale_writer_gets_a_clear_conflict_and_a_clean_retry(store_url: str) -> None:
    with open_store(store_url) as store:
        a = open_session("s", store, lease=False)
        b = open_session("s", store, lease=False)
        a.eval("(define x 1)")
        with pytest.raises(ConflictError, match="another writer appended first"):
            b.eval("(define y 2)")
        assert b.head == 1                   # b's failed form left nothing behind
        seen: list[int] = []
        b2, outcomes = run_retrying(b, "(define y (+ x 1)) (define z 3)", on_conflict=seen.append)
        assert seen == [1]
        assert [o.ok for o in outcomes] == [True, True] and b2.state.namespaces["user"]["y"] == 2
        assert [e.type_name for e in store.read("s")].count("FormSubmitted") == 3
        c = open_session("s", store, create=False)
        assert c.state.namespaces["user"] == b2.state.namespaces["user"]


def test_retry_gives_up_after_the_given_attempts(store_url: str) -> None:
    with open_store(store_url) as store:
        a = open_session("s", store, lease=False)
        b = open_session("s", store, lease=False)
        a.eval("(define x 1)")
        with pytest.raises(ConflictError):
            run_retrying(b, "(define y 2)", attempts=1)


def test_two_processes_creating_one_session_both_open_it(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with open_store(store_url) as store, open_store(store_url) as other:
        open_session("new", store, lease=False)
        # ``other`` read the log before the first creator committed: it saw no events
        real = other.read_fields
        calls = iter([iter(())])
        monkeypatch.setattr(other, "read_fields", lambda *a, **k: next(calls, None) or real(*a, **k))
        b = Session(other, "new", lease=False)
        assert b.head == 1
        assert [e.type_name for e in store.read("new")] == ["SessionStarted"]
