"""Session names -> streams, and lineage (which session a fork came from).

A session's *name* is what users type; its *stream* is the id its events are
stored under (and which each record's checksum covers, so a stream can never
be renamed).  ``tape_sessions`` maps names to streams; a name it does not
list is its own stream, so sessions created before the registry (and most
sessions) need no row at all.  ``-f/--fresh`` renames by updating rows in one
transaction, rewriting no record.

Every command resolves names through :func:`resolve_stream` so a name means
the same stream everywhere.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from tapevm.domain.ports import EventStore
from tapevm.infrastructure.stores.side_tables import SideTables

REGISTRY_TABLE = "tape_sessions"


@dataclass(frozen=True)
class RegistryRow:
    name: str
    stream: str
    parent_stream: str | None
    fork_at: int | None
    created_at: float


class SessionRegistry:
    """The name table of one store."""

    def __init__(self, store: EventStore) -> None:
        self.store = store
        self.db = SideTables(store)
        self.table = self.db.table(REGISTRY_TABLE)
        self.db.execute(
            f"CREATE TABLE IF NOT EXISTS {self.table} (name TEXT PRIMARY KEY, stream TEXT NOT NULL, "
            "parent_stream TEXT, fork_at BIGINT, created_at DOUBLE PRECISION NOT NULL)"
        )

    def rows(self) -> list[RegistryRow]:
        return [RegistryRow(r[0], r[1], r[2], r[3], r[4])
                for r in self.db.query(f"SELECT name, stream, parent_stream, fork_at, created_at FROM {self.table}")]

    def stream_of(self, name: str) -> str:
        rows = self.db.query(f"SELECT stream FROM {self.table} WHERE name = ?", (name,))
        return str(rows[0][0]) if rows else name

    def names(self) -> dict[str, str]:
        """stream -> name for every session that exists (streams with no name row are their own name)."""
        named = {r.stream: r.name for r in self.rows()}
        out: dict[str, str] = {}
        for head in self.store.sessions():
            out[head.session] = named.get(head.session, head.session)
        return out

    def exists(self, name: str) -> bool:
        return bool(self.store.last_seq(self.stream_of(name)) > 0)

    def free_name(self, name: str) -> str:
        """``name.1``, ``name.2``, ...: the first that no session uses."""
        n = 1
        while self.exists(f"{name}.{n}"):
            n += 1
        return f"{name}.{n}"

    def retire(self, name: str) -> tuple[str, str]:
        """Give the session ``name`` a free name and point ``name`` at a new, empty stream.

        Returns (the old session's new name, the new stream).  One transaction;
        no stored record changes.
        """
        old_stream = self.stream_of(name)
        kept = self.free_name(name)
        n = 1
        used = {r.stream for r in self.rows()} | {old_stream}
        while f"{name}/{n}" in used or self.store.last_seq(f"{name}/{n}") > 0:
            n += 1
        new_stream = f"{name}/{n}"  # '/' is not allowed in names, so no name can ever clash with it
        now = time.time()
        self.db.run([
            (f"DELETE FROM {self.table} WHERE name = ? OR name = ?", (name, kept)),
            (f"INSERT INTO {self.table} (name, stream, created_at) VALUES (?, ?, ?)", (kept, old_stream, now)),
            (f"INSERT INTO {self.table} (name, stream, created_at) VALUES (?, ?, ?)", (name, new_stream, now)),
        ])
        return kept, new_stream

    def new_stream_for(self, name: str) -> str:
        """A stream id for a new session called ``name``: ``name`` itself unless a stream uses it."""
        used = {r.stream for r in self.rows()}
        if name not in used and self.store.last_seq(name) == 0:
            return name
        n = 1
        while f"{name}/{n}" in used or self.store.last_seq(f"{name}/{n}") > 0:
            n += 1
        return f"{name}/{n}"  # '/' is not allowed in names, so no name can ever clash with it

    def record_fork(self, name: str, stream: str, parent_stream: str, at: int) -> None:
        self.db.run([
            (f"DELETE FROM {self.table} WHERE name = ?", (name,)),
            (f"INSERT INTO {self.table} (name, stream, parent_stream, fork_at, created_at) VALUES (?, ?, ?, ?, ?)",
             (name, stream, parent_stream, at, time.time())),
        ])


def resolve_stream(store: EventStore, name: str) -> str:
    """The stream holding the session called ``name`` (``name`` itself when it has no registry row)."""
    return SessionRegistry(store).stream_of(name)
