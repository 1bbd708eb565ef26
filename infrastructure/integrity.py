"""The tamper-evident log, checked: a session's commit records against their checksums and hash chain.

Every record carries a link chaining it to the one before (see
:mod:`tapevm.infrastructure.stores.records.chain_link`): altering, removing or
reordering any record breaks every later link, and with ``TAPE_CHAIN_KEY`` the
links are keyed, so someone without the key cannot rebuild a consistent chain.

The chain head (the last record's link) is what an image or a backup carries
to prove it matches its source: :func:`chain_head`.  A removed *tail* is only
detectable against such a head (``tape verify --head``).

:func:`verify_chain` reads the raw records through the store port (no JSON
decoding: the checksums and links vouch for the bodies) and reports the first
bad record.  It reads sessions by name (the registry) and knows where a
fork's own records begin (lineage), so it lives above the stores.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any, Protocol

import orjson
import xxhash

from tapevm.domain.errors import CorruptRecord, ImageError, UsageError
from tapevm.domain.lineage import Segment, lineage
from tapevm.domain.ports import EventStore, RawRecord
from tapevm.infrastructure.config import ENV_CHAIN_KEY
from tapevm.infrastructure.images.file_format import read_image
from tapevm.infrastructure.images.operations import verify as verify_image_file
from tapevm.infrastructure.lifecycle.archiving import archive_marker, archived_history, archived_state
from tapevm.infrastructure.session.service import Session, open_session
from tapevm.infrastructure.stores.named_sessions import NamedSessions
from tapevm.infrastructure.stores.records.chain_link import GENESIS
from tapevm.infrastructure.stores.records.record_codec import (
    HEADER_SIZE,
    KEYED,
    LINK_SIZE,
    LINKED,
    LINKED_HEADER_SIZE,
    RecordCodec,
    check_record_span,
    topic_event_count,
)
from tapevm.infrastructure.stores.side_tables import has_side_tables, read_marker
from tapevm.projections.state_codec import same_canonical_state

# A bad record, as the checks find it: (first event, last event or None, problem, message).
Finding = tuple[int, int | None, str, str]
UNTIL_LINKED = -1  # (see _check_records)
CHECKSUM_MISMATCH = "checksum mismatch: the record was altered, or moved from another position"
LINK_MISMATCH = "chain link mismatch: this record or the link before it was altered (the chain was rebuilt)"
TRUNCATED = "the record is truncated"


def chain_head(session: Session) -> str | None:
    """The session's chain head (hex link of its last record), or None if that record has no link."""
    return head_link(session.store, session.id)


def head_link(store: EventStore, name: str) -> str | None:
    """The chain head (hex) of the session called ``name``, or None."""
    link = NamedSessions.of(store).head_link(name)
    return link.hex() if link else None


@dataclass
class ChainReport:
    """The outcome of :func:`verify_chain`: ok, or the first bad record and what is wrong with it."""

    session: str
    ok: bool
    events: int = 0                 # events checked (through the last good record)
    records: int = 0
    head: str | None = None         # the last good link
    first_bad: int | None = None    # event number where the damage starts
    last_bad: int | None = None     # the end of the bad record's event range
    problem: str = ""               # altered | missing | reordered | unlinked | keyed | head
    message: str = ""
    unlinked: int = 0               # events in records written before the chain (not covered)
    unlinked_records: int = 0
    # (stream, first event, last event) of each part of the lineage checked: a fork's sources, then its own
    covered: list[tuple[str, int, int]] = field(default_factory=list)
    # (N, file) when events 1..N-1 were archived (tape archive): the live part was checked from its marker
    archived: tuple[int, str] | None = None

    def coverage(self) -> str:
        """What was checked, for a message: '' for a session read from its own stream alone."""
        if len(self.covered) < 2:
            return ""
        *sources, (_, first, last) = self.covered
        parts = [f"events {_span(a, b)} read from session {s!r}" for s, a, b in sources]
        return ", ".join([*parts, f"events {_span(first, last)} its own"])

    def as_json(self) -> dict[str, Any]:
        return {"session": self.session, "ok": self.ok, "events": self.events, "records": self.records,
                "head": self.head, "first_bad": self.first_bad, "last_bad": self.last_bad,
                "problem": self.problem or None, "message": self.message, "unlinked_events": self.unlinked,
                "covered": [{"stream": s, "first": a, "last": b} for s, a, b in self.covered],
                "archived": None if self.archived is None else {"before": self.archived[0], "file": self.archived[1]}}


