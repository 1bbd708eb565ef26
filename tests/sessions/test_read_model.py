"""The SQL read model: incremental, crash-safe catch-up (tracking records), read-only queries."""

from __future__ import annotations

from pathlib import Path

import pytest

from tapevm.domain.errors import ReadOnlyQuery, UsageError
from tapevm.infrastructure.branches.forks import fork
from tapevm.infrastructure.branches.merging import merge
from tapevm.infrastructure.followers import read_model as rm
from tapevm.infrastructure.session.service import open_session
from tapevm.infrastructure.stores.factory import open_store


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAPE_HOME", str(tmp_path / "home"))  # where a PostgreSQL store's read model goes


def _fill(store) -> None:
    with open_session("a", store) as s:
        s.run('(define x 1) (define y 2) (assert! (list 1 2)) (write-file! "f" "hi") (define x 3)')
    fork(store, "a@7", "b")
    with open_session("b", store) as s:
        s.run("(define z (list 1 2 3)) (define y 20)")
    merge(store, "b", "a", prefer="take")


def test_tables_follow_the_log_and_forks(store_url: str) -> None:
    with open_store(store_url) as store:
        _fill(store)
        result, caught = rm.run_sql(store, "SELECT session, ns, name, value FROM bindings ORDER BY 1, 3")
        assert caught.events == sum(1 for s in ("a", "b") for _ in store.read(s))
        assert result.rows == [("a", "user", "x", "3"), ("a", "user", "y", "20"),
                               ("a", "user", "z", result.rows[2][3]), ("b", "user", "x", "1"),
                               ("b", "user", "y", "20"), ("b", "user", "z", result.rows[5][3])]
        sessions, _ = rm.run_sql(store, "SELECT stream, parent, fork_at, events FROM sessions ORDER BY 1")
        assert sessions.rows == [("a", None, None, store.last_seq("a")), ("b", "a", 7, store.last_seq("b"))]
        facts, _ = rm.run_sql(store, "SELECT session FROM facts")
        files, _ = rm.run_sql(store, "SELECT session, path, size FROM files")
        assert facts.rows == [("a",)] and files.rows == [("a", "f", 2)]
        history, _ = rm.run_sql(store, "SELECT value, since, until FROM binding_history "
                                       "WHERE session='a' AND name='x' ORDER BY since")
        assert [r[0] for r in history.rows] == ["1", "3"] and history.rows[0][2] == history.rows[1][1]
        snaps, _ = rm.run_sql(store, "SELECT * FROM snapshots")
        assert snaps.rows == []


