"""The store as seen through session names: reads follow the registry and forks.

A session's *name* is what users type; its *stream* is the id its records
are stored under (``-f`` gives a name a new stream).  :class:`NamedSessions`
resolves names through the registry and reads through the lineage
(``domain.lineage``), so the entry points that take ``(store, name)`` read
exactly the log a name stands for.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tapevm.domain.events import RecordedEvent
from tapevm.domain.lineage import lineage, read, read_decoded, read_fields
from tapevm.domain.ports import DecodedEvent, EventStore, RawRecord
from tapevm.infrastructure.stores.registry import resolve_stream


class NamedSessions(EventStore):
    """The store as seen through session NAMES: reads follow the registry and forks.

    The entry points that take ``(store, name)`` (replay, audit, blame, verify,
    unfinished-form detection) wrap their store in this view, so a renamed
    session or a fork reads exactly the log its name stands for.  Writes go
    to the underlying store unchanged (they already name streams).  Code that
    works on stream ids (the session service, this module) uses :func:`raw_store`.
    """

    def __init__(self, store: EventStore) -> None:
        self.raw = raw_store(store)
        self.url_for_display = self.raw.url_for_display

    @classmethod
    def of(cls, store: EventStore) -> NamedSessions:
        return store if isinstance(store, NamedSessions) else cls(store)

    def stream_of(self, name: str) -> str:
        return resolve_stream(self.raw, name)

    def first_event(self, stream: str) -> tuple[int, str, dict[str, Any]] | None:
        return self.raw.first_event(stream)

    # Reads take a session NAME (the port's parameter is a stream; a name is resolved to one first).
    def read(self, name: str, start: int = 1, stop: int | None = None) -> Iterator[RecordedEvent]:
        return read(self.raw, self.stream_of(name), start, stop)

    def read_fields(self, name: str, start: int = 1, stop: int | None = None
                    ) -> Iterator[tuple[int, str, dict[str, Any]]]:
        return read_fields(self.raw, self.stream_of(name), start, stop)

    def read_decoded(self, name: str, start: int = 1, stop: int | None = None) -> Iterator[DecodedEvent]:
        return read_decoded(self.raw, self.stream_of(name), start, stop)

    def last_seq(self, name: str) -> int:
        return self.raw.last_seq(self.stream_of(name))

    def records(self, name: str, start: int = 1, stop: int | None = None) -> Iterator[list[RawRecord]]:
        """The raw records of the name's own stream (a fork's inherited ones are its source's)."""
        return self.raw.records(self.stream_of(name), start, stop)

    def link_at(self, name: str, seq: int) -> bytes | None:
        """The chain link of the record that holds event ``seq`` of the session, through its forks."""
        for segment in lineage(self.raw, self.stream_of(name)):
            if segment.first <= seq and (segment.last is None or seq <= segment.last):
                return self.raw.link_at(segment.stream, seq)
        return None

    def head_link(self, name: str) -> bytes | None:
        return self.raw.head_link(self.stream_of(name))

    # Writes name streams already.
    def append(self, events: Any, *, fork_start: bool = False) -> None:
        self.raw.append(events, fork_start=fork_start)

    def append_drafts(self, stream: str, first: int, cause: int, recorded_at: float, drafts: Any,
                      *, fork_start: bool = False) -> None:
        self.raw.append_drafts(stream, first, cause, recorded_at, drafts, fork_start=fork_start)

    def append_records(self, groups: Any, *, fork_start: bool = False) -> None:
        self.raw.append_records(groups, fork_start=fork_start)

    def sessions(self) -> Any:
        return self.raw.sessions()

    def close(self) -> None:
        self.raw.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)


def raw_store(store: EventStore) -> EventStore:
    """The underlying store of a :class:`NamedSessions` view (or the store itself)."""
    return store.raw if isinstance(store, NamedSessions) else store


def link_at(store: EventStore, name: str, seq: int) -> str | None:
    """The chain link (hex) of the record that holds event ``seq`` of the session ``name`` (through forks).

    Images carry it, so an image can be checked against the log it came from.
    """
    link = NamedSessions.of(store).link_at(name, seq)
    return link.hex() if link else None
