"""Reading a session through its forks: one reader for every consumer.

A fork's stream begins with ``SessionForked(source, at)`` at event ``at + 1``;
events 1..``at`` live in the source stream (which may itself be a fork).  The
*lineage* of a stream is the list of segments ``(stream, first, last)`` whose
concatenation is the session's log.  Nothing is copied, so a fork costs one
record; reading a fork costs one extra lookup per ancestor.

Pure logic over the :class:`~tapevm.domain.ports.EventStore` port (its
``first_event`` tells a fork's origin), so projections read forks the way the
session service does.  Session *names* are resolved to streams by
``infrastructure.stores.named_sessions``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tapevm.domain.errors import CorruptRecord
from tapevm.domain.events import RecordedEvent
from tapevm.domain.ports import DecodedEvent, EventStore

FORKED = "SessionForked"
ARCHIVED = "HistoryArchived"  # the first event of a stream whose earlier events were archived: a root
MAX_DEPTH = 10_000


@dataclass(frozen=True)
class Segment:
    """Events ``first..last`` of the session are stored in ``stream`` (``last`` None: to its head)."""

    stream: str
    first: int
    last: int | None


def fork_origin(store: EventStore, stream: str) -> tuple[str, int] | None:
    """(source stream, fork point) when ``stream`` is a fork, else None (one indexed read)."""
    first = store.first_event(stream)
    if first is None or first[1] != FORKED:
        if first is not None and first[0] != 1 and first[1] != ARCHIVED:
            raise CorruptRecord(f"stream {stream!r} starts at event {first[0]} without a SessionForked event")
        return None
    fields = first[2]
    return str(fields["source"]), int(fields["at"])


def lineage(store: EventStore, stream: str) -> list[Segment]:
    """The segments of ``stream``'s log, oldest first."""
    current, limit = stream, None
    segments: list[Segment] = []
    for _ in range(MAX_DEPTH):
        origin = fork_origin(store, current)
        if origin is None:
            segments.append(Segment(current, 1, limit))
            break
        source, at = origin
        if limit is None or at + 1 <= limit:
            segments.append(Segment(current, at + 1, limit))
        current, limit = source, at if limit is None else min(at, limit)
    else:  # pragma: no cover - a cycle would need forged records
        raise CorruptRecord(f"stream {stream!r}: fork chain deeper than {MAX_DEPTH}")
    segments.reverse()
    return segments


def _clip(segments: list[Segment], start: int, stop: int | None) -> Iterator[tuple[str, int, int | None]]:
    for seg in segments:
        lo = max(seg.first, start)
        hi = seg.last if stop is None else (stop if seg.last is None else min(seg.last, stop))
        if hi is not None and hi < lo:
            continue
        yield seg.stream, lo, hi


def read_fields(store: EventStore, stream: str, start: int = 1, stop: int | None = None,
                segments: list[Segment] | None = None) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """``(seq, type, fields)`` of the session's events ``start..stop`` across its lineage."""
    for s, lo, hi in _clip(segments if segments is not None else lineage(store, stream), start, stop):
        yield from store.read_fields(s, lo, hi)


def read_decoded(store: EventStore, stream: str, start: int = 1, stop: int | None = None,
                 segments: list[Segment] | None = None) -> Iterator[DecodedEvent]:
    """``read_fields`` plus each event's cause and time, across the lineage (see ports.read_decoded)."""
    for s, lo, hi in _clip(segments if segments is not None else lineage(store, stream), start, stop):
        yield from store.read_decoded(s, lo, hi)


def read(store: EventStore, stream: str, start: int = 1, stop: int | None = None,
         segments: list[Segment] | None = None) -> Iterator[RecordedEvent]:
    """Recorded events ``start..stop`` across the lineage (inherited ones carry their source's stream id)."""
    for s, lo, hi in _clip(segments if segments is not None else lineage(store, stream), start, stop):
        yield from store.read(s, lo, hi)


def common_ancestor(store: EventStore, a: str, b: str) -> int:
    """The last event number the two sessions share by lineage (0 when unrelated).

    Two sessions share event ``n`` when both read it from the same stream.
    """
    sa, sb = lineage(store, a), lineage(store, b)
    shared = 0
    for x, y in zip(sa, sb, strict=False):
        if x.stream != y.stream or x.first != y.first:
            break
        hx = x.last if x.last is not None else store.last_seq(x.stream)
        hy = y.last if y.last is not None else store.last_seq(y.stream)
        shared = min(hx, hy)
        if hx != hy:
            break
    return shared


def started_vm_version(store: EventStore, segments: list[Segment]) -> int:
    """The VM version the session whose lineage is ``segments`` started at (its root's SessionStarted;
    1 when that event is not there or says none): how its values are encoded for its whole life."""
    first = store.first_event(segments[0].stream) if segments else None
    if first is None or first[1] not in ("SessionStarted", ARCHIVED):  # (an archive marker carries it)
        return 1
    version = first[2].get("vm_version", 1)
    return version if type(version) is int else 1
