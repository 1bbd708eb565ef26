"""The storage port: what the rest of tapevm needs from an event store.

One implementation (:class:`tapevm.infrastructure.stores.event_store.RecorderEventStore`)
serves every backend by delegating to an eventsourcing application recorder;
the backends differ only in how the recorder and the backend object are built
(``stores.sqlite``, ``stores.postgres``).

Every method that reads or writes takes a *stream* id (what records are stored
under), never a user's session name: names resolve to streams in
``infrastructure.stores.named_sessions``, and a fork is read through its
sources by ``domain.lineage``, both over this port.

The read path, in full (each reader checks what it decodes):

* ``read`` (the one every store must implement): :class:`RecordedEvent`
  models, for code that keeps events (replay's comparison, export);
* ``read_decoded``: ``(seq, type, fields, cause, ms)`` without models, the fast
  path for scans (blame, the checkpoint follower);
* ``read_fields``: its first three, the fast path for folding a state;
* ``first_event``: one indexed read, whether a stream is a fork;
* ``last_seq`` and ``sessions``: heads without reading events;
* ``records``, ``link_at`` and ``head_link``: the raw records and their chain
  links, undecoded, for the integrity check and images (which carry a link);
* ``event_places``: events with their records' links, and a CorruptRecord if a
  record up to them was deleted: what binds a checkpoint to its stream and its events.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, NamedTuple, Protocol, Self

from tapevm.domain.content import ContentSource
from tapevm.domain.events import Draft, RecordedEvent, event_of

# (seq, type name, fields at the current schema version, cause, recorded_at in ms)
DecodedEvent = tuple[int, str, dict[str, Any], int, int]
_SEQ_TYPE_FIELDS = itemgetter(0, 1, 2)  # a DecodedEvent's (seq, type name, fields)


class EventPlace(NamedTuple):
    """One event of a stream where the log holds it: what a checkpoint ending at it is sealed with.

    ``link`` is the chain link of the stream's record holding the event (None: a store that keeps
    no records, or a record written before the chain), which chains over the stream id and every
    record before it.  A record deleted before it is not in the place: the store that keeps records
    refuses to hand out places past a hole (``stores/records/deleted_records.py``).
    """

    type_name: str
    fields: dict[str, Any]
    link: bytes | None
# One stored commit record, undecoded: (its first event number, its topic, its bytes).
RawRecord = tuple[int, str, bytes]


@dataclass(frozen=True, slots=True)
class SessionHead:
    """A stream as the store sees it: its id (``session``), last event number and stored bytes."""

    session: str
    last_seq: int
    stored_bytes: int


class EventStore(ABC):
    """An append-only store of per-stream event logs.

    Contracts: ``append`` is atomic (all of its events are stored or none);
    event numbers in a stream are 1-based and gapless; two appends at the same
    event number never both succeed (the second raises ConflictError); reads
    see only committed appends.
    """

    url_for_display: str

    @abstractmethod
    def append(self, events: Sequence[RecordedEvent], *, fork_start: bool = False) -> None:
        """Store ``events`` (one stream, consecutive numbers after its head) atomically.

        ``fork_start``: an EMPTY stream may begin at ``events[0].seq`` instead of 1
        (a fork's stream starts at its fork point + 1; its prefix is read from its source).
        """

    def append_drafts(self, stream: str, first: int, cause: int, recorded_at: float, drafts: Sequence[Draft],
                      *, fork_start: bool = False) -> None:
        """Store ``drafts`` as events ``first..`` of ``stream``, all with ``cause`` and ``recorded_at``.

        Same contract as ``append``; the session's write path uses it so that a
        form's events need not be models.  This default validates each draft
        into its model and calls ``append`` (an in-memory store that compares
        models, e.g. replay's, sees exactly what it always saw); the recorder
        store encodes the drafts directly.
        """
        events = [RecordedEvent(stream, first + i, cause, recorded_at, event_of(d)) for i, d in enumerate(drafts)]
        if fork_start:
            self.append(events, fork_start=True)
        else:
            self.append(events)

    def append_records(self, groups: Sequence[Sequence[RecordedEvent]], *, fork_start: bool = False) -> None:
        """Store the groups' events (consecutive, in order) atomically, each group as its own record
        where the store keeps records: a reader of one group does not decode the others (``tape
        image load`` keeps its small SessionStarted apart from the image's content).  By default
        one ``append`` of them all: the same events, the same atomicity."""
        self.append([e for g in groups for e in g], fork_start=fork_start)

    @abstractmethod
    def read(self, stream: str, start: int = 1, stop: int | None = None) -> Iterator[RecordedEvent]:
        """Events of ``stream`` with ``start <= seq <= stop``, in order, checked and decoded."""

    def read_decoded(self, stream: str, start: int = 1, stop: int | None = None) -> Iterator[DecodedEvent]:
        """Like ``read`` but yields ``(seq, type name, fields, cause, time in ms)`` without building models:
        the fast path for scans that explain events (blame).  Fields are as stored, not validated: check
        what you use.  This default derives them from ``read``; a store that keeps records decodes them
        directly."""
        for r in self.read(stream, start, stop):
            yield r.seq, r.event.type_name, r.event.__dict__, r.cause, int(r.recorded_at * 1000)

    def read_fields(self, stream: str, start: int = 1, stop: int | None = None) -> Iterator[tuple[int, str, dict[str, Any]]]:
        """``read_decoded``'s first three, ``(seq, type name, fields)``: the fast path for folding."""
        return map(_SEQ_TYPE_FIELDS, self.read_decoded(stream, start, stop))

    def first_event(self, stream: str) -> tuple[int, str, dict[str, Any]] | None:
        """``(seq, type, fields)`` of the first event stored under ``stream``, or None.

        Lineage asks it whether a stream is a fork (a fork's stream begins with
        ``SessionForked``).  This default answers None: a store that keeps no
        forks (the in-memory ones replay and tests use) needs nothing more.
        """
        return None

    def records(self, stream: str, start: int = 1, stop: int | None = None) -> Iterator[list[RawRecord]]:
        """Pages of the raw records holding events ``start..stop`` of ``stream``, in order, undecoded and
        unchecked (the first may begin before ``start``): the integrity check reads these, trusting
        nothing in them.  This default yields none: a store that keeps no records has none to check."""
        return iter(())

    def event_places(self, stream: str, seqs: Sequence[int]) -> list[EventPlace | None]:
        """Events ``seqs`` of ``stream``'s own records, each with its record's link (None: no such
        event); a CorruptRecord where a record up to them was deleted.  This default reads the events only (a store that keeps no records has no link)."""
        places: list[EventPlace | None] = []
        for seq in seqs:
            found = [EventPlace(t, f, None) for n, t, f in self.read_fields(stream, seq, seq) if n == seq]
            places.append(found[0] if found else None)
        return places

    def link_at(self, stream: str, seq: int) -> bytes | None:
        """The chain link of ``stream``'s own record holding event ``seq`` (None: no such record, or one
        written before the chain).  This default: None (a store that keeps no records)."""
        return None

    def head_link(self, stream: str) -> bytes | None:
        """The chain link of ``stream``'s last record (None without one): what an image or backup carries
        to prove it matches its source."""
        head = self.last_seq(stream)
        return self.link_at(stream, head) if head else None

    @abstractmethod
    def last_seq(self, stream: str) -> int:
        """The head event number of ``stream`` (0 when it has none)."""

    @abstractmethod
    def sessions(self) -> list[SessionHead]:
        """Every stream with at least one event, by id."""

    @abstractmethod
    def close(self) -> None:
        """Release connections; the store may not be used afterwards."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- checkpoints ---------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CheckpointMeta:
    """One stored checkpoint of a stream, without its payload (``session`` is the stream id: the
    tables' column name).

    ``kind`` is ``"I"`` (a keyframe: the whole state), ``"D"`` (a delta keyframe) or ``"P"`` (the
    delta from keyframe ``base`` plus the content added since it).  ``events_hash``
    chains the digests (xxh3 of type and fields) of events 1..``seq``; ``tip`` is the
    checkpoint's *seal*, which binds it to the stream, event ``seq`` and the records up to
    the one holding it (``projections/checkpoints/seal.py``); ``payload_hash`` is the
    xxh3-64 of the seal and the compressed payload; ``projection_version`` is the code that wrote it.  ``pack`` is
    0 for a checkpoint stored in a row of its own, else the event number of the first
    P-frame of the *pack* it is stored in (several P-frames compressed together, one
    row: ``payload_hash`` and ``stored_size`` are then the pack's hash and a share of
    its size).
    """

    session: str
    seq: int
    kind: str
    base: int
    projection_version: str
    events_hash: str
    tip: str
    payload_hash: str
    raw_size: int
    stored_size: int
    created_at: float
    pack: int = 0


def packed_metas(frames: Sequence[CheckpointMeta], payload_hash: str, size: int) -> list[CheckpointMeta]:
    """The metas of P-frames stored as one pack of ``size`` bytes: each with the pack's hash and a share of
    its size (by raw size; the shares add up to the pack's).  What a store reads back for a pack, and
    what a writer that just stored one takes its frames' metas to be."""
    raw_total = sum(m.raw_size for m in frames) or 1
    metas, shared = [], 0
    for i, m in enumerate(frames):
        share = size - shared if i == len(frames) - 1 else size * m.raw_size // raw_total
        shared += share
        metas.append(dataclasses.replace(m, payload_hash=payload_hash, stored_size=share, pack=frames[0].seq,
                                         created_at=frames[0].created_at))
    return metas


class CheckpointStore(ABC):
    """A disposable cache of folded states, kept in the same database as the events.

    Nothing here is ever trusted: readers check every checkpoint against the
    code version, its payload checksum and the events it covers, and drop it
    on any mismatch.  Writes are separate transactions from event appends.
    """

    #: Bytes a pack's row holds for each of its frames besides the payload (its index entry): a writer
    #: counts them when it decides how many frames fit a row.
    pack_index_bytes: int = 0

    @abstractmethod
    def put(self, meta: CheckpointMeta, payload: bytes) -> None:
        """Store (or replace) the checkpoint of ``meta.session`` at ``meta.seq``."""

    @abstractmethod
    def metas(self, stream: str) -> list[CheckpointMeta]:
        """The stream's checkpoints by event number."""

    @abstractmethod
    def payload(self, stream: str, seq: int, pack: bool = False) -> bytes | None:
        """The stored payload of one checkpoint of ``stream`` in a row of its own, or (``pack``) of the
        pack starting at ``seq`` (the metas of its frames say ``pack=seq``); None if it is gone."""

    @abstractmethod
    def put_pack(self, frames: Sequence[CheckpointMeta], payload: bytes) -> bool:
        """Store P-frames of one stream, keyframe and projection version (``frames``, by event number,
        each stored in a row of its own until now) as one pack of ``payload``, and drop their rows, in one
        transaction; False (nothing changed) when this store cannot do it now."""

    @abstractmethod
    def delete(self, stream: str, seqs: Sequence[int] | None = None, packs: Sequence[int] = ()) -> None:
        """Drop checkpoints of ``stream``: those in rows of their own at ``seqs`` (None: all, packs too), and
        the packs starting at ``packs`` (a pack goes whole).  Kept apart, so that dropping a row a reader
        remembers (packed since by another writer) never drops the pack."""

    @abstractmethod
    def get_setting(self, key: str) -> str | None:
        """A per-store checkpoint setting (``interval``...)."""

    @abstractmethod
    def set_setting(self, key: str, value: str) -> None: ...


class LineageContentPort(Protocol):
    """A session's content as its lineage stores it, found on first touch (the store's content index).

    What lets a checkpoint carry roots and no content: before a checkpoint at event ``seq`` is
    stored, :meth:`cover` makes sure every node and blob of events ``1..seq`` can be found through
    ``nodes`` and ``blobs``; a state read from that checkpoint gets them as its tables' sources.
    """

    @property
    def nodes(self) -> ContentSource:
        """Where a state's value nodes are found."""
        ...

    @property
    def blobs(self) -> ContentSource:
        """Where a state's file blobs are found."""
        ...

    def cover(self, seq: int) -> None: ...

    def note(self, first: int, drafts: Sequence[Draft]) -> None:
        """The session appended ``drafts`` as events ``first..`` (their content is indexed from them)."""
        ...

    def counts(self, seq: int) -> tuple[int, int]:
        """How many value nodes and blobs the session's events ``1..seq`` store."""
        ...
