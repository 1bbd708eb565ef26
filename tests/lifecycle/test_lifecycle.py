"""A session's lifecycle through the Python API: delete (every row goes, a tombstone stays, other sessions
are untouched), gc's vacuum, and archived sessions in the read model, replay, delete and followers."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

import tapevm
from tapevm.domain.errors import SessionLocked, SessionNotFound, UsageError
from tapevm.infrastructure.followers.read_model import read_model_path
from tapevm.infrastructure.lifecycle.deletion import READ_MODEL_ROWS, SIDE_ROWS
from tapevm.infrastructure.stores.records.deleted_records import DELETED_TABLE
from tapevm.infrastructure.stores.records.events_table import EVENTS_TABLE
from tapevm.infrastructure.stores.side_tables import SideTables


def _rows_of(store: tapevm.Store, stream: str) -> dict[str, int]:
    """How many rows each of tapevm's tables holds for ``stream`` (tables not created yet: absent)."""
    db = SideTables(store.events)
    counts = {EVENTS_TABLE: db.query(f"SELECT COUNT(*) FROM {db.table(EVENTS_TABLE)} WHERE originator_id = ?",
                                     (stream,))[0][0]}
    for table, column in SIDE_ROWS:
        sql, params = db.backend.tables_exist_sql((table,))
        if db.query(sql, params)[0][0]:
            counts[table] = db.query(f"SELECT COUNT(*) FROM {db.table(table)} WHERE {column} = ?", (stream,))[0][0]
    return counts


def _read_model_rows(store: tapevm.Store, stream: str) -> int:
    conn = sqlite3.connect(read_model_path(store.events))
    try:
        return sum(conn.execute(f"SELECT COUNT(*) FROM {t} WHERE {c} = ?", (stream,)).fetchone()[0]
                   for t, c in READ_MODEL_ROWS)
    finally:
        conn.close()


def _work(store: tapevm.Store, name: str, forms: int = 12) -> None:
    with store.session(name) as s:
        for n in range(forms):
            s.eval(f"(define x{n % 3} (list {n} \"{name} {n}\"))")
        s.snapshot("mid")


