"""The record that a session existed and was deleted: ``tape_deleted_sessions`` (a *tombstone* per stream).

A deletion removes every row of a session (its records, names, leases, checkpoints, content index
rows), so nothing in the log says any more that it was there.  An auditor must still see that it
existed, who deleted it and when, and what it held: its head event number and the chain link of
its last record (what an image, a backup or ``verify --head`` taken before can be compared with).
The row is written in the same transaction as the deletion (``deletion.py``), so a session is never
gone without its tombstone, nor tombstoned while still there.  The table holds no history of its
own and is never rewritten by tapevm: rows are only inserted.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from tapevm.infrastructure.stores.side_tables import SideTables

TOMBSTONES = "tape_deleted_sessions"


@dataclass(frozen=True)
class DeletedSession:
    """One deleted stream: its last name, head, head link (hex; None: no link), records, bytes, when
    (the database's clock, seconds since the epoch), who, and a note (e.g. whose fork it was)."""

    name: str
    stream: str
    head: int
    head_link: str | None
    records: int
    stored_bytes: int
    deleted_at: float
    deleted_by: str
    note: str

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def create_sql(db: SideTables) -> str:
    """The statement creating the table (run inside the deletion's transaction)."""
    return (f"CREATE TABLE IF NOT EXISTS {db.table(TOMBSTONES)} (stream TEXT NOT NULL, name TEXT NOT NULL, "
            "head BIGINT NOT NULL, head_link TEXT, records BIGINT NOT NULL, stored_bytes BIGINT NOT NULL, "
            "deleted_at DOUBLE PRECISION NOT NULL, deleted_by TEXT NOT NULL, note TEXT NOT NULL)")


def insert_sql(db: SideTables) -> str:
    """The statement inserting one row (``?`` for stream, name, head, link, records, bytes, by, note);
    the time is the database's clock, which every host writing to the store shares."""
    return (f"INSERT INTO {db.table(TOMBSTONES)} (stream, name, head, head_link, records, stored_bytes, "
            f"deleted_at, deleted_by, note) VALUES (?, ?, ?, ?, ?, ?, {db.now}, ?, ?)")


def deleted_sessions(db: SideTables) -> list[DeletedSession]:
    """Every tombstone, oldest deletion first (none when nothing was ever deleted). Creates nothing."""
    sql, params = db.backend.tables_exist_sql((TOMBSTONES,))
    if not db.query(sql, params)[0][0]:
        return []
    rows = db.query(f"SELECT name, stream, head, head_link, records, stored_bytes, deleted_at, deleted_by, note "
                    f"FROM {db.table(TOMBSTONES)} ORDER BY deleted_at, stream")
    return [DeletedSession(str(r[0]), str(r[1]), int(r[2]), None if r[3] is None else str(r[3]), int(r[4]),
                           int(r[5]), float(r[6]), str(r[7]), str(r[8])) for r in rows]
