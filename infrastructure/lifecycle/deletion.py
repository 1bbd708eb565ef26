"""Deleting a session: every row it has, in one transaction, with a tombstone that survives it.

A session is its stream's records plus side rows in the same database: its name row
(``tape_sessions``), its writer lease (``tape_leases``), its checkpoints (frames and packs), its
content index rows (``tape_content``, ``tape_content_covered``); and rows in the read model's own
file.  :func:`delete_session` removes them all and inserts a tombstone (``tombstones.py``) in ONE
transaction of the store's database: the session is gone with its tombstone or not at all.  The
read model's rows go next, in the read model's file (a projection: were that step lost, ``tape sql
--rebuild`` would drop them too, since the log no longer holds the session).

Contracts:

* The writer lease of every deleted stream is taken first, so a session open for writing elsewhere
  is refused (``SessionLocked``) and no writer appends during the deletion.
* A session that forks read through (a fork's first events are its source's records) is refused
  unless ``with_forks``: then the forks, their forks and so on are deleted with it, each with its
  own tombstone.
* Other sessions' records are not touched, so their chains and ``verify`` are unchanged.
* The name becomes free: if the stream the name would resolve to by default belongs to another
  session (the one ``-f`` kept as ``NAME.1``), the name is pointed at a new, empty stream, so
  creating it again starts afresh.
* The space is reclaimed by ``tape gc`` (the backend's vacuum), not here: a vacuum rewrites the
  database and would make every deletion as slow as the whole store.
"""

from __future__ import annotations

import getpass
import socket
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tapevm.domain.errors import SessionNotFound, UsageError
from tapevm.domain.lineage import fork_origin
from tapevm.domain.ports import EventStore
from tapevm.infrastructure.followers.read_model import read_model_path
from tapevm.infrastructure.lifecycle.tombstones import (
    DeletedSession,
    create_sql,
    deleted_sessions,
    insert_sql,
)
from tapevm.infrastructure.logs import get_logger
from tapevm.infrastructure.stores import checkpoint_tables, content_index
from tapevm.infrastructure.stores.leases import LEASE_TABLE, WriterLease
from tapevm.infrastructure.stores.named_sessions import raw_store
from tapevm.infrastructure.stores.records.deleted_records import DELETED_TABLE
from tapevm.infrastructure.stores.records.events_table import EVENTS_TABLE
from tapevm.infrastructure.stores.registry import REGISTRY_TABLE, SessionRegistry
from tapevm.infrastructure.stores.side_tables import SideTables

log = get_logger("tapevm.lifecycle")

# tapevm's side tables that hold rows of a stream, and the column naming it
SIDE_ROWS = ((REGISTRY_TABLE, "stream"), (LEASE_TABLE, "session"), (checkpoint_tables.TABLE, "session"),
             (checkpoint_tables.PACKS, "session"), (content_index.TABLE, "stream"), (content_index.COVERED, "stream"))
# the read model's tables, and the column naming a stream
READ_MODEL_ROWS = (("sessions", "stream"), ("event_rows", "stream"), ("binding_rows", "stream"),
                   ("fact_rows", "stream"), ("file_rows", "stream"), ("snapshot_rows", "stream"))


@dataclass
class DeletionReport:
    """What a deletion removed: the session's tombstone first, then its forks'; read model rows dropped."""

    deleted: list[DeletedSession] = field(default_factory=list)
    read_model_rows: int = 0

    def as_json(self) -> dict[str, Any]:
        return {"deleted": [d.as_json() for d in self.deleted], "read_model_rows": self.read_model_rows}