def verify_chain(store: EventStore, name: str, key: bytes | None = None, expected_head: str | None = None,
                 ) -> ChainReport:
    """Check every record's checksum, position and link of the session ``name`` and of the lineage it
    reads through (a fork's inherited events are its sources' records, checked up to the fork point);
    stop at the first bad one.  ``report.covered`` says which streams' events were checked.

    With ``key``, unlinked records are accepted only where the store's keyed marker vouches that they
    were written before the chain (``stores/records/chain_keying.py``); without it, a store marked
    keyed is a UsageError (set the key), as a keyed link is.
    """
    report = ChainReport(name, ok=True)
    # Records are checked under their stream id (a renamed session's stream keeps its old id).
    view = NamedSessions.of(store)
    stream = view.stream_of(name)
    marker = read_marker(view.raw) if has_side_tables(view.raw) else None
    trusted = marker if marker is not None and key is not None and marker.vouched_by(key) else None
    for segment in lineage(view.raw, stream):
        pre_chain = None if key is None else (
            trusted.pre_chain_until(segment.stream) if trusted else UNTIL_LINKED if marker is None else 0)
        part = ChainReport(segment.stream, ok=True)
        archived = archive_marker(view.raw, segment.stream) if segment.first == 1 else None
        if archived is not None:
            bad = _check_archived(view.raw, segment.stream, key, part, segment.last, pre_chain, archived)
            report.archived = (int(archived[1]["before"]), str(archived[1]["file"]))
        else:
            bad = _check_records(view.raw, segment.stream, key, part, segment.first, segment.last, pre_chain)
        if bad is not None:
            return _combined(report, bad, segment, own=segment.stream == stream)
        if part.records == 0 and segment.stream == stream:
            raise UsageError(f"no session {name!r} in {store.url_for_display} (run 'tape sessions')")
        if segment.last is not None and part.events < segment.last:  # a source's tail before the fork point
            gone = _span(max(part.events + 1, segment.first), segment.last)
            missing = _bad(part, None, max(part.events + 1, segment.first), segment.last, "missing",
                           f"events {gone} are missing (deleted from the log)")
            return _combined(report, missing, segment, own=False)
        _add(report, part, segment)
    if marker is not None and key is None:  # (the store is keyed: its unlinked records are only judged with the key)
        raise UsageError(f"session {name!r} has a keyed hash chain: set {ENV_CHAIN_KEY} to verify it")
    if expected_head is not None and report.head != expected_head.lower():
        return _bad(report, None, report.events + 1, None, "head",
                    f"the chain head {report.head} differs from the expected {expected_head}: "
                    "events after the known head were removed, or the log is another one")
    return report


def _check_archived(store: EventStore, stream: str, key: bytes | None, part: ChainReport, stop: int | None,
                    pre_chain: int | None, marker: tuple[int, dict[str, Any]]) -> ChainReport | None:
    """An archived stream: its marker's records (chained from the genesis link, up to event ``before``-1),
    then its live records from ``before``, the first chained on the archived link the marker names."""
    first, fields = marker
    before = int(fields["before"])
    bad = _check_records(store, stream, key, part, first, before - 1, pre_chain)
    if bad is not None:
        return bad
    if part.events != before - 1:
        return _bad(part, None, part.events + 1, before - 1, "missing",
                    f"the archive marker's records end at event {part.events}, not {before - 1}")
    live = ChainReport(stream, ok=True)
    link = fields.get("link")
    bad = _check_records(store, stream, key, live, before, stop, pre_chain,
                         prev=bytes.fromhex(link) if link else GENESIS)
    live.records += part.records
    live.unlinked += part.unlinked
    live.unlinked_records += part.unlinked_records
    if bad is None:
        part.records, part.events, part.head = live.records, max(live.events, part.events), live.head
        part.unlinked, part.unlinked_records = live.unlinked, live.unlinked_records
    return bad


