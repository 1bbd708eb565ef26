"""The image workflow from Python, on each backend: sessions started from an image, builds, entry points."""

from __future__ import annotations

from pathlib import Path

import pytest

import tapevm
from tapevm.domain.errors import ConflictError, ImageError, SessionExists, UsageError
from tapevm.domain.events import RecordedEvent, SessionStarted
from tapevm.infrastructure.images.deployment import args_form, check_entry, run_entry
from tapevm.infrastructure.images.memory_store import MemoryStore
from tapevm.infrastructure.stores.content_index import content_index_for


def _image(store_url: str, tmp_path: Path) -> Path:
    with tapevm.open_session("work", store=store_url) as s:
        s.eval("(define x 41) (define (main) (+ x (length *args*)))")
        tapevm.save_image(s, tmp_path / "work.img")
    return tmp_path / "work.img"


def test_each_session_from_an_image_is_new_and_its_own(store_url: str, tmp_path: Path) -> None:
    image = _image(store_url, tmp_path)
    names = []
    for _ in range(3):
        with tapevm.session_from_image(image, store_url) as s:
            names.append(s.id)
            assert s.eval("x") == 41
            s.eval("(set! x 0)")
    assert names == ["work-1", "work-2", "work-3"]
    with tapevm.open_store(store_url) as store:
        assert sorted(r.session for r in store.sessions()) == ["work", "work-1", "work-2", "work-3"]
        with tapevm.session_from_image(image, store, "mine") as s:  # an open store stays open
            assert s.id == "mine"
        with pytest.raises(SessionExists), tapevm.session_from_image(image, store, "mine"):
            pass
        with store.session("work") as source:
            assert source.eval("x") == 41


def test_an_ephemeral_session_writes_nothing_to_the_store(store_url: str, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAPE_HOME", str(tmp_path / "home"))
    image = _image(store_url, tmp_path)
    with tapevm.session_from_image(image, store_url, ephemeral=True) as s:
        assert s.eval("(begin (set! x 1) x)") == 1
        assert "in memory" in s.store.url_for_display
        s.eval('(save-image "copy.img")')  # a throwaway session can still save an image of itself
    with tapevm.open_store(store_url) as store:
        assert [r.session for r in store.sessions()] == ["work"]
    assert tapevm.load_state(tmp_path / "home" / "images" / "copy.img").namespaces["user"]["x"] == 1


def test_run_entry_binds_args_and_calls_main(store_url: str, tmp_path: Path) -> None:
    image = _image(store_url, tmp_path)
    with tapevm.session_from_image(image, store_url) as s:
        outcomes = run_entry(s, ["a", 'b "quoted"', "λ"])
        assert [o.ok for o in outcomes] == [True, True] and outcomes[-1].value == 44
        assert s.eval("*args*") is not None and s.eval("(car (cdr *args*))") == 'b "quoted"'
    check_entry(image, "main")
    with pytest.raises(UsageError, match="defines no 'nope'"):
        check_entry(image, "nope")
    assert args_form([]) == "(define *args* (quote nil))"  # nil is the empty list


def test_build_image_runs_programs_in_order_and_refuses_a_failing_one(tmp_path: Path) -> None:
    info = tapevm.build_image([("(define a 1)", "one.lisp"), ("(define b (+ a 1))", "two.lisp")],
                              tmp_path / "app.img", "two numbers")
    assert info.header["description"] == "two numbers"
    state = tapevm.load_state(tmp_path / "app.img")
    assert state.namespaces["user"]["b"] == 2
    with pytest.raises(ImageError, match="bad.lisp"):
        tapevm.build_image([("(define a 1)", "one.lisp"), ("(car 1)", "bad.lisp")], tmp_path / "bad.img")
    assert not (tmp_path / "bad.img").exists()


def test_the_memory_store_keeps_the_store_contract() -> None:
    def started(seq: int) -> RecordedEvent:
        return RecordedEvent("m", seq, 1, 0.0, SessionStarted(tapevm_version="t", vm_version=1))

    with MemoryStore() as store:
        store.append([started(1), started(2)])
        with pytest.raises(ConflictError):
            store.append([started(2)])  # a second writer at the same head
        with pytest.raises(ConflictError):
            store.append([started(3), started(5)])  # a gap
        assert store.last_seq("m") == 2 and store.last_seq("other") == 0
        assert [r.seq for r in store.read("m", 2)] == [2] and [r.seq for r in store.read("m", 1, 1)] == [1]
        assert [(h.session, h.last_seq) for h in store.sessions()] == [("m", 2)]
        with tapevm.open_session("s", store) as s:  # a session runs on it: no lease, no checkpoints
            assert s.eval("(+ 1 2)") == 3 and s.head == store.last_seq("s")


def test_a_load_indexes_the_content_it_appended(store_url: str, tmp_path: Path) -> None:
    image = _image(store_url, tmp_path)
    with tapevm.open_store(store_url) as store:
        with tapevm.session_from_image(image, store, "copy") as s:
            loaded = s.head
            assert s.eval("x") == 41
        index = content_index_for(store.events)
        assert index is not None and index.covered("copy") == loaded
        state = tapevm.load_state(image)
        assert index.count("copy", loaded) == (len(state.nodes), len(state.blobs))


def test_the_default_name_skips_names_in_use(store_url: str, tmp_path: Path) -> None:
    image = _image(store_url, tmp_path)
    with tapevm.open_session("work-1", store=store_url) as s:
        s.eval("1")
    with tapevm.open_session("work-1", store=store_url, fresh=True) as s:  # the old one kept as work-1.1
        assert s.kept_as == "work-1.1"
    with tapevm.session_from_image(image, store_url) as s:
        assert s.id == "work-2"
