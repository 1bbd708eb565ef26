"""The store's witness of deleted records: a table the database itself fills, by trigger.

A record deleted from the middle of a stream (by hand, by a tool, by a bad restore) leaves a hole
that a reader of the records around it sees (each record must start where the one before ended),
but a session served from a checkpoint reads no record behind it.  Counting the records behind
the checkpoint on every open found such a hole, at a cost that grew with the history (about 80 ns
a record: 8 ms at 100,000 turns).  Instead, the events table carries a trigger: every row
deleted, or moved by an edit of its stream or event number, leaves a row here (stream, first
event, topic) in the same transaction.  A reader asks for the deleted records of a stream up to
an event with one indexed look-up, whatever the history's length; one whose place no record has
taken again is a hole.

tapevm itself never deletes a record, so a row here is always damage.  It is a witness, not a
proof: someone who can drop the trigger first deletes unseen (``tape verify`` reads every record
and still finds the hole; a keyed chain makes the rest of the forgery detectable).
"""

from __future__ import annotations

from typing import Any

from tapevm.domain.errors import CorruptRecord
from tapevm.infrastructure.stores.records.events_table import EVENTS_TABLE
from tapevm.infrastructure.stores.records.stream_head import head_of

DELETED_TABLE = "tape_deleted_records"
TRIGGER = "tape_record_deleted"

SQLITE_STATEMENTS = (
    f"CREATE TABLE IF NOT EXISTS {DELETED_TABLE} (stream TEXT NOT NULL, version INTEGER NOT NULL, "
    "topic TEXT, deleted_at REAL)",
    f"CREATE INDEX IF NOT EXISTS {DELETED_TABLE}_stream ON {DELETED_TABLE} (stream, version)",
    f"CREATE TRIGGER IF NOT EXISTS {TRIGGER} AFTER DELETE ON {EVENTS_TABLE} BEGIN "
    f"INSERT INTO {DELETED_TABLE} VALUES (old.originator_id, old.originator_version, old.topic, julianday('now')); "
    "END",
    f"CREATE TRIGGER IF NOT EXISTS {TRIGGER}_moved AFTER UPDATE OF originator_id, originator_version "
    f"ON {EVENTS_TABLE} BEGIN "
    f"INSERT INTO {DELETED_TABLE} VALUES (old.originator_id, old.originator_version, old.topic, julianday('now')); "
    "END",
)


def first_deleted_sql(events: str, deleted: str, placeholder: str) -> str:
    """The first record of a stream deleted at or before an event whose place no record has taken
    again: ``(version, topic)``; parameters (stream, upto)."""
    p = placeholder
    return (f"SELECT d.version, d.topic FROM {deleted} d WHERE d.stream = {p} AND d.version <= {p} "
            f"AND NOT EXISTS (SELECT 1 FROM {events} e WHERE e.originator_id = d.stream "
            "AND e.originator_version = d.version) ORDER BY d.version LIMIT 1")


def refuse_hole(stream: str, row: Any) -> None:
    """Raise the reader's one-line error for a deleted record ``(version, topic)`` (none: return)."""
    if row is None:
        return
    version, topic = row[0], row[1]
    try:
        last = head_of(version, topic)
    except CorruptRecord:
        last = version
    what = f"event {version} is missing" if last <= version else f"events {version}..{last} are missing"
    raise CorruptRecord(f"session {stream!r}: {what} from the store (a record was deleted or lost); "
                        f"'tape verify -i {stream}' reports the damage")
