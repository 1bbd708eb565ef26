"""The event store: session logs on top of an eventsourcing application recorder.

Each session is one stream (``originator_id`` = stream id).  An append is one
commit record (see :mod:`tapevm.infrastructure.stores.records.record_codec`)
inserted through the recorder's ``insert_events`` in one transaction, its
``originator_version`` the number of its first event, its header chained to
the record before (:mod:`~tapevm.infrastructure.stores.records.chain_link`).
Reads page through the stream's records, starting at the record that holds
the first wanted event, and check each record's checksum as they decode it.

The store holds its database's backend object (``backend``, built by the
factory), which tapevm's own tables and followers ask for the dialect.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import Any, Protocol

from eventsourcing.persistence import IntegrityError, PersistenceError, StoredEvent

from tapevm.domain.errors import ConflictError, CorruptRecord, HistoryIsArchived, StoreError, TapeError
from tapevm.domain.events import Draft, RecordedEvent
from tapevm.domain.lineage import ARCHIVED
from tapevm.domain.ports import DecodedEvent, EventPlace, EventStore, RawRecord, SessionHead
from tapevm.infrastructure.stores.backend import Backend
from tapevm.infrastructure.stores.records.chain_keying import refuse_keyless_into_keyed
from tapevm.infrastructure.stores.records.chain_link import GENESIS, compute_link
from tapevm.infrastructure.stores.records.record_codec import Linker, RecordCodec, record_link
from tapevm.infrastructure.stores.records.stream_head import HeadMismatch, LeaseFence
from tapevm.infrastructure.stores.side_tables import check_writer_key

READ_PAGE = 20_000


class TapeRecorder(Protocol):
    """What the store needs of a backend's recorder beyond the library's interface."""

    def insert_events(self, stored_events: Sequence[Any], **kwargs: Any) -> Any: ...
    def head(self, stream: str) -> int: ...
    def session_heads(self) -> list[tuple[str, int, int]]: ...
    def select_rows(self, stream: str, gt: int, lte: int | None, limit: int) -> list[tuple[int, str, bytes]]: ...
    def record_start(self, stream: str, seq: int) -> int | None: ...
    def record_starts(self, stream: str, seqs: Sequence[int]) -> list[int | None]: ...


def _not_contiguous(stream: str, expected: int, first: int) -> CorruptRecord:
    """The defect where one record does not begin right after the one before it (a record deleted,
    or an event number edited by hand): every reader stops there, as at a damaged record."""
    if first > expected:
        what = f"event {expected} is missing" if first == expected + 1 else f"events {expected}..{first - 1} are missing"
        return CorruptRecord(f"session {stream!r}: {what} from the store (a record was deleted or lost); "
                             f"'tape verify -i {stream}' reports the damage")
    return CorruptRecord(f"session {stream!r}: the record of events from {first} overlaps the one before it "
                         f"(which ends at event {expected - 1}); 'tape verify -i {stream}' reports the damage")


def first_line(error: BaseException) -> str:
    """An error's first line: the server's CONTEXT/DETAIL lines do not belong in a one-line message."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