def _add(report: ChainReport, part: ChainReport, segment: Segment) -> None:
    """Add a good segment's counts to the session's report (an inherited record may run past the fork
    point: its events after it are not the session's)."""
    last = part.events if segment.last is None else min(part.events, segment.last)
    report.events = max(report.events, last)
    report.records += part.records
    report.unlinked += part.unlinked
    report.unlinked_records += part.unlinked_records
    report.head = part.head
    report.covered.append((segment.stream, segment.first, last))


def _combined(report: ChainReport, bad: ChainReport, segment: Segment, own: bool) -> ChainReport:
    """The session's report when a segment of its lineage is bad (an inherited one names its source)."""
    bad.session = report.session
    bad.records += report.records
    bad.unlinked += report.unlinked
    bad.covered = [*report.covered, *bad.covered]
    if not own:
        upto = _span(segment.first, segment.last or segment.first)
        bad.message = f"in session {segment.stream!r}, which this session reads events {upto} from: {bad.message}"
        bad.events = min(bad.events, segment.last or bad.events)
    return bad


class RecordSource(Protocol):
    """Where :func:`_check_records` reads raw records: a store, or an archive's ``records`` section."""

    def records(self, stream: str, start: int = 1, stop: int | None = None) -> Iterator[list[RawRecord]]: ...


class _ArchivedRecords:
    """An archive's records as a :class:`RecordSource` (in the order stored, as the store yields them)."""

    def __init__(self, rows: list[RawRecord]) -> None:
        self.rows = rows

    def records(self, stream: str, start: int = 1, stop: int | None = None) -> Iterator[list[RawRecord]]:
        yield self.rows


def verify_archive(store: EventStore, name: str, path: str | Path, key: bytes | None = None) -> ChainReport:
    """Check the archive file ``path`` on its own (checksums, its records' hash chain, its history
    folding to its state) and that it joins session ``name``'s live log: its last link is the one the
    live log's archive marker names, its bytes are those archived, its state is the marker's."""
    view = NamedSessions.of(store)
    stream = view.stream_of(name)
    marker = archive_marker(view.raw, stream)
    if marker is None:
        raise UsageError(f"session {name!r} has no archived history: --archive checks a file 'tape archive' "
                         "wrote against the session it was archived from")
    fields = marker[1]
    before = int(fields["before"])
    report = ChainReport(name, ok=True, archived=(before, str(path)))
    image = read_image(path, None)
    meta = image.header.get("archive")
    if not isinstance(meta, dict) or meta.get("stream") != stream or meta.get("before") != before:
        return _bad(report, None, 1, before - 1, "archive",
                    f"{path} is not the archive of session {name!r}'s events 1-{before - 1}")
    try:
        rows = [(int(f), str(t), bytes.fromhex(b)) for f, t, b in orjson.loads(image.sections.get("records", b"[]"))]
    except (ValueError, TypeError) as e:
        raise ImageError(f"{path}: damaged archive (records section: {e})") from None
    bad = _check_records(_ArchivedRecords(rows), stream, key, report, 1, before - 1)
    if bad is not None:
        bad.message = f"in the archive {path}: {bad.message}"
        return bad
    return _joins(view, name, path, report, rows, fields) or report


def _joins(view: NamedSessions, name: str, path: str | Path, report: ChainReport, rows: list[RawRecord],
           fields: dict[str, Any]) -> ChainReport | None:
    """The bad report when the archive (whose chain checked) does not join the live log; None when it does."""
    before = int(fields["before"])
    if report.events != before - 1 or report.head != fields.get("link"):
        return _bad(report, None, report.events, before - 1, "archive",
                    f"the archive's records end at event {report.events} with link {report.head}, and the live log "
                    f"chains on event {before - 1}'s link {fields.get('link')}: they do not join")
    if xxhash.xxh3_64_hexdigest(Path(path).read_bytes()) != fields.get("archive_xxh3"):
        return _bad(report, None, 1, before - 1, "archive",
                    f"{path}: its bytes are not those archived (the live log's marker names another xxh3)")
    verify_image_file(path)  # its history folds to its state, its content is usable (ImageError: one line)
    codec = RecordCodec()
    decoded = [e[:3] for f, t, b in rows for e in codec.decode_fields(view.stream_of(name), f, t, b)]
    if decoded != list(archived_history(path)):
        return _bad(report, None, 1, before - 1, "archive", f"{path}: its history is not its records' events")
    with open_session(name, view.raw, create=False, writable=False) as live:
        if not same_canonical_state(archived_state(path, before - 1), live.state_at(before - 1)):
            return _bad(report, None, before - 1, before - 1, "archive",
                        f"{path}: its state at event {before - 1} is not the one the live log goes on from")
    return None