def test_catch_up_is_incremental_and_survives_a_crash(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with open_store(store_url) as store:
        _fill(store)
        model = rm.ReadModel(store)
        first = model.catch_up(page=3)
        assert model.catch_up().events == 0  # nothing applied twice
        with open_session("a", store) as s:
            s.eval("(define w 1)")
        # a crash in the middle of a page: nothing of that page is kept, the position does not move
        from tapevm.infrastructure.stores.sqlite import tracking as tt
        original = tt.Tracking

        def boom(*args):  # the crash comes after the page's rows were written, before it commits
            raise RuntimeError("crash")
        monkeypatch.setattr(tt, "Tracking", boom)
        with pytest.raises(RuntimeError):
            model.catch_up()
        assert model.position() == first.position
        monkeypatch.setattr(tt, "Tracking", original)
        again = model.catch_up()
        assert again.events == 3 and again.commits == 1
        model.close()
        total, _ = rm.run_sql(store, "SELECT COUNT(*) FROM events")
        assert total.rows[0][0] == sum(1 for s in ("a", "b") for _ in store.read(s))
        rebuilt, caught = rm.run_sql(store, "SELECT COUNT(*) FROM events", fresh=True)
        assert rebuilt.rows == total.rows and caught.events == total.rows[0][0]


@pytest.mark.parametrize("statement", [
    "DELETE FROM events", "INSERT INTO sessions (stream, events) VALUES ('x', 1)", "CREATE TABLE t (x)",
    "DROP VIEW bindings", "PRAGMA writable_schema=1", "ATTACH 'other.db' AS o", "UPDATE events SET seq=0",
])
def test_writes_are_refused(tmp_path: Path, statement: str) -> None:
    with open_store(str(tmp_path / "s.db")) as store:
        _fill(store)
        before, _ = rm.run_sql(store, "SELECT COUNT(*) FROM events")
        with pytest.raises(ReadOnlyQuery, match="read-only"):
            rm.run_sql(store, statement)
        assert rm.run_sql(store, "SELECT COUNT(*) FROM events")[0].rows == before.rows


def test_bad_sql_is_a_usage_error(tmp_path: Path) -> None:
    with open_store(str(tmp_path / "s.db")) as store, pytest.raises(UsageError, match="no such table"):
        rm.run_sql(store, "SELECT * FROM nope")


def test_rebuild_empties_in_place_keeps_the_library_bookkeeping_and_deletes_a_damaged_file(tmp_path: Path) -> None:
    with open_store(str(tmp_path / "s.db")) as store:
        _fill(store)
        before = rm.run_sql(store, "SELECT COUNT(*) FROM events")[0].rows[0][0]
        assert before > 0
        assert rm.rebuild(store) > 0
        path = rm.read_model_path(store)
        assert path.exists()  # emptied, not deleted: a running follower's connection still sees it
        assert rm.run_sql(store, "SELECT COUNT(*) FROM events")[0].rows[0][0] == before  # rebuilt on query
        assert rm.rebuild(store) > 0 and rm.rebuild(store) == 0  # nothing left the second time
        path.write_bytes(b"this is not a database" * 100)
        assert rm.rebuild(store) == 1 and not path.exists()
        assert rm.run_sql(store, "SELECT COUNT(*) FROM events")[0].rows[0][0] == before


def test_followers_creating_a_new_read_model_together_both_open_it(tmp_path: Path) -> None:
    """The first connections to a new file switch it to WAL, which fails at once while another
    connection holds it; two followers starting on a new read model must both wait for it instead
    (before, one in ~70 such starts failed with "database is locked")."""
    import threading

    with open_store(str(tmp_path / "store.db")) as store:
        for i in range(150):
            errors: list[BaseException] = []
            barrier = threading.Barrier(2)

            def create(path: Path, barrier: threading.Barrier, errors: list[BaseException]) -> None:
                try:
                    barrier.wait()
                    rm.ReadModel(store, path)
                except BaseException as e:  # noqa: BLE001 - reported below
                    errors.append(e)

            threads = [threading.Thread(target=create, args=(tmp_path / f"rm{i}.db", barrier, errors))
                       for _ in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert not errors, f"start {i}: {errors[0]!r}"


def _tables_of(store, session: str) -> tuple[list, list, list]:
    """The read model's current bindings, facts and files of ``session`` (values as JSON text)."""
    b, _ = rm.run_sql(store, f"SELECT ns, name, value FROM bindings WHERE session='{session}' ORDER BY 1, 2")
    f, _ = rm.run_sql(store, f"SELECT fact, evidence FROM facts WHERE session='{session}' ORDER BY 1")
    w, _ = rm.run_sql(store, f"SELECT path, blob, size FROM files WHERE session='{session}' ORDER BY 1")
    return b.rows, f.rows, w.rows


def _tables_from_state(session) -> tuple[list, list, list]:
    """What the read model should show for the session's folded state at its head."""
    import orjson

    from tapevm.domain.state import split_fact

    state = session.state
    bindings = sorted((ns, n, orjson.dumps(v).decode()) for ns, names in state.namespaces.items()
                      for n, v in names.items())
    facts = sorted((orjson.dumps(fact).decode(), None if evidence is None else orjson.dumps(evidence).decode())
                   for fact, evidence in map(split_fact, state.facts.values()))
    files = sorted((p, k, len(state.blob(k))) for p, k in state.files.items())
    return bindings, facts, files


def test_imports_restores_and_image_loads_reach_the_tables(store_url: str, tmp_path: Path) -> None:
    """A session action that sets state without a form (a world import, a restore, an image load
    without history) shows in the tables as in ``tape state`` (before, the read model ignored
    FileImported, StateRestored and ImageLoaded, so ``tape sql`` showed the state before them)."""
    from tapevm.infrastructure.images.operations import load_image, save_image

    host = tmp_path / "host.bin"
    host.write_bytes(bytes(range(256)) * 3)
    with open_store(store_url) as store:
        with open_session("a", store) as s:
            s.run('(define x 1) (assert! (list 1 2) {:e 1}) (assert! (list 5 6)) (write-file! "f" "first")')
            s.import_file(str(host), "imported.bin")
            s.snapshot("early")
            s.run('(define x 2) (define y 3) (retract! (list 1 2)) (assert! (list 3 4) "why") (assert! (list 5 6) 7) '
                  '(write-file! "f" "second") (delete-file! "imported.bin") (write-file! "g" "new")')
            save_image(s, tmp_path / "a.img")
            save_image(s, tmp_path / "h.img", with_history=True)
            s.restore("early")
            after_restore = _tables_from_state(s)
        load_image(store, tmp_path / "a.img", "loaded").close()
        load_image(store, tmp_path / "h.img", "history").close()
        assert _tables_of(store, "a") == after_restore
        assert ("imported.bin", after_restore[2][1][1], 768) in after_restore[2]
        for name in ("loaded", "history"):
            with open_session(name, store, writable=False) as s:
                assert _tables_of(store, name) == _tables_from_state(s)
        # and the same from a read model built in one go (the image's content and event in one page)
        rm.rebuild(store)
        assert _tables_of(store, "a") == after_restore
        with open_session("loaded", store, writable=False) as s:
            assert _tables_of(store, "loaded") == _tables_from_state(s)


def test_a_read_model_of_another_version_is_rebuilt_and_one_of_this_version_is_not(tmp_path: Path) -> None:
    """Tables written by other code (an older tapevm: its files say version 0) may lack what a fix of
    the projection adds, so opening one empties it and the catch-up rebuilds it from the log."""
    import sqlite3

    with open_store(str(tmp_path / "s.db")) as store:
        _fill(store)
        rm.run_sql(store, "SELECT 1")
        path = rm.read_model_path(store)
        again, caught = rm.run_sql(store, "SELECT COUNT(*) FROM bindings")
        assert caught.commits == 0, "the same version: nothing is applied again"
        conn = sqlite3.connect(path)
        conn.execute("DELETE FROM binding_rows")  # what an older projection may have left out
        conn.execute("PRAGMA user_version = 1")
        conn.commit()
        conn.close()
        result, caught = rm.run_sql(store, "SELECT COUNT(*) FROM bindings")
        assert caught.commits > 0 and result.rows == again.rows
        conn = sqlite3.connect(path)
        assert conn.execute("PRAGMA user_version").fetchone()[0] == rm.VERSION
        conn.close()


@pytest.mark.postgres
def test_one_server_store_has_one_read_model_however_its_url_is_spelt(postgres_url: str) -> None:
    """Who connects, with which password and pool options, does not make another read model."""
    from urllib.parse import urlsplit

    base = postgres_url.split("?")[0]
    parts = urlsplit(base)
    spellings = [f"{base}?schema=rm_spelling", f"{base}?pool_size=3&schema=rm_spelling",
                 base.replace(f"{parts.username}@", f"{parts.username}:pw@") + "?schema=rm_spelling&max_overflow=1"]
    other = f"{base}?schema=rm_spelling_other"
    try:
        paths = set()
        for url in spellings:
            with open_store(url) as store:
                paths.add(rm.read_model_path(store))
        with open_store(other) as store:
            assert rm.read_model_path(store) not in paths
        assert len(paths) == 1
    finally:
        import psycopg

        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute("DROP SCHEMA IF EXISTS rm_spelling CASCADE")
            conn.execute("DROP SCHEMA IF EXISTS rm_spelling_other CASCADE")