def who() -> str:
    """``user@host`` of this process: what a tombstone records as the deleter by default."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no login name in a bare container
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def forks_through(store: EventStore, stream: str) -> list[str]:
    """Every stream that reads through ``stream``: its forks, their forks..., nearest first.

    Read from each stream's first record (the log's word on where a fork came from, one indexed read
    per stream), not from the name table, which a fork needs no row in to be one.
    """
    children: dict[str, list[str]] = {}
    for head in store.sessions():
        origin = fork_origin(store, head.session)
        if origin is not None:
            children.setdefault(origin[0], []).append(head.session)
    found: list[str] = []
    todo = [stream]
    while todo:
        for child in sorted(children.get(todo.pop(0), [])):
            if child not in found:
                found.append(child)
                todo.append(child)
    return found


@dataclass(frozen=True)
class Plan:
    """What deleting a session would remove: its stream and the forks reading through it (nearest first)."""

    name: str
    streams: list[str]
    names: dict[str, str]  # stream -> name, for every session of the store
    registry: SessionRegistry

    def sessions(self, store: EventStore) -> list[tuple[str, int]]:
        """(name, head) of each session the plan deletes, the named one first."""
        return [(self.names.get(s, s), store.last_seq(s)) for s in self.streams]


def deletion_plan(store: EventStore, name: str, *, with_forks: bool = False) -> Plan:
    """What deleting ``name`` would remove; SessionNotFound for no such session, UsageError when forks read
    through it and ``with_forks`` is not given.  Changes nothing."""
    store = raw_store(store)
    registry = SessionRegistry(store)
    stream = registry.stream_of(name)
    if "@" in name or store.last_seq(stream) == 0:
        raise SessionNotFound(f"no session {name!r}" + (" (delete takes a session, not an address ID@N)"
                                                         if "@" in name else ""))
    names = registry.names()
    forks = forks_through(store, stream)
    if forks and not with_forks:
        listed = ", ".join(repr(names.get(f, f)) for f in forks[:5]) + (", ..." if len(forks) > 5 else "")
        raise UsageError(f"session {name!r} has {len(forks)} fork(s) reading through it ({listed}): delete them "
                         "too with --with-forks, or keep them by saving each as an image first "
                         "('tape image save FILE -i FORK', then 'tape image load FILE'); nothing was deleted")
    return Plan(name, [stream, *forks], names, registry)


def delete_session(store: EventStore, name: str, *, with_forks: bool = False, by: str | None = None) -> DeletionReport:
    """Delete session ``name`` (and, with ``with_forks``, every fork reading through it); see the module."""
    store = raw_store(store)
    plan = deletion_plan(store, name, with_forks=with_forks)
    leases: list[WriterLease] = []
    try:
        for s in plan.streams:
            leases.append(WriterLease(store, s, plan.names.get(s, s)))
        tombstones = _delete(store, plan, by or who())
    finally:
        for lease in leases:
            lease.release()
    report = DeletionReport(tombstones, drop_read_model_rows(store, plan.streams))
    log.info("session_deleted", session=name, stream=plan.streams[0], forks=len(plan.streams) - 1,
             by=tombstones[0].deleted_by)
    return report


def _delete(store: EventStore, plan: Plan, by: str) -> list[DeletedSession]:
    """One transaction: every stream's records and side rows out, a tombstone in for each."""
    db, streams = plan.registry.db, plan.streams
    sizes = {h.session: h.stored_bytes for h in store.sessions()}
    events = db.table(EVENTS_TABLE)
    present = [(t, c) for t, c in SIDE_ROWS if _exists(db, t)]
    statements: list[tuple[str, Sequence[Any]]] = [(create_sql(db), ())]
    for s in streams:
        head = store.last_seq(s)
        link = store.link_at(s, head)
        records = int(db.query(f"SELECT COUNT(*) FROM {events} WHERE originator_id = ?", (s,))[0][0])
        note = "" if s == streams[0] else f"a fork reading through {plan.name!r}, deleted with it"
        statements.append((insert_sql(db), (s, plan.names.get(s, s), head, None if link is None else link.hex(),
                                            records, sizes.get(s, 0), by, note)))
        statements.append((f"DELETE FROM {events} WHERE originator_id = ?", (s,)))
        # the store's witness of deleted records saw these go: a deletion on purpose is no hole (a
        # session made again under this stream id would read its own records as missing)
        statements.append((f"DELETE FROM {db.table(DELETED_TABLE)} WHERE stream = ?", (s,)))
        statements.extend((f"DELETE FROM {db.table(t)} WHERE {c} = ?", (s,)) for t, c in present)
    statements.extend(_free_name(store, plan.registry, plan.name, streams))
    db.run(statements)
    latest: dict[str, DeletedSession] = {}
    for d in deleted_sessions(db):  # oldest first: a stream's last row is this deletion's
        latest[d.stream] = d
    return [latest[s] for s in streams]


def _free_name(store: EventStore, registry: SessionRegistry, name: str,
               streams: Sequence[str]) -> list[tuple[str, Sequence[Any]]]:
    """Statements that leave ``name`` free for a new session: without a row it names the stream
    ``name``, which may be another session's (``-f`` kept the old one under a new name); then a row
    points it at a new, empty stream."""
    if name in streams or store.last_seq(name) == 0:
        return []
    fresh = registry.new_stream_for(name)
    return [(f"DELETE FROM {registry.table} WHERE name = ?", (name,)),
            (f"INSERT INTO {registry.table} (name, stream, created_at) VALUES (?, ?, {registry.db.now})",
             (name, fresh))]


def _exists(db: SideTables, table: str) -> bool:
    sql, params = db.backend.tables_exist_sql((table,))
    return bool(db.query(sql, params)[0][0])


def drop_read_model_rows(store: EventStore, streams: Sequence[str]) -> int:
    """Drop the read model's rows of ``streams`` (when its file exists); how many were dropped."""
    path = read_model_path(store)
    if not path.is_file():
        return 0
    conn = sqlite3.connect(path, timeout=30.0, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        dropped = 0
        for table, column in READ_MODEL_ROWS:
            for s in streams:
                try:
                    dropped += conn.execute(f"DELETE FROM {table} WHERE {column} = ?", (s,)).rowcount
                except sqlite3.OperationalError:  # a table a read model of another version lacks
                    continue
        conn.execute("COMMIT")
        return dropped
    except sqlite3.Error as e:
        log.warning("read_model_rows_kept", error=str(e), fix="tape sql --rebuild drops them")
        return 0
    finally:
        conn.close()