def _check_records(store: RecordSource, stream: str, key: bytes | None, report: ChainReport,
                   expected_first: int = 1, stop: int | None = None,
                   pre_chain: int | None = None, prev: bytes = GENESIS) -> ChainReport | None:
    """The loop of :func:`verify_chain`: fills ``report``; a bad report at the first bad record, else None.

    ``stop``: check the records holding events up to it (a fork's source, up to the fork point).
    ``prev``: the link the first record chains on (an archived stream's live part: the archived one's).
    ``pre_chain``: unlinked records are written before the chain only up to the one starting at this
    event (None: any may be; ``UNTIL_LINKED``: only if a keyed record follows them, as in a keyed store
    without a marker, whose first keyed record restarts the chain after its older records).

    Hot: about 3 µs per record, so the common case (known topic, next
    position, linked, bytes) is checked with locals only; the rare cases are
    the helpers below.
    """
    records, start = 0, expected_first
    xxh3, from_bytes = xxhash.xxh3_64_intdigest, int.from_bytes
    plain_base = hashlib.blake2b(digest_size=LINK_SIZE)
    keyed_base = hashlib.blake2b(digest_size=LINK_SIZE, key=key or b"")
    want_keyed = key is not None
    counts: dict[str, int] = {}  # topic -> event count (topics repeat: parse each once)
    for first, topic, state in chain.from_iterable(store.records(stream, start, stop)):  # (pages of records)
        count = counts.get(topic)
        if count is None:
            count, found = _event_count(topic, first, counts)
            if found is not None:
                return _stop(report, records, expected_first, prev, found)
        try:
            check_record_span(first, count)
        except CorruptRecord:
            return _stop(report, records, expected_first, prev, _bad_number(first, expected_first))
        last = first + count - 1
        if first != expected_first:
            return _stop(report, records, expected_first, prev, _out_of_place(first, last, expected_first))
        if type(state) is not bytes:
            state, found = _as_bytes(state, first, last)
            if found is not None:
                return _stop(report, records, expected_first, prev, found)
        if len(state) < HEADER_SIZE:
            return _stop(report, records, expected_first, prev, _altered(first, last, TRUNCATED))
        flags = state[0]
        linked = flags & LINKED
        body = state[LINKED_HEADER_SIZE if linked else HEADER_SIZE:]
        prefix = f"{stream}\0{first}\0{topic}\0".encode()
        if xxh3(prefix + body) != from_bytes(state[1:HEADER_SIZE], "big"):
            return _stop(report, records, expected_first, prev, _altered(first, last, CHECKSUM_MISMATCH))
        if not linked:
            unlinked = _unlinked(report, records, first, last, count, pre_chain)
            if unlinked is not None:
                return _stop(report, records, expected_first, prev, unlinked)
            prev = GENESIS
        else:
            keyed = flags & KEYED
            if bool(keyed) != want_keyed:
                return _stop(report, records, expected_first, prev, _keying(stream, first, last, want_keyed))
            h = (keyed_base if keyed else plain_base).copy()  # copying skips BLAKE2b's key block
            h.update(prev + prefix)
            h.update(body)
            link = state[HEADER_SIZE:LINKED_HEADER_SIZE]
            if h.digest() != link:
                return _stop(report, records, expected_first, prev, _altered(first, last, LINK_MISMATCH))
            prev = link
        records += 1
        expected_first = last + 1
    report.records, report.events = records, expected_first - 1
    report.head = prev.hex() if prev != GENESIS else None
    if pre_chain == UNTIL_LINKED and records and report.unlinked_records == records:
        return _stop(report, 0, start, GENESIS, _stripped(start, expected_first - 1))
    return None


def _stripped(first: int, last: int) -> Finding:
    """The finding of a keyed store's session (without a keyed marker) whose records are all unlinked."""
    return first, last, "unlinked", (
        f"events {_span(first, last)} have no chain link and the store has no keyed marker to vouch that they "
        "were written before the chain: their links were stripped (and the marker removed), or the store was "
        f"keyed before markers existed (verify them without {ENV_CHAIN_KEY}, or against a head you trust)")


