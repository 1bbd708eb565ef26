"""The public Python API: a short surface, a Store whose methods are the store-level operations,
and the free functions of earlier releases still working as aliases."""

from __future__ import annotations

import pytest

import tapevm
from tapevm.domain.errors import SessionNotFound


def test_dir_shows_the_short_surface_and_every_name_resolves() -> None:
    shown = dir(tapevm)
    assert {"open_session", "open_store", "Session", "Store", "State", "TapeError", "EvalError"} <= set(shown)
    assert "fork" not in shown and "run_sql" not in shown  # aliases resolve but are not advertised
    for name in [*shown, *tapevm._ALIASES]:
        assert getattr(tapevm, name) is not None, name
    with pytest.raises(AttributeError):
        tapevm.no_such_name  # noqa: B018


def _work(store: tapevm.Store) -> None:
    with store.session("work") as s:
        s.eval("(define x 1)")
        s.eval("(define (square n) (* n n))")
        s.eval("(assert! (quote (likes ann tea)))")
        s.eval("(set! x (square 5))")


def test_store_methods_do_the_store_level_operations(store_url: str) -> None:
    with tapevm.open_store(store_url) as store:
        assert isinstance(store, tapevm.Store)
        _work(store)
        assert [row.session for row in store.sessions()] == ["work"]
        assert store.info("work")["bindings"] == 2
        assert store.fork("work@4", "exp").at == 4  # after (define x 1)
        with store.session("exp") as exp:
            assert exp.eval("x") == 1
            exp.eval('(define greeting "hi")')
        assert store.clone("work", "copy").session == "copy"
        diff = store.compare("work", "exp").diff
        assert {("user", "x"), ("user", "greeting"), ("user", "square")} <= {c.key for c in diff.changes}
        merged = store.merge("exp", "work", prefer="keep")
        assert merged is not None
        with store.session("work", writable=False) as again:
            assert again.state.namespaces["user"]["x"] == 25 and again.state.namespaces["user"]["greeting"] == "hi"
        store.take("exp", "greeting", "copy")
        assert store.sql("SELECT name FROM bindings WHERE session='copy' ORDER BY name").rows == [
            ("greeting",), ("square",), ("x",)]
        assert store.replay("work", verify=True).verified
        report = store.verify("work")
        assert report.ok and report.events == store.log("work")[-1].seq
        entries = store.audit("work", kinds=("define",))
        assert any("square" in e.what for e in entries)
        blame = store.blame("work", "x")
        assert [h.op for h in blame.history][:2] == ["define", "set!"] and blame.history[1].value == 25
        assert store.blame("work", fact="(likes ann tea)").history
        with pytest.raises(TypeError):
            store.blame("work", "x", fact="(likes ann tea)")
        assert store.gc() is not None
        with pytest.raises(SessionNotFound):
            store.info("nobody")


def test_the_free_functions_of_earlier_releases_take_a_store_or_an_event_store(store_url: str) -> None:
    with tapevm.open_store(store_url) as store:
        _work(store)
        assert tapevm.fork(store, "work@4", "a").at == 4  # a Store
        assert tapevm.fork(store.events, "work@4", "b").at == 4  # the event store under it
        assert tapevm.compare(store, "a", "b").diff.changes == []
        assert tapevm.run_sql(store, "SELECT count(*) FROM bindings")[0].rows
        assert {r.session for r in tapevm.list_sessions(store)} == {"work", "a", "b"}
        assert tapevm.verify_chain(store, "work").ok
        assert tapevm.blame_binding(store, "work", "x").history
        with tapevm.open_session("work", store=store, writable=False) as s:  # a Store where a store goes
            assert s.state.namespaces["user"]["x"] == 25
            assert tapevm.session_info(s)["session"] == "work"


def test_all_lists_the_api_and_the_errors() -> None:
    assert set(tapevm._API) <= set(tapevm.__all__)
    assert not set(tapevm._ALIASES) & set(tapevm.__all__)
    errors = [name for name in tapevm.__all__ if name not in tapevm._API and name != "__version__"]
    assert all(issubclass(getattr(tapevm, name), tapevm.TapeError) for name in errors), errors
