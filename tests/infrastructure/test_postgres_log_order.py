"""PostgreSQL without the table lock: followers still read every commit exactly once, in a valid order.

These run on the real server with raw connections that hold transactions open
at chosen moments, to reproduce the interleavings the library's table lock
used to rule out.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder

from tapevm.infrastructure.session.service import open_session
from tapevm.infrastructure.stores.factory import open_store
from tapevm.infrastructure.stores.log_tail import LogTail
from tapevm.infrastructure.stores.postgres.log import XID_POSITION_BASE
from tapevm.infrastructure.stores.postgres.recorder import EVENTS_TABLE, open_postgres_recorder

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg(postgres_url: str) -> Iterator[tuple[str, str]]:
    """(store URL, schema): a fresh schema, dropped afterwards."""
    schema = "t_" + uuid.uuid4().hex[:12]
    yield f"{postgres_url}?schema={schema}", schema
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def raw(url: str) -> psycopg.Connection[Any]:
    return psycopg.connect(url.split("?")[0])


def insert_row(conn: psycopg.Connection[Any], schema: str, session: str, version: int = 1) -> None:
    """An insert as any writer makes it (the xid column is filled by its default)."""
    conn.execute(
        f'INSERT INTO "{schema}".{EVENTS_TABLE} (originator_id, originator_version, topic, state) '
        "VALUES (%s, %s, 'foreign', '')",
        (session, version),
    )


def settled(tail: LogTail, timeout: float = 20) -> list[Any]:
    """Everything from position 0 once the fence has passed the newest row (the shared server's
    other transactions can hold it back for a moment)."""
    deadline = time.monotonic() + timeout
    while True:
        records = tail.read_after(0, limit=10_000)
        if (records and records[-1].position == tail.last_position()) or time.monotonic() > deadline:
            return records
        time.sleep(0.01)


def test_a_transaction_that_commits_late_is_not_skipped(pg: tuple[str, str]) -> None:
    """A inserts first (lower notification id) but commits after B: the hazard of tailing by notification id."""
    url, schema = pg
    with open_store(url) as store, raw(url) as a, raw(url) as b:
        tail = LogTail(store)  # type: ignore[arg-type]
        recorder: Any = store.recorder  # type: ignore[attr-defined]
        insert_row(a, schema, "A")  # notification id 1, transaction still open
        insert_row(b, schema, "B")  # notification id 2
        b.commit()

        # the old way (the library's select_notifications, "after notification id"): B, position 2 ...
        old = recorder.select_notifications(start=0, limit=10, inclusive_of_start=False)
        assert [n.originator_id for n in old] == ["B"]
        old_position = old[-1].id
        # ... while the fence holds B back: A is older and still running
        records, held = tail._read(0, 10)
        assert records == [] and held

        a.commit()
        # the old way now skips A forever; LogTail gives both, A first (it wrote first), exactly once
        assert recorder.select_notifications(start=old_position, limit=10, inclusive_of_start=False) == []
        records = settled(tail)
        assert [r.session for r in records] == ["A", "B"]
        assert records[0].position < records[1].position
        assert tail.read_after(records[0].position) == records[1:]
        assert tail.read_after(records[1].position) == []


def test_a_transaction_that_wrote_elsewhere_first_is_fenced(pg: tuple[str, str]) -> None:
    """A takes its transaction id with an earlier write to another table, then inserts after B commits."""
    url, schema = pg
    with open_store(url) as store, raw(url) as a, raw(url) as b:
        tail = LogTail(store)  # type: ignore[arg-type]
        a.execute(f'CREATE TABLE "{schema}".elsewhere (x int)')  # A now holds a transaction id
        insert_row(b, schema, "B")
        b.commit()
        assert tail._read(0, 10) == ([], True)  # B waits behind A
        insert_row(a, schema, "A")
        a.commit()
        assert [r.session for r in settled(tail)] == ["A", "B"]


def test_a_transaction_that_starts_first_but_writes_later_comes_after(pg: tuple[str, str]) -> None:
    """A transaction id is taken at the first write: a reader without one holds nothing back."""
    url, schema = pg
    with open_store(url) as store, raw(url) as a, raw(url) as b:
        tail = LogTail(store)  # type: ignore[arg-type]
        a.execute("SELECT 1")  # A has begun, but has no transaction id yet
        insert_row(b, schema, "B")
        b.commit()
        first = settled(tail)
        assert [r.session for r in first] == ["B"]
        insert_row(a, schema, "A")
        a.commit()
        deadline = time.monotonic() + 20
        while not (rest := tail.read_after(first[-1].position)) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [r.session for r in rest] == ["A"]


def test_follow_waits_for_an_older_transaction_then_delivers(pg: tuple[str, str]) -> None:
    url, schema = pg
    with open_store(url) as store, open_store(url) as writer_store, raw(url) as a:
        writer = open_session("w", writer_store)
        tail = LogTail(store)  # type: ignore[arg-type]
        start = settled(tail)[-1].position
        seen: list[str] = []
        stop = threading.Event()

        def follower() -> None:
            for record in tail.follow(start, stop):
                seen.append(record.session)

        thread = threading.Thread(target=follower)
        thread.start()
        try:
            insert_row(a, schema, "A")  # older, still running
            writer.run("(define x 1)")
            time.sleep(0.5)
            assert seen == []  # the committed form waits behind A
            a.rollback()  # A ends without writing anything: the form comes through
            deadline = time.monotonic() + 10
            while not seen and time.monotonic() < deadline:
                time.sleep(0.01)
            assert seen == ["w"]
        finally:
            stop.set()
            thread.join(timeout=10)
            writer.close()
        assert not thread.is_alive()


def test_writers_on_other_sessions_do_not_wait_for_each_other(pg: tuple[str, str]) -> None:
    """No table lock: a commit on one session goes through while another session's insert is open."""
    url, schema = pg
    with open_store(url) as store, raw(url) as a:
        s = open_session("s", store)
        insert_row(a, schema, "other")  # holds ROW EXCLUSIVE; the library's EXCLUSIVE table lock would wait
        done = threading.Event()
        thread = threading.Thread(target=lambda: (s.run("(define y 2)"), done.set()))
        thread.start()
        finished = done.wait(10)
        a.rollback()
        thread.join(timeout=10)
        s.close()
        assert finished, "the append waited for another session's open transaction"