def _stop(report: ChainReport, records: int, expected_first: int, prev: bytes,
          finding: Finding) -> ChainReport:
    """The bad report at ``finding``, after ``records`` good records (events up to ``expected_first - 1``)."""
    report.records = records
    report.events = expected_first - 1
    return _bad(report, prev, *finding)


def _altered(first: int, last: int, what: str) -> Finding:
    return first, last, "altered", f"{_where(first, last)}: {what}"


def _event_count(topic: str, first: int, counts: dict[str, int]) -> tuple[int, Finding | None]:
    """The event count a topic says (remembered in ``counts``), or the finding of an altered topic."""
    try:
        count = counts[topic] = topic_event_count(topic)
    except Exception:  # noqa: BLE001 - any malformed topic is an alteration
        return 0, (first, first, "altered", f"event {first}: the record's topic {topic!r} was altered")
    return count, None


def _bad_number(first: Any, expected_first: int) -> Finding:
    """The finding of a record whose event number is not one (SQLite keeps any type in that column)."""
    return (expected_first, None, "altered",
            f"event {expected_first}: the record's event number was altered to {first!r:.40}")


def _out_of_place(first: int, last: int, expected_first: int) -> Finding:
    """The finding of a record that does not start where the next one belongs."""
    if first > expected_first:
        return (expected_first, first - 1, "missing",
                f"events {expected_first}-{first - 1} are missing (deleted from the log)"
                if first - 1 > expected_first else
                f"event {expected_first} is missing (deleted from the log)")
    return first, last, "reordered", (f"{_where(first, last)}: the record overlaps the one before it "
                                      "(records were reordered or duplicated)")


def _as_bytes(state: Any, first: int, last: int) -> tuple[bytes, Finding | None]:
    """A record's bytes as ``bytes``, or the finding when they are none (SQLite keeps any type)."""
    if not isinstance(state, (bytearray, memoryview)):
        replaced = "NULL" if state is None else type(state).__name__
        return b"", _altered(first, last, f"the record's bytes were replaced by {replaced}")
    return bytes(state), None


def _unlinked(report: ChainReport, records: int, first: int, last: int, count: int,
              pre_chain: int | None) -> Finding | None:
    """Count a record written before the chain existed; a finding when linked records came before it, or
    when the store's keyed marker does not vouch for it (``pre_chain``: see :func:`_check_records`)."""
    if records > report.unlinked_records:
        return first, last, "unlinked", (f"{_where(first, last)}: the record has no chain link although "
                                         "earlier ones do (it was replaced)")
    if pre_chain is not None and pre_chain != UNTIL_LINKED and first > pre_chain:
        return first, last, "unlinked", (
            f"{_where(first, last)}: the record has no chain link, and the store's keyed marker does not "
            "vouch that it was written before the chain: its link was stripped (or the store was never "
            f"written with this {ENV_CHAIN_KEY}: verify it without the key)")
    report.unlinked += count
    report.unlinked_records += 1
    return None


def _keying(stream: str, first: int, last: int, want_keyed: bool) -> Finding:
    """A keyed link without the key: a UsageError (set it); an unkeyed link with a key: a finding."""
    if not want_keyed:
        raise UsageError(f"session {stream!r} has a keyed hash chain: set {ENV_CHAIN_KEY} to verify it")
    return _altered(first, last, f"the record's link is not keyed with {ENV_CHAIN_KEY} "
                                 "(it was rebuilt without the key)")


def _span(first: int, last: int) -> str:
    return f"{first}-{last}" if first != last else f"{first}"


def _where(first: int, last: int) -> str:
    return f"event {first}" if first == last else f"event {first} (its commit holds events {first}-{last})"


def _bad(report: ChainReport, prev: bytes | None, first: int, last: int | None, problem: str,
         message: str) -> ChainReport:
    report.ok = False
    if prev is not None:
        report.head = prev.hex() if prev != GENESIS else None
    report.first_bad = first
    report.last_bad = last
    report.problem = problem
    report.message = message
    return report


__all__ = ["ChainReport", "chain_head", "head_link", "verify_archive", "verify_chain"]
