"""A store held in memory, for sessions that are thrown away: ``--ephemeral`` runs and image builds.

A throwaway session needs the store port and nothing that makes a store durable: no records
(nothing encoded, compressed or checksummed), no side tables (its name is its stream, no writer
lease), no checkpoints and no content index (its state holds all of its content, as replay's and a
pure fold's do).  Starting one from an image of 100,000 bindings then skips what a durable load must
do for the next open: encoding the image's content into records, indexing it and writing a
checkpoint of it.  Events are kept as the models appended; reads hand back the same objects.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import pairwise

from tapevm.domain.errors import ConflictError
from tapevm.domain.events import RecordedEvent
from tapevm.domain.ports import EventStore, SessionHead


class MemoryStore(EventStore):
    """Streams as lists of events in memory; appends are checked against the head as a store's are."""

    def __init__(self, name: str = "memory") -> None:
        self.url_for_display = f"<{name}: in memory, thrown away>"
        self._streams: dict[str, list[RecordedEvent]] = {}

    def append(self, events: Sequence[RecordedEvent], *, fork_start: bool = False) -> None:
        if not events:
            return
        stream = self._streams.setdefault(events[0].session, [])
        head = stream[-1].seq if stream else 0
        if events[0].seq != head + 1 or any(b.seq != a.seq + 1 for a, b in pairwise(events)):
            raise ConflictError(f"session {events[0].session!r} is at event {head}: cannot append event "
                                f"{events[0].seq}")
        stream.extend(events)

    def read(self, stream: str, start: int = 1, stop: int | None = None) -> Iterator[RecordedEvent]:
        events = self._streams.get(stream, [])
        first = max(start, 1) - 1
        last = len(events) if stop is None else min(stop, len(events))
        return iter(events[first:last])

    def last_seq(self, stream: str) -> int:
        events = self._streams.get(stream)
        return events[-1].seq if events else 0

    def sessions(self) -> list[SessionHead]:
        return [SessionHead(name, events[-1].seq, 0) for name, events in sorted(self._streams.items()) if events]

    def close(self) -> None:
        self._streams.clear()
