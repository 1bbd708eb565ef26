"""Blame against real stores: the forms that set a binding, fact or file, and the session actions
(merges, takes, restores, image loads) that set them wholesale."""

from __future__ import annotations

from pathlib import Path

from tapevm.infrastructure.branches.forks import fork
from tapevm.infrastructure.branches.merging import merge, take
from tapevm.infrastructure.images.operations import load_image, save_image
from tapevm.infrastructure.provenance import blame_binding, blame_fact, blame_file
from tapevm.infrastructure.session.service import open_session
from tapevm.infrastructure.stores.factory import open_store
from tapevm.projections.provenance import Blame


def _ops(b: Blame) -> list[tuple[str, object, bool]]:
    return [(e.op, e.value, e.removed) for e in b.history]


def test_blame_follows_restores_merges_and_takes(store_url: str) -> None:
    with open_store(store_url) as store:
        with open_session("a", store) as a:
            a.eval("(define x 1) (assert! '(t 1)) (write-file! \"f\" \"v1\")")
            a.snapshot("s1")
            a.eval("(set! x 2) (retract! '(t 1)) (write-file! \"f\" \"v2\")")
            restored = a.restore("s1").seq
            assert a.eval("x") == 1
        x = blame_binding(store, "a", "x")
        assert _ops(x) == [("define", 1, False), ("set!", 2, False), ("restore", 1, False)]
        assert x.current is not None and x.current.seq == restored and x.current.form_source == ""
        assert x.history[0].form_source.startswith("(define x 1)")
        fact = blame_fact(store, "a", "(t 1)")
        assert [(op, removed) for op, _, removed in _ops(fact)] == [("assert!", False), ("retract!", True),
                                                                  ("restore", False)]
        assert fact.current is not None and fact.current.op == "restore"
        f = blame_file(store, "a", "f")
        assert [(op, removed) for op, _, removed in _ops(f)] == [("write", False), ("write", False),
                                                               ("restore", False)]
        assert f.current is not None and f.current.value == f.history[0].value  # v1's blob again

        fork(store, "a", "b")
        with open_session("b", store) as b:
            b.eval("(set! x 5) (retract! '(t 1)) (write-file! \"g\" \"new\") (define y 7)")
        merged = merge(store, "b", "a").seq
        x = blame_binding(store, "a", "user/x")
        assert x.history[-1].op == "merge" and x.history[-1].value == 5 and x.history[-1].seq == merged
        fact = blame_fact(store, "a", "(t 1)")
        assert fact.history[-1].op == "merge" and fact.history[-1].removed and fact.current is None
        g = blame_file(store, "a", "g")
        assert [(op, removed) for op, _, removed in _ops(g)] == [("merge", False)]
        with open_session("b", store) as b:
            b.eval("(set! y 8)")
        take(store, "b", "y", "a")
        y = blame_binding(store, "a", "y")
        assert _ops(y) == [("merge", 7, False), ("take", 8, False)]
        # as of an event before the merge, the merge is not there
        assert blame_binding(store, "a", "x", at=merged - 1).current.op == "restore"  # type: ignore[union-attr]


def test_blame_in_a_session_loaded_from_an_image(store_url: str, tmp_path: Path) -> None:
    with open_store(store_url) as store:
        with open_session("a", store) as a:
            a.eval("(define x 1) (assert! '(t 1)) (write-file! \"f\" \"v1\")")
            save_image(a, tmp_path / "a.img")
        load_image(store, tmp_path / "a.img", "copy").close()
        with open_session("copy", store) as c:
            c.eval("(set! x 2)")
        assert _ops(blame_binding(store, "copy", "x")) == [("image", 1, False), ("set!", 2, False)]
        assert [e.op for e in blame_fact(store, "copy", "(t 1)").history] == ["image"]
        f = blame_file(store, "copy", "f")
        assert [e.op for e in f.history] == ["image"] and f.current is not None


def test_blame_of_a_record_with_malformed_fields_is_a_clear_error(tmp_path: Path) -> None:
    """Blame reads fields as stored (no event models): a record another writer got wrong is named,
    not a KeyError."""
    import time

    import pytest

    from tapevm.domain.errors import CorruptRecord

    with open_session("s", str(tmp_path / "s.db")) as s:
        s.eval("(define x 1)")
        head = s.head
        s.store.append_drafts(s.stream, head + 1, head + 1, time.time(), [
            ("FormSubmitted", 1, {"source": "(x)", "file": "<t>", "line": 1, "column": 1}),
            ("Assigned", 1, {"name": "x", "value": 2}),  # no "ns"
        ])
        with pytest.raises(CorruptRecord, match=rf"event {head + 2} \(Assigned\): malformed fields \(KeyError"):
            blame_binding(s.store, "s", "x")
