"""The event store: session logs on top of an eventsourcing application recorder.

Each session is one stream (``originator_id`` = session id).  An append is one
commit record (see :mod:`tapevm.infrastructure.stores.record_codec`) inserted through the
recorder's ``insert_events`` in one transaction, its ``originator_version``
the number of its first event.  Reads page through the stream's records,
starting at the record that holds the first wanted event, and check each
record's checksum as they decode it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from functools import partial
from operator import itemgetter
from typing import Any, Protocol

from eventsourcing.persistence import IntegrityError, PersistenceError, StoredEvent

from tapevm.domain.errors import ConflictError, CorruptRecord, StoreError, TapeError
from tapevm.domain.events import Draft, RecordedEvent
from tapevm.infrastructure.stores.record_codec import Linker, RecordCodec, record_link
from tapevm.infrastructure.stores.hash_chain import GENESIS, chain_key_from_environment, compute_link
from tapevm.domain.ports import DecodedEvent, EventStore, SessionHead
from tapevm.infrastructure.stores.stream_head import HeadMismatch

READ_PAGE = 20_000
_SEQ_TYPE_FIELDS = itemgetter(0, 1, 2)  # a DecodedEvent as read_fields yields it


class TapeRecorder(Protocol):
    """What the store needs of a backend's recorder beyond the library's interface."""

    def insert_events(self, stored_events: Sequence[Any], **kwargs: Any) -> Any: ...
    def head(self, session: str) -> int: ...
    def session_heads(self) -> list[tuple[str, int, int]]: ...
    def select_rows(self, session: str, gt: int, lte: int | None, limit: int) -> list[tuple[int, str, bytes]]: ...
    def record_start(self, session: str, seq: int) -> int | None: ...


# The columns of the library's events table that tapevm reads and writes, on both backends (a
# PostgreSQL table also has ``notification_id``, its global position; SQLite uses the rowid).
EVENT_COLUMNS = ("originator_id", "originator_version", "topic", "state")


def _not_contiguous(session: str, expected: int, first: int) -> CorruptRecord:
    """The defect where one record does not begin right after the one before it (a record deleted,
    or an event number edited by hand): every reader stops there, as at a damaged record."""
    if first > expected:
        what = f"event {expected} is missing" if first == expected + 1 else f"events {expected}..{first - 1} are missing"
        return CorruptRecord(f"session {session!r}: {what} from the store (a record was deleted or lost); "
                             f"'tape verify -i {session}' reports the damage")
    return CorruptRecord(f"session {session!r}: the record of events from {first} overlaps the one before it "
                         f"(which ends at event {expected - 1}); 'tape verify -i {session}' reports the damage")


def first_line(error: BaseException) -> str:
    """An error's first line: the server's CONTEXT/DETAIL lines do not belong in a one-line message."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