def test_a_page_never_splits_a_transaction(pg: tuple[str, str]) -> None:
    """Rows written in one transaction come together, and only the last carries its position."""
    url, _ = pg
    recorder, datastore = open_postgres_recorder(url)
    try:
        with open_store(url) as store:
            tail = LogTail(store)  # type: ignore[arg-type]
            recorder.insert_events([StoredEvent("m", v, "foreign", b"") for v in (1, 2, 3)])
            recorder.insert_events([StoredEvent("n", 1, "foreign", b"")])
            records = settled(tail)
            assert [(r.session, r.first_seq) for r in records] == [("m", 1), ("m", 2), ("m", 3), ("n", 1)]
            first_page = tail.read_after(0, limit=2)
            assert len(first_page) == 3  # the whole first transaction
            assert [r.position for r in first_page[:2]] == [0, 0]  # resuming mid-transaction re-reads it
            assert tail.read_after(first_page[-1].position, limit=1) == records[3:]
    finally:
        datastore.close()


def test_rows_from_before_the_column_keep_their_positions(pg: tuple[str, str]) -> None:
    """A store written by the library's recorder (table lock, no xid column) is upgraded in place."""
    url, schema = pg
    base = url.split("?")[0]
    from urllib.parse import urlsplit

    from eventsourcing.postgres import PostgresDatastore

    from tapevm.infrastructure.stores.postgres.recorder import create_tables

    parts = urlsplit(base)
    legacy_store = PostgresDatastore(
        dbname=parts.path.lstrip("/"), host=parts.hostname or "127.0.0.1", port=parts.port or 5432,
        user=parts.username or "postgres", password="", schema=schema, originator_id_type="text",
        pool_size=2, max_overflow=2,
    )
    try:
        legacy = PostgresApplicationRecorder(legacy_store, events_table_name=EVENTS_TABLE)
        create_tables(legacy_store, legacy)
        for i in range(3):
            legacy.insert_events([StoredEvent(f"old{i}", 1, "foreign", b"")])
        old_ids = [n.id for n in legacy.select_notifications(start=1, limit=10)]
        with open_store(url) as store:
            with raw(url) as conn:
                nulls = conn.execute(f'SELECT count(*) FROM "{schema}".{EVENTS_TABLE} WHERE tape_xid IS NULL')
                assert nulls.fetchone()[0] == 3  # type: ignore[index]
            new = open_session("new", store)
            new.eval("(define x 1)")
            new.close()
            tail = LogTail(store)  # type: ignore[arg-type]
            records = settled(tail)
            assert [r.position for r in records[:3]] == old_ids
            assert [r.session for r in records] == ["old0", "old1", "old2", "new", "new"]
            assert all(r.position > XID_POSITION_BASE for r in records[3:])
            # a follower whose tracking record holds an old notification id resumes where it was
            assert tail.read_after(old_ids[0]) == records[1:]
            assert tail.read_after(old_ids[-1]) == records[3:]
    finally:
        legacy_store.close()


