"""The eventsourcing library's events table, as tapevm uses it on every backend.

Each row is a commit record (:mod:`.record_codec`): ``originator_id`` is the
stream, ``originator_version`` the first event number, ``topic`` says how many
events the row holds, ``state`` is the record's bytes.  A PostgreSQL table also
has ``notification_id``, its global position; SQLite uses the rowid.  Both
backends refuse to open a database whose table of this name lacks a column.
Both answer ``record_starts`` (where the records a checkpoint's seal names begin) with the same
look-ups, checked here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tapevm.domain.errors import CorruptRecord

EVENTS_TABLE = "stored_events"
# The columns tapevm reads and writes, on both backends.
EVENT_COLUMNS = ("originator_id", "originator_version", "topic", "state")


def start_query(table: str, placeholder: str, count: int) -> str:
    """One row (part, first event of the record holding it) for each of ``count`` event numbers: an
    index seek each, whatever the history's length; parameters (stream, seq) per part."""
    p = placeholder
    return " UNION ALL ".join(
        f"SELECT {i} AS i, (SELECT originator_version FROM {table} WHERE originator_id = {p} "
        f"AND originator_version <= {p} ORDER BY originator_version DESC LIMIT 1) AS v" for i in range(count))


def checked_starts(stream: str, bounds: list[int], rows: list[tuple[Any, ...]],
                   seqs: Sequence[int]) -> list[int | None]:
    """The record start of each of ``seqs`` from the (part, start) rows of ``start_query`` over the
    sorted ``bounds``."""
    at: dict[int, int | None] = {}
    for bound, (_, first) in zip(bounds, sorted(rows)):
        if first is not None and not isinstance(first, int):  # a damaged file can hand back any type
            raise CorruptRecord(f"session {stream!r}: malformed event number {first!r:.40} in the store")
        at[bound] = first
    return [at[seq] for seq in seqs]
