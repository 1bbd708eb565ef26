"""The eventsourcing library's events table, as tapevm uses it on every backend.

Each row is a commit record (:mod:`.record_codec`): ``originator_id`` is the
stream, ``originator_version`` the first event number, ``topic`` says how many
events the row holds, ``state`` is the record's bytes.  A PostgreSQL table also
has ``notification_id``, its global position; SQLite uses the rowid.  Both
backends refuse to open a database whose table of this name lacks a column.
"""

from __future__ import annotations

EVENTS_TABLE = "stored_events"
# The columns tapevm reads and writes, on both backends.
EVENT_COLUMNS = ("originator_id", "originator_version", "topic", "state")