def test_concurrent_writers_and_a_follower_see_every_commit_once(pg: tuple[str, str]) -> None:
    """Four sessions written at once; a follower sees each commit exactly once, each session in order."""
    url, _ = pg
    forms = 30
    with open_store(url) as store:
        tail = LogTail(store, page=7)  # type: ignore[arg-type]
        seen: list[tuple[str, int]] = []
        stop = threading.Event()
        follower = threading.Thread(target=lambda: [seen.append((r.session, r.first_seq))
                                                    for r in tail.follow(0, stop)])
        follower.start()

        def write(name: str) -> None:
            with open_store(url) as own:
                s = open_session(name, own)
                for i in range(forms):
                    s.run(f"(define x{i} {i})")
                s.close()

        writers = [threading.Thread(target=write, args=(f"w{i}",)) for i in range(4)]
        for w in writers:
            w.start()
        for w in writers:
            w.join(timeout=120)
        expected = sorted((r.session, r.first_seq) for r in settled(tail))
        deadline = time.monotonic() + 20
        while len(seen) < len(expected) and time.monotonic() < deadline:
            time.sleep(0.02)
        stop.set()
        follower.join(timeout=10)
        assert sorted(seen) == expected and len(seen) == len(set(seen))
        for name in (f"w{i}" for i in range(4)):
            mine = [seq for s, seq in seen if s == name]
            assert mine == sorted(mine) and len(mine) >= forms


def test_a_failing_notify_does_not_fail_a_committed_write(pg: tuple[str, str]) -> None:
    """The NOTIFY runs after the commit: if it fails the write stands (followers also poll)."""
    from psycopg.sql import SQL

    url, _ = pg
    with open_store(url) as store:
        recorder: Any = store.recorder  # type: ignore[attr-defined]
        recorder.notify_statement = SQL("SELECT 1/0")  # any server error
        recorder._rendered = None
        s = open_session("s", store)
        s.eval("(define x 1)")
        assert recorder.head("s") == s.head
        tail = LogTail(store)  # type: ignore[arg-type]
        assert [r.first_seq for r in settled(tail)] == [1, 2]
        s.close()


def test_a_store_from_another_server_is_refused_to_followers(pg: tuple[str, str]) -> None:
    """Rows with transaction ids this server has not issued (a copied store): positions would go backwards."""
    from tapevm.domain.errors import StoreError

    url, schema = pg
    with open_store(url) as store, raw(url) as conn:
        conn.execute(
            f'INSERT INTO "{schema}".{EVENTS_TABLE} (originator_id, originator_version, topic, state, tape_xid) '
            "VALUES ('copied', 1, 'foreign', '', '999999999999'::xid8)"
        )
        conn.commit()
        with pytest.raises(StoreError, match="newer than this PostgreSQL server"):
            LogTail(store)  # type: ignore[arg-type]
