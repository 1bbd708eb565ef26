"""The eventsourcing library's events table, as tapevm uses it on every backend.

Each row is a commit record (:mod:`.record_codec`): ``originator_id`` is the
stream, ``originator_version`` the first event number, ``topic`` says how many
events the row holds, ``state`` is the record's bytes.  A PostgreSQL table also
has ``notification_id``, its global position; SQLite uses the rowid.  Both
backends refuse to open a database whose table of this name lacks a column.
Both answer ``record_places`` (what seals a checkpoint) from the same ranges, summed here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tapevm.domain.errors import CorruptRecord

EVENTS_TABLE = "stored_events"
# The columns tapevm reads and writes, on both backends.
EVENT_COLUMNS = ("originator_id", "originator_version", "topic", "state")


def cumulative_places(stream: str, bounds: list[int], ranges: list[tuple[Any, ...]],
                      seqs: Sequence[int]) -> list[tuple[int | None, int]]:
    """(record start, records up to it) at each of ``seqs`` from the (part, MAX, COUNT) of each range
    between consecutive ``bounds``."""
    at: dict[int, tuple[int | None, int]] = {}
    first: int | None = None
    count = 0
    for bound, (_, last, n) in zip(bounds, ranges):
        if last is not None:
            if not isinstance(last, int):  # a damaged file can hand back any type
                raise CorruptRecord(f"session {stream!r}: malformed event number {last!r:.40} in the store")
            first = last
        count += int(n or 0)
        at[bound] = (first, count)
    return [at[seq] for seq in seqs]
