"""Small tables tapevm owns next to the event log, in the store's own database.

The session registry (``tape_sessions``) and the writer leases
(``tape_leases``) and the keyed-chain marker (``tape_chain_keying``, see
``records/chain_keying.py``) live in the same database as the events, so one store
location is still the whole truth.  They hold no history: losing them loses
names and leases, never events (losing the keyed marker loses what it vouches
for: see ``records/chain_keying.py`` for how ``verify`` then judges unlinked records).  :class:`SideTables` runs ``?``-placeholder
SQL on the store's backend object (which knows the dialect), each call one
transaction, and turns the database's errors into tapevm's.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import ConnectionPoolClosedError, PersistenceError

from tapevm.domain.errors import ChainKeyRefused, StoreClosed, StoreError
from tapevm.domain.ports import EventStore
from tapevm.infrastructure.logs import get_logger
from tapevm.infrastructure.stores.backend import backend_of, sql_backend
from tapevm.infrastructure.stores.records.chain_keying import KEYING_TABLE, KeyedMarker, proof_of
from tapevm.infrastructure.stores.records.events_table import EVENTS_TABLE
from tapevm.infrastructure.stores.records.record_codec import KEYED, LINKED

log = get_logger("tapevm.chain")


def has_side_tables(store: EventStore) -> bool:
    """Whether ``store`` keeps tapevm's own tables (a SQL store; not, e.g., replay's in-memory one)."""
    return backend_of(store) is not None


def _pool_closed(error: BaseException) -> bool:
    """Whether ``error`` says the store's connection pool was closed (the library's SQLite pool, or
    psycopg_pool's, which the library wraps in a PersistenceError)."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, ConnectionPoolClosedError) or type(cause).__name__ == "PoolClosed":
            return True
        cause = cause.__cause__
    return False


class SideTables:
    """One transaction per call over the store's database (SQLite or PostgreSQL)."""

    def __init__(self, store: EventStore) -> None:
        self.backend = sql_backend(store, "session names and leases")
        self.where = store.url_for_display

    def table(self, name: str) -> str:
        return self.backend.table(name)

    @property
    def now(self) -> str:
        """SQL for the database's clock, in seconds since the epoch.

        Times that processes on several hosts compare (a lease's heartbeat) are taken from the
        one clock they share: each host's own clock may be minutes off the others'.
        """
        return self.backend.now

    def run(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> list[list[tuple[Any, ...]]]:
        """Run statements in ONE transaction; the rows each returned (empty for writes)."""
        try:
            return self.backend.run(statements)
        except (PersistenceError, sqlite3.Error, ConnectionPoolClosedError) as e:
            if _pool_closed(e):
                raise StoreClosed(f"{self.where} is closed") from e
            raise StoreError(f"could not use {self.where}: {e}") from e
        except StoreError:
            raise
        except Exception as e:
            if type(e).__module__.startswith("psycopg"):
                raise StoreError(f"could not use {self.where}: {e}") from e
            raise

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.run([(sql, params)])

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.run([(sql, params)])[0]


def read_marker(store: EventStore) -> KeyedMarker | None:
    """The store's keyed marker, or None (not keyed, or a store without side tables). Creates nothing."""
    db = SideTables(store)
    sql, params = db.backend.tables_exist_sql((KEYING_TABLE,))
    if not db.query(sql, params)[0][0]:
        return None
    rows = db.query(f"SELECT census, proof FROM {db.table(KEYING_TABLE)}")
    return KeyedMarker(str(rows[0][0]), str(rows[0][1])) if rows else None


def mark_keyed(store: EventStore, key: bytes) -> KeyedMarker | None:
    """The store's marker, created with ``key`` if the store holds no keyed record yet (else None)."""
    db = SideTables(store)
    events = db.table(EVENTS_TABLE)
    keyed_flags = bytes([LINKED | KEYED])
    if db.query(f"SELECT 1 FROM {events} WHERE substr(state, 1, 1) >= ? LIMIT 1", (keyed_flags,)):
        log.warning("chain_keyed_without_marker", store=store.url_for_display)
        return None
    rows = db.query(f"SELECT originator_id, MAX(originator_version) FROM {events} "
                    "WHERE substr(state, 1, 1) < ? GROUP BY originator_id", (bytes([LINKED]),))
    census = json.dumps({str(stream): int(first) for stream, first in sorted(rows)}, separators=(",", ":"))
    table = db.table(KEYING_TABLE)
    create = (f"CREATE TABLE IF NOT EXISTS {table} (one INTEGER PRIMARY KEY CHECK (one = 1), "
              "census TEXT NOT NULL, proof TEXT NOT NULL)")
    db.run([(create, ()),
            (f"INSERT INTO {table} (one, census, proof) VALUES (1, ?, ?) ON CONFLICT DO NOTHING",
             (census, proof_of(key, census)))])
    log.info("chain_keyed", store=store.url_for_display, pre_chain_streams=len(rows))
    return read_marker(store)


def check_writer_key(store: EventStore, key: bytes | None) -> None:
    """Refuse (ChainKeyRefused) a writer whose key is not the store's; mark a store a keyed writer
    writes to first.  Run once per store object, before its first append."""
    marker = read_marker(store)
    if key is None:
        if marker is not None:
            raise ChainKeyRefused(f"{store.url_for_display} is keyed (its hash chain needs TAPE_CHAIN_KEY): "
                                  "set TAPE_CHAIN_KEY to write to it; nothing was written")
        return
    if marker is None:
        marker = mark_keyed(store, key)
    if marker is not None and not marker.vouched_by(key):
        raise ChainKeyRefused(f"TAPE_CHAIN_KEY is not the key {store.url_for_display} is keyed with: "
                              "set the store's key to write to it; nothing was written")
