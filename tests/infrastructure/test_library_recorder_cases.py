"""The eventsourcing library's own recorder test cases, run unmodified against tapevm's recorders.

Tests we did not write check our use of the library: the application
recorders tapevm configures (SQLite: WAL, ``synchronous=FULL``,
``BEGIN IMMEDIATE``, head-checked batched inserts; PostgreSQL: the library's
recorder with our head check, pool and schema), and the tracking and process
recorders the follower projections build on.  Only ``create_recorder`` and the
originator-id type (tapevm streams are text ids) are ours; every library test runs,
none is skipped.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import uuid
from typing import Any
from unittest import SkipTest

import pytest
from eventsourcing.persistence import ApplicationRecorder, ProcessRecorder, TrackingRecorder
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.sqlite import SQLiteTrackingRecorder
from eventsourcing.tests.persistence import (
    ApplicationRecorderTestCase,
    ProcessRecorderTestCase,
    TrackingRecorderTestCase,
)

from tapevm.infrastructure.stores.postgres.recorder import (
    EVENTS_TABLE,
    TapePostgresProcessRecorder,
    create_tables,
    open_postgres_recorder,
)
from tapevm.infrastructure.stores.sqlite.recorder import TapeSQLiteDatastore, TapeSQLiteRecorder
from tapevm.infrastructure.stores.sqlite.tracking import TapeSQLiteProcessRecorder


def _join_stray_threads() -> None:
    """Wait for threads a library test left running (its reader threads are signalled, not joined).

    Closing a SQLite connection while another thread is inside a query on it
    crashes the interpreter, so the datastore is closed only after they end.
    """
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join(timeout=10)


class SQLiteCase:
    """A fresh SQLite file per test, on tapevm's datastore."""

    def setUp(self) -> None:
        self._dir = tempfile.mkdtemp(prefix="tape-lib-")
        self._datastores: list[Any] = []

    def tearDown(self) -> None:
        _join_stray_threads()
        for d in self._datastores:
            d.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def new_originator_id(self) -> str:
        return str(uuid.uuid4())

    def datastore(self) -> TapeSQLiteDatastore:
        d = TapeSQLiteDatastore(os.path.join(self._dir, "store.db"))
        self._datastores.append(d)
        return d


class PostgresCase:
    """A fresh PostgreSQL schema per test, opened the way ``tape --store postgresql://...`` opens it."""

    def setUp(self) -> None:
        from tests.conftest import POSTGRES_URL, postgres_reachable

        reason = postgres_reachable()
        if reason is not None:
            if os.environ.get("CI") == "true":
                raise AssertionError(f"CI=true but PostgreSQL at {POSTGRES_URL} is not reachable: {reason}")
            raise SkipTest(f"no PostgreSQL server at {POSTGRES_URL} ({reason})")
        self._base = POSTGRES_URL
        self._schema = "lib_" + uuid.uuid4().hex[:12]
        self._datastores: list[Any] = []

    def tearDown(self) -> None:
        import psycopg

        _join_stray_threads()
        for d in self._datastores:
            d.close()
        with psycopg.connect(self._base, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{self._schema}" CASCADE')

    def new_originator_id(self) -> str:
        return str(uuid.uuid4())

    def open(self) -> Any:
        recorder, datastore = open_postgres_recorder(f"{self._base}?schema={self._schema}&pool_size=4&max_overflow=12")
        self._datastores.append(datastore)
        return recorder, datastore


# -- application recorders ------------------------------------------------------------
class TestSQLiteApplicationRecorder(SQLiteCase, ApplicationRecorderTestCase[ApplicationRecorder]):
    def create_recorder(self) -> ApplicationRecorder:
        recorder = TapeSQLiteRecorder(self.datastore())
        recorder.create_table()
        return recorder


@pytest.mark.postgres
class TestPostgresApplicationRecorder(PostgresCase, ApplicationRecorderTestCase[ApplicationRecorder]):
    def create_recorder(self) -> ApplicationRecorder:
        recorder, _ = self.open()
        return recorder  # type: ignore[no-any-return]


# -- tracking recorders ------------------------------------------------------------------
class TestSQLiteTrackingRecorder(SQLiteCase, TrackingRecorderTestCase):
    def create_recorder(self) -> TrackingRecorder:
        recorder = SQLiteTrackingRecorder(self.datastore())
        recorder.create_table()
        return recorder


@pytest.mark.postgres
class TestPostgresTrackingRecorder(PostgresCase, TrackingRecorderTestCase):
    def create_recorder(self) -> TrackingRecorder:
        _, datastore = self.open()
        recorder = PostgresTrackingRecorder(datastore)
        create_tables(datastore, recorder)
        return recorder


# -- process recorders (events + tracking in one transaction, head-checked) ---------------
class TestSQLiteProcessRecorder(SQLiteCase, ProcessRecorderTestCase):
    def create_recorder(self) -> ProcessRecorder:
        recorder = TapeSQLiteProcessRecorder(self.datastore())
        recorder.create_table()
        return recorder


@pytest.mark.postgres
class TestPostgresProcessRecorder(PostgresCase, ProcessRecorderTestCase):
    def create_recorder(self) -> ProcessRecorder:
        _, datastore = self.open()
        recorder = TapePostgresProcessRecorder(datastore, events_table_name=EVENTS_TABLE)
        create_tables(datastore, recorder)
        return recorder
