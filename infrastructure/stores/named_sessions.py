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
from tapevm.domain.lineage import read, read_decoded, read_fields
from tapevm.domain.ports import DecodedEvent, EventStore
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

    def read(self, session: str, start: int = 1, stop: int | None = None) -> Iterator[RecordedEvent]:
        return read(self.raw, self.stream_of(session), start, stop)

    def read_fields(self, session: str, start: int = 1, stop: int | None = None
                    ) -> Iterator[tuple[int, str, dict[str, Any]]]:
        return read_fields(self.raw, self.stream_of(session), start, stop)

    def read_decoded(self, session: str, start: int = 1, stop: int | None = None) -> Iterator[DecodedEvent]:
        return read_decoded(self.raw, self.stream_of(session), start, stop)

    def last_seq(self, session: str) -> int:
        return self.raw.last_seq(self.stream_of(session))

    def head_link(self, session: str) -> bytes | None:
        return self.raw.head_link(self.stream_of(session))  # type: ignore[attr-defined,no-any-return]

    def append(self, events: Any, *, fork_start: bool = False) -> None:
        self.raw.append(events, fork_start=fork_start)

    def append_drafts(self, session: str, first: int, cause: int, recorded_at: float, drafts: Any,
                      *, fork_start: bool = False) -> None:
        self.raw.append_drafts(session, first, cause, recorded_at, drafts, fork_start=fork_start)

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