def test_delete_removes_every_row_and_leaves_a_tombstone(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAPE_CHECKPOINT_INTERVAL", "4")
    with tapevm.open_store(store_url) as store:
        _work(store, "work")
        _work(store, "other")
        store.fork("other@5", "other-fork")
        store.sql("SELECT 1")  # the read model holds both
        db = SideTables(store.events)
        db.execute(f"INSERT INTO {db.table('tape_leases')} (session, pid, host, since, heartbeat, token) "
                   "VALUES ('work', 999999999, 'gone-host', 0, 0, 'dead')")  # a dead writer's row
        before = _rows_of(store, "work")
        assert all(before[t] for t in before if t != "tape_sessions"), before  # checkpoints, content, lease...
        assert _read_model_rows(store, "work")
        chain = store.verify("work")
        others = {name: store.verify(name).head for name in ("other", "other-fork")}

        report = store.delete("work", by="auditor@test")

        assert set(_rows_of(store, "work").values()) == {0}
        # a deletion on purpose leaves no mark in the store's witness of deleted records (a hole)
        assert db.query(f"SELECT COUNT(*) FROM {db.table(DELETED_TABLE)} WHERE stream = 'work'", ())[0][0] == 0
        assert _read_model_rows(store, "work") == 0 and report.read_model_rows > 0
        [tomb] = report.deleted
        assert (tomb.name, tomb.stream, tomb.head, tomb.head_link, tomb.deleted_by) == (
            "work", "work", chain.events, chain.head, "auditor@test")
        assert tomb.records == chain.records and tomb.stored_bytes > 0 and tomb.deleted_at > 0
        assert store.deleted() == [tomb]
        assert [r.session for r in store.sessions()] == ["other", "other-fork"]
        for name, head in others.items():  # every other session's chain is untouched
            report_ = store.verify(name)
            assert report_.ok and report_.head == head
        assert store.sql("SELECT DISTINCT session FROM events ORDER BY 1").rows == [("other",), ("other-fork",)]
        with pytest.raises(SessionNotFound):
            store.info("work")
        with store.session("work") as again:  # the name is free: a new, empty session
            assert again.head == 1 and "x0" not in again.state.namespaces.get("user", {})
            for n in range(6):  # past a checkpoint, which is served at the next open
                again.eval(f"(define fresh {n})")
        with store.session("work") as reopened:
            assert reopened.eval("fresh") == 5
        assert store.verify("work").ok


def test_forks_reading_through_are_refused_or_deleted_with_it(store_url: str) -> None:
    with tapevm.open_store(store_url) as store:
        _work(store, "base", 4)
        store.fork("base@5", "a")
        store.fork("a@5", "aa")
        store.clone("base", "b")
        _work(store, "keep", 2)
        with pytest.raises(UsageError, match="3 fork.*'a'.*--with-forks"):
            store.delete("base")
        assert {r.session for r in store.sessions()} == {"base", "a", "aa", "b", "keep"}  # nothing deleted
        assert not store.deleted()
        store.delete("aa")  # a leaf goes alone
        report = store.delete("base", with_forks=True)
        assert [d.name for d in report.deleted] == ["base", "a", "b"]
        assert "deleted with it" in report.deleted[1].note
        assert [r.session for r in store.sessions()] == ["keep"]
        assert store.verify("keep").ok
        assert sorted(d.name for d in store.deleted()) == ["a", "aa", "b", "base"]


def test_a_session_open_for_writing_is_not_deleted(store_url: str) -> None:
    with tapevm.open_store(store_url) as store:
        _work(store, "busy", 2)
        with store.session("busy") as writer:
            with pytest.raises(SessionLocked):
                store.delete("busy")
            writer.eval("(define still 1)")
        store.delete("busy")
        with pytest.raises(SessionNotFound):
            store.delete("busy")
        with pytest.raises(SessionNotFound):
            store.delete("busy@2")


def test_a_deleted_name_kept_by_fresh_comes_back_empty(store_url: str) -> None:
    with tapevm.open_store(store_url) as store:
        _work(store, "w", 2)
        with store.session("w", fresh=True) as s:  # the old one is kept as w.1 (stream 'w')
            assert s.kept_as == "w.1"
            s.eval("(define second 2)")
        store.delete("w")
        with store.session("w") as s:
            assert s.head == 1 and "second" not in s.state.namespaces.get("user", {})
            assert "x0" not in s.state.namespaces.get("user", {})
        with store.session("w.1", writable=False) as kept:
            assert "x0" in kept.state.namespaces["user"]
        assert store.verify("w.1").ok
        store.delete("w.1")
        assert [d.name for d in store.deleted()] == ["w", "w.1"]


def test_the_read_model_rebuilt_after_a_delete_has_no_rows_of_it(tmp_path: Path) -> None:
    with tapevm.open_store(str(tmp_path / "s.db")) as store:
        _work(store, "gone", 2)
        _work(store, "kept", 2)
        store.delete("gone")
        assert store.sql("SELECT DISTINCT session FROM events", fresh=True).rows == [("kept",)]


def test_gc_vacuums_the_space_a_delete_left(store_url: str) -> None:
    with tapevm.open_store(store_url) as store:
        with store.session("big") as s:
            for n in range(40):
                s.eval(f'(define t{n} "{os.urandom(2000).hex()}")')  # (incompressible)
        _work(store, "small", 2)
        store.delete("big")
        report = store.gc()
        vacuum = [i for i in report.items if "vacuumed" in i["what"]]
        if "://" not in store_url:  # SQLite rewrites the file without the deleted pages
            assert len(vacuum) == 1
            assert vacuum[0]["bytes"] > 40 * 1000
            assert Path(store_url).stat().st_size < 100_000
        assert store.verify("small").ok
        with store.session("small") as s:
            s.eval("(define after 1)")


def test_an_archived_session_in_the_read_model_replay_and_delete(store_url: str, tmp_path: Path) -> None:
    from tapevm.domain.errors import HistoryIsArchived

    with tapevm.open_store(store_url) as store:
        with store.session("arch") as s:
            s.eval('(write-file! "notes.txt" "kept in the archive")')
            s.eval("(assert! '(likes ann tea))")
            s.eval("(define kept 1)")
            cut = s.head + 1
            s.eval("(define later 2)")
        store.archive("arch", cut, tmp_path / "a.img")
        assert store.sql("SELECT name, value FROM bindings WHERE session='arch' ORDER BY name").rows == [
            ("kept", "1"), ("later", "2")]
        assert store.sql("SELECT path, size FROM files WHERE session='arch'").rows == [("notes.txt", 19)]
        assert store.sql("SELECT count(*) FROM facts WHERE session='arch'").rows == [(1,)]
        assert store.sql("SELECT count(*) FROM sessions WHERE stream='arch'").rows == [(1,)]
        with pytest.raises(HistoryIsArchived, match="replay"):
            store.replay("arch")
        assert store.verify_archive("arch", tmp_path / "a.img").ok
        [tomb] = store.delete("arch").deleted
        assert tomb.head == cut + 2 and tomb.head_link is not None
        assert set(_rows_of(store, "arch").values()) == {0}


def test_followers_take_an_archived_session(store_url: str, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAPE_CHECKPOINT_INTERVAL", "4")
    monkeypatch.setenv("TAPE_INLINE_CHECKPOINTS", "0")  # the follower writes them
    with tapevm.open_store(store_url) as store:
        with store.session("f") as s:
            for n in range(6):
                s.eval(f"(define y{n % 4} {n})")
            cut = [e.seq for e in s.events(1, s.head) if e.event.type_name == "FormSubmitted"][3]
        tapevm.follow(store_url, ["checkpoints"], once=True)  # a follower past the records archived
        store.archive("f", cut, tmp_path / "f.img")
        with store.session("f") as s:
            s.eval("(define after 1)")
            expected = s.state.namespaces["user"]
    tapevm.follow(store_url, ["checkpoints", "sql"], once=True)
    with tapevm.open_store(store_url) as store:
        with store.session("f", writable=False) as s:
            assert s.state.namespaces["user"] == expected
        assert store.verify("f").ok
        assert dict(store.sql("SELECT name, value FROM bindings WHERE session='f'").rows)["after"] == "1"