class RecorderEventStore(EventStore):
    """The store over one recorder; ``backend`` is its database's (None: a bare recorder, no side tables).

    ``chain_key``: the key the chain links are computed with (``TAPE_CHAIN_KEY``, read by the factory
    from the settings once; None: plain links).
    """

    def __init__(self, recorder: TapeRecorder, url_for_display: str, closer: Any = None, *,
                 backend: Backend | None = None, chain_key: bytes | None = None) -> None:
        self.recorder = recorder
        self.backend = backend
        self.codec = RecordCodec()
        self.url_for_display = url_for_display
        self._closer = closer
        self.chain_key = chain_key
        # per stream, (next event number, link of the last record): an append needs no read
        self._links: dict[str, tuple[int, bytes]] = {}
        # per stream, the fence of the writer lease held through this store (see ``hold_lease``)
        self._fences: dict[str, LeaseFence] = {}
        # whether this store's key was checked against the store's keyed marker (records/chain_keying.py)
        self._key_checked = backend is None

    def hold_lease(self, stream: str, fence: LeaseFence) -> None:
        """Fence every later append to ``stream`` with ``fence``, until ``release_lease``.

        The writer lease (``leases.py``) registers its token here when it takes the lease; each
        insert then proves, in its own transaction, that the lease row still holds it, so a writer
        that lost its lease while paused writes nothing (``LeaseLost``).  Appends to streams without
        a lease (a fork's first record, cooperating writers with ``lease=False``) are not fenced.
        """
        self._fences[stream] = fence

    def release_lease(self, stream: str, token: str) -> None:
        """Stop fencing ``stream``'s appends with the lease ``token`` (a later lease's fence stays)."""
        if (fence := self._fences.get(stream)) is not None and fence.token == token:
            del self._fences[stream]

    def append(self, events: Sequence[RecordedEvent], *, fork_start: bool = False) -> None:
        self.append_records([events], fork_start=fork_start)

    def append_records(self, groups: Sequence[Sequence[RecordedEvent]], *, fork_start: bool = False) -> None:
        """Each group one commit record (chained in order), all in ONE transaction."""
        groups = [g for g in groups if g]
        if not groups:
            return
        stream = groups[0][0].session
        first = groups[0][0].seq
        events = [e for g in groups for e in g]
        for i, e in enumerate(events):
            if e.session != stream or e.seq != first + i:
                raise ValueError("append takes consecutive events of one session")
        self._insert(stream, first, len(events),
                     [partial(self.codec.encode, group) for group in groups], fork_start)

    def append_drafts(self, stream: str, first: int, cause: int, recorded_at: float, drafts: Sequence[Draft],
                      *, fork_start: bool = False) -> None:
        if not drafts:
            return
        self._insert(stream, first, len(drafts),
                     [lambda link: self.codec.encode_drafts(stream, first, cause, recorded_at, drafts, link)],
                     fork_start)

    def _insert(self, stream: str, first: int, count: int, encoders: Sequence[Callable[[Linker], StoredEvent]],
                fork_start: bool) -> None:
        """Encode commit records (each chained to the one before) and insert them in one transaction.

        Before the first append through this store, its key is checked against the store's keyed marker
        (a writer without the key, or with another one, is refused before it writes: its links would
        fail every later verify, and records are never rewritten); a store a keyed writer writes to
        first is marked keyed.
        """
        if not self._key_checked:
            check_writer_key(self, self.chain_key)
            self._key_checked = True
        prev = self._prev_link(stream, first)
        key = self.chain_key
        stored_records = []
        for encode in encoders:
            def link(stream: str, seq: int, topic: str, body: bytes, prev: bytes = prev) -> tuple[bytes, bool]:
                return compute_link(prev, stream, seq, topic, body, key), key is not None

            stored = encode(link)
            stored_records.append(stored)
            prev = record_link(stored.state) or GENESIS
        try:
            fence = self._fences.get(stream)
            if fence is None:
                self.recorder.insert_events(stored_records, fork_start=fork_start)
            else:
                self.recorder.insert_events(stored_records, fork_start=fork_start, lease=fence)
        except HeadMismatch as e:
            self._links.pop(stream, None)
            raise ConflictError(str(e)) from e
        except IntegrityError as e:
            self._links.pop(stream, None)
            raise ConflictError(
                f"session {stream!r} already has an event {first}: another writer appended first; "
                "reopen the session to continue from its new head"
            ) from e
        except TapeError:
            self._links.pop(stream, None)
            raise
        except PersistenceError as e:
            self._links.pop(stream, None)
            raise StoreError(f"could not write to {self.url_for_display}: {first_line(e)}") from e
        self._links[stream] = (first + count, prev)

    def first_event(self, stream: str) -> tuple[int, str, dict[str, Any]] | None:
        """The first record's first event (one indexed read of one row)."""
        rows = self.recorder.select_rows(stream, 0, None, 1)
        if not rows:
            return None
        version, topic, state = rows[0]
        seq, type_name, fields, _, _ = self.codec.decode_fields(stream, version, topic, state)[0]
        return seq, type_name, fields

    def _prev_link(self, stream: str, first: int) -> bytes:
        """The link of the record before event ``first`` (cached after each append; read once otherwise)."""
        cached = self._links.get(stream)
        if cached is not None and cached[0] == first:
            return cached[1]
        if first == 1:
            return GENESIS
        for rows in self.records(stream, first - 1, first - 1):
            state = rows[-1][2]
            if state:  # (a damaged record is the head check's and the reader's to report)
                refuse_keyless_into_keyed(stream, state[0], self.chain_key)
            return record_link(state) or GENESIS
        return GENESIS

    def event_places(self, stream: str, seqs: Sequence[int]) -> list[EventPlace | None]:
        """Each record's start (an index seek each, after one look-up for a deleted record: a hole is a
        CorruptRecord), then each record, decoded and checked, as reading each event costs."""
        if not seqs:
            return []
        try:
            starts = self.recorder.record_starts(stream, seqs)
            rows = [[] if first is None else self.recorder.select_rows(stream, first - 1, seq, 1)
                    for seq, first in zip(seqs, starts)]
        except PersistenceError as e:
            raise StoreError(f"could not read from {self.url_for_display}: {first_line(e)}") from e
        return [self._place(stream, seq, found) for seq, found in zip(seqs, rows)]

    def _place(self, stream: str, seq: int, rows: list[tuple[int, str, bytes]]) -> EventPlace | None:
        """Event ``seq`` of the record in ``rows`` (if it holds it), with the record's link."""
        if not rows:
            return None
        version, topic, state = rows[0]
        for n, type_name, fields, _, _ in self.codec.decode_fields(stream, version, topic, state):
            if n == seq:
                return EventPlace(type_name, fields, record_link(state))
        return None

    def link_at(self, stream: str, seq: int) -> bytes | None:
        for rows in self.records(stream, seq, seq):
            return record_link(rows[-1][2])
        return None

    def records(self, stream: str, start: int = 1, stop: int | None = None) -> Iterator[list[RawRecord]]:
        start = max(start, 1)
        if stop is not None and stop < start:
            return
        try:
            first = self.recorder.record_start(stream, start)
        except PersistenceError as e:
            raise StoreError(f"could not read from {self.url_for_display}: {first_line(e)}") from e
        after = (first if first is not None else start) - 1
        while stop is None or after < stop:
            try:
                rows = self.recorder.select_rows(stream, after, stop, READ_PAGE)
            except PersistenceError as e:
                raise StoreError(f"could not read from {self.url_for_display}: {first_line(e)}") from e
            if rows:
                yield rows
            if len(rows) < READ_PAGE:
                return
            after = rows[-1][0]

    def _check_not_archived(self, stream: str, start: int, stop: int | None,
                            first: tuple[str, dict[str, Any]] | None) -> None:
        """Refuse (HistoryIsArchived) a read of events ``start..stop`` that the stream's archive marker
        (its first event, ``first``; read here when None) stands for but cannot give: a read that ends
        before the marker's last event.  A read through the marker (the fold) is the archived history's."""
        if stop is None:
            return
        if first is None:
            found = self.first_event(stream)
            first = None if found is None else (found[1], found[2])
        if first is None or first[0] != ARCHIVED:
            return
        before = int(first[1]["before"])
        if stop < before - 1:
            raise HistoryIsArchived(f"events 1..{before - 1} of session {stream!r} are archived in "
                                    f"{first[1]['file']!r} ('tape archive'): read event {stop} from that file "
                                    "(--archive FILE)")

    def read(self, stream: str, start: int = 1, stop: int | None = None) -> Iterator[RecordedEvent]:
        decode = self.codec.decode
        last = stop if stop is not None else float("inf")
        expected = 0
        for rows in self.records(stream, start, stop):
            for first, topic, state in rows:
                events = decode(stream, first, topic, state)  # (checks the record's own numbers first)
                if events[0].seq != expected and expected:
                    raise _not_contiguous(stream, expected, events[0].seq)
                if not expected and events[0].seq > start:  # (a fork's stream, or an archived one)
                    self._check_not_archived(stream, start, stop, (events[0].event.type_name,
                                                                   events[0].event.__dict__))
                for r in events:
                    if start <= r.seq <= last:
                        yield r
                expected = events[-1].seq + 1
        if not expected:
            self._check_not_archived(stream, start, stop, None)

    def read_decoded(self, stream: str, start: int = 1, stop: int | None = None) -> Iterator[DecodedEvent]:
        decode = self.codec.decode_fields
        last = stop if stop is not None else float("inf")
        expected = 0
        for rows in self.records(stream, start, stop):
            for first, topic, state in rows:
                events = decode(stream, first, topic, state)  # (checks the record's own numbers first)
                if events[0][0] != expected and expected:
                    raise _not_contiguous(stream, expected, events[0][0])
                if not expected and events[0][0] > start:  # (a fork's stream, or an archived one)
                    self._check_not_archived(stream, start, stop, (events[0][1], events[0][2]))
                for event in events:
                    if start <= event[0] <= last:
                        yield event
                expected = events[-1][0] + 1
        if not expected:
            self._check_not_archived(stream, start, stop, None)

    def last_seq(self, stream: str) -> int:
        try:
            return self.recorder.head(stream)
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