class RecorderEventStore(EventStore):
    def __init__(self, recorder: TapeRecorder, url_for_display: str, closer: Any = None) -> None:
        self.recorder = recorder
        self.codec = RecordCodec()
        self.url_for_display = url_for_display
        self._closer = closer
        # issue 5: hash chain (hash_chain.py): per session, (next event number, link of the last record)
        self.chain_key = chain_key_from_environment()
        self._links: dict[str, tuple[int, bytes]] = {}

    def append(self, events: Sequence[RecordedEvent], *, fork_start: bool = False) -> None:
        self.append_records([events], fork_start=fork_start)

    def append_records(self, groups: Sequence[Sequence[RecordedEvent]], *, fork_start: bool = False) -> None:
        """Each group one commit record (chained in order), all in ONE transaction."""
        groups = [g for g in groups if g]
        if not groups:
            return
        session = groups[0][0].session
        first = groups[0][0].seq
        events = [e for g in groups for e in g]
        for i, e in enumerate(events):
            if e.session != session or e.seq != first + i:
                raise ValueError("append takes consecutive events of one session")
        self._insert(session, first, len(events),
                     [partial(self.codec.encode, group) for group in groups], fork_start)

    def append_drafts(self, session: str, first: int, cause: int, recorded_at: float, drafts: Sequence[Draft],
                      *, fork_start: bool = False) -> None:
        if not drafts:
            return
        self._insert(session, first, len(drafts),
                     [lambda link: self.codec.encode_drafts(session, first, cause, recorded_at, drafts, link)],
                     fork_start)

    def _insert(self, session: str, first: int, count: int, encoders: Sequence[Callable[[Linker], StoredEvent]],
                fork_start: bool) -> None:
        """Encode commit records (each chained to the one before) and insert them in one transaction."""
        prev = self._prev_link(session, first)
        key = self.chain_key
        stored_records = []
        for encode in encoders:
            def link(stream: str, seq: int, topic: str, body: bytes, prev: bytes = prev) -> tuple[bytes, bool]:
                return compute_link(prev, stream, seq, topic, body, key), key is not None

            stored = encode(link)
            stored_records.append(stored)
            prev = record_link(stored.state) or GENESIS
        try:
            self.recorder.insert_events(stored_records, fork_start=fork_start)
        except HeadMismatch as e:
            self._links.pop(session, None)
            raise ConflictError(str(e)) from e
        except IntegrityError as e:
            self._links.pop(session, None)
            raise ConflictError(
                f"session {session!r} already has an event {first}: another writer appended first; "
                "reopen the session to continue from its new head"
            ) from e
        except TapeError:
            self._links.pop(session, None)
            raise
        except PersistenceError as e:
            self._links.pop(session, None)
            raise StoreError(f"could not write to {self.url_for_display}: {first_line(e)}") from e
        self._links[session] = (first + count, prev)

    def first_event(self, stream: str) -> tuple[int, str, dict[str, Any]] | None:
        """The first record's first event (one indexed read of one row)."""
        rows = self.recorder.select_rows(stream, 0, None, 1)
        if not rows:
            return None
        version, topic, state = rows[0]
        seq, type_name, fields, _, _ = self.codec.decode_fields(stream, version, topic, state)[0]
        return seq, type_name, fields

    def _prev_link(self, session: str, first: int) -> bytes:
        """The link of the record before event ``first`` (cached after each append; read once otherwise)."""
        cached = self._links.get(session)
        if cached is not None and cached[0] == first:
            return cached[1]
        if first == 1:
            return GENESIS
        return self._link_at(session, first - 1) or GENESIS

    def _link_at(self, session: str, seq: int) -> bytes | None:
        for rows in self._rows(session, seq, seq):
            return record_link(rows[-1][2])
        return None

    def head_link(self, session: str) -> bytes | None:
        """The chain link of the session's last record (None without one)."""
        head = self.last_seq(session)
        return self._link_at(session, head) if head else None

    def _rows(self, session: str, start: int, stop: int | None) -> Iterator[list[tuple[int, str, bytes]]]:
        """Pages of the records holding events ``start..stop`` (the first may begin before ``start``)."""
        start = max(start, 1)
        if stop is not None and stop < start:
            return
        try:
            first = self.recorder.record_start(session, start)
        except PersistenceError as e:
            raise StoreError(f"could not read from {self.url_for_display}: {first_line(e)}") from e
        after = (first if first is not None else start) - 1
        while stop is None or after < stop:
            try:
                rows = self.recorder.select_rows(session, after, stop, READ_PAGE)
            except PersistenceError as e:
                raise StoreError(f"could not read from {self.url_for_display}: {first_line(e)}") from e
            if rows:
                yield rows
            if len(rows) < READ_PAGE:
                return
            after = rows[-1][0]

    def read(self, session: str, start: int = 1, stop: int | None = None) -> Iterator[RecordedEvent]:
        decode = self.codec.decode
        last = stop if stop is not None else float("inf")
        expected = 0
        for rows in self._rows(session, start, stop):
            for first, topic, state in rows:
                events = decode(session, first, topic, state)  # (checks the record's own numbers first)
                if events[0].seq != expected and expected:
                    raise _not_contiguous(session, expected, events[0].seq)
                for r in events:
                    if start <= r.seq <= last:
                        yield r
                expected = events[-1].seq + 1

    def read_fields(self, session: str, start: int = 1, stop: int | None = None) -> Iterator[tuple[int, str, dict[str, Any]]]:
        return map(_SEQ_TYPE_FIELDS, self.read_decoded(session, start, stop))

    def read_decoded(self, session: str, start: int = 1, stop: int | None = None) -> Iterator[DecodedEvent]:
        decode = self.codec.decode_fields
        last = stop if stop is not None else float("inf")
        expected = 0
        for rows in self._rows(session, start, stop):
            for first, topic, state in rows:
                events = decode(session, first, topic, state)  # (checks the record's own numbers first)
                if events[0][0] != expected and expected:
                    raise _not_contiguous(session, expected, events[0][0])
                for event in events:
                    if start <= event[0] <= last:
                        yield event
                expected = events[-1][0] + 1

    def last_seq(self, session: str) -> int:
        try:
            return self.recorder.head(session)
        except PersistenceError as e:
            raise StoreError(f"could not read from {self.url_for_display}: {first_line(e)}") from e

    def sessions(self) -> list[SessionHead]:
        try:
            return [SessionHead(s, n, b) for s, n, b in self.recorder.session_heads()]
        except PersistenceError as e:
            raise StoreError(f"could not read from {self.url_for_display}: {first_line(e)}") from e

    def close(self) -> None:
        if self._closer is not None:
            self._closer()
            self._closer = None
