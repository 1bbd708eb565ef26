"""The tamper-evident log: a hash chain over each session's commit records.

Every record's header carries a *link* (see :mod:`tapevm.infrastructure.stores.record_codec`)::

    link(n) = BLAKE2b-256( link(n-1)  ||  stream \\0 first \\0 topic \\0  ||  body )

with ``link(0)`` = 32 zero bytes (also used after records written before the
chain existed).  The link covers the record's position (stream and first
event number), its topic (event count) and its body, and through
``link(n-1)`` everything before it: altering, removing or reordering any
record breaks every later link.  With ``TAPE_CHAIN_KEY`` set, BLAKE2b is keyed
with it, so someone without the key cannot rebuild a consistent chain after
editing the log; the header records that a link is keyed.

The chain head (the last record's link) is what an image or a backup carries
to prove it matches its source: :func:`chain_head`.  A removed *tail* is only
detectable against such a head (``tape verify --head``).

:func:`verify_chain` reads the raw rows (no JSON decoding: the checksums and
links vouch for the bodies) and reports the first bad record.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import xxhash

from tapevm.domain.errors import CorruptRecord, UsageError
from tapevm.infrastructure.stores.record_codec import (
    HEADER_SIZE,
    KEYED,
    LINK_SIZE,
    LINKED,
    LINKED_HEADER_SIZE,
    check_record_span,
    topic_event_count,
)
from tapevm.domain.lineage import fork_origin, lineage
from tapevm.infrastructure.stores.named_sessions import NamedSessions

if TYPE_CHECKING:
    from tapevm.domain.ports import EventStore
    from tapevm.infrastructure.session.service import Session

ENV_CHAIN_KEY = "TAPE_CHAIN_KEY"
GENESIS = bytes(LINK_SIZE)


def chain_key_from_environment() -> bytes | None:
    key = os.environ.get(ENV_CHAIN_KEY)
    if not key:
        return None
    data = key.encode()
    if len(data) > 64:  # BLAKE2b's key limit; longer secrets are hashed down
        data = hashlib.blake2b(data).digest()
    return data


def compute_link(prev: bytes, stream: str, first: int, topic: str, body: bytes, key: bytes | None) -> bytes:
    h = hashlib.blake2b(digest_size=LINK_SIZE, key=key or b"")
    h.update(prev)
    h.update(f"{stream}\0{first}\0{topic}\0".encode())
    h.update(body)
    return h.digest()


def chain_head(session: Session) -> str | None:
    """The session's chain head (hex link of its last record), or None if that record has no link."""
    return head_link(session.store, session.id)


def link_at(store: EventStore, session_id: str, seq: int) -> str | None:
    """The chain link (hex) of the record that holds event ``seq`` of the session (through forks).

    Images carry it, so an image can be checked against the log it came from.
    """
    view = NamedSessions.of(store)
    for segment in lineage(view.raw, view.stream_of(session_id)):
        if segment.first <= seq and (segment.last is None or seq <= segment.last):
            link = view.raw._link_at(segment.stream, seq)  # type: ignore[attr-defined]
            return link.hex() if link else None
    return None


def head_link(store: EventStore, session_id: str) -> str | None:
    store = NamedSessions.of(store)
    link = store.head_link(session_id)
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

    def as_json(self) -> dict[str, Any]:
        return {"session": self.session, "ok": self.ok, "events": self.events, "records": self.records,
                "head": self.head, "first_bad": self.first_bad, "last_bad": self.last_bad,
                "problem": self.problem or None, "message": self.message, "unlinked_events": self.unlinked}


def _rows(store: EventStore, stream: str) -> Iterator[list[tuple[int, str, bytes]]]:
    """The records of one stream, raw (a fork's inherited records are its source's to verify)."""
    return store._rows(stream, 1, None)  # type: ignore[attr-defined,no-any-return]


def verify_chain(store: EventStore, session_id: str, key: bytes | None = None, expected_head: str | None = None,
                 ) -> ChainReport:
    """Check every record's checksum, position and link; stop at the first bad one."""
    report = ChainReport(session_id, ok=True)
    # Records are checked under their stream id (a renamed session's stream keeps its old id);
    # a fork's own records start after its fork point (the inherited ones are its source's).
    view = NamedSessions.of(store)
    stream = view.stream_of(session_id)
    origin = fork_origin(view.raw, stream)
    bad = _check_records(view.raw, stream, key, report, 1 if origin is None else origin[1] + 1)
    if bad is not None:
        return bad
    if report.records == 0:
        raise UsageError(f"no session {session_id!r} in {store.url_for_display} (run 'tape sessions')")
    if expected_head is not None and report.head != expected_head.lower():
        return _bad(report, None, report.events + 1, None, "head",
                    f"the chain head {report.head} differs from the expected {expected_head}: "
                    "events after the known head were removed, or the log is another one")
    return report


def _check_records(store: EventStore, session_id: str, key: bytes | None, report: ChainReport,
                   expected_first: int = 1) -> ChainReport | None:
    """The loop of :func:`verify_chain`: fills ``report``; a bad report at the first bad record, else None.

    Hot: about 3 µs per record, so the common case (known topic, next
    position, linked) is checked with locals only.
    """
    prev = GENESIS
    records = 0
    xxh3 = xxhash.xxh3_64_intdigest
    from_bytes = int.from_bytes
    plain_base = hashlib.blake2b(digest_size=LINK_SIZE)
    keyed_base = hashlib.blake2b(digest_size=LINK_SIZE, key=key or b"")
    want_keyed = key is not None
    counts: dict[str, int] = {}  # topic -> event count (topics repeat: parse each once)

    def bad(first: int, last: int | None, problem: str, message: str) -> ChainReport:
        report.records = records
        report.events = expected_first - 1
        return _bad(report, prev, first, last, problem, message)

    for rows in _rows(store, session_id):
        for first, topic, state in rows:
            count = counts.get(topic)
            if count is None:
                try:
                    count = counts[topic] = topic_event_count(topic)
                except Exception:  # noqa: BLE001 - any malformed topic is an alteration
                    return bad(first, first, "altered", f"event {first}: the record's topic {topic!r} was altered")
            try:
                check_record_span(first, count)  # SQLite keeps any type in the event number column
            except CorruptRecord:
                return bad(expected_first, None, "altered", f"event {expected_first}: the record's event "
                           f"number was altered to {first!r:.40}")
            last = first + count - 1
            if first != expected_first:
                if first > expected_first:
                    return bad(expected_first, first - 1, "missing",
                               f"events {expected_first}-{first - 1} are missing (deleted from the log)"
                               if first - 1 > expected_first else
                               f"event {expected_first} is missing (deleted from the log)")
                return bad(first, last, "reordered", f"{_where(first, last)}: the record overlaps the one "
                           "before it (records were reordered or duplicated)")
            if type(state) is not bytes:
                if not isinstance(state, (bytearray, memoryview)):  # SQLite keeps any type: NULL, text
                    return bad(first, last, "altered", f"{_where(first, last)}: the record's bytes were "
                               f"replaced by {'NULL' if state is None else type(state).__name__}")
                state = bytes(state)
            if len(state) < HEADER_SIZE:
                return bad(first, last, "altered", f"{_where(first, last)}: the record is truncated")
            flags = state[0]
            linked = flags & LINKED
            body = state[LINKED_HEADER_SIZE if linked else HEADER_SIZE:]
            prefix = f"{session_id}\0{first}\0{topic}\0".encode()
            if xxh3(prefix + body) != from_bytes(state[1:HEADER_SIZE], "big"):
                return bad(first, last, "altered", f"{_where(first, last)}: checksum mismatch: the record "
                           "was altered, or moved from another position")
            if not linked:
                if records > report.unlinked_records:
                    return bad(first, last, "unlinked", f"{_where(first, last)}: the record has no chain "
                               "link although earlier ones do (it was replaced)")
                report.unlinked += count
                report.unlinked_records += 1
                prev = GENESIS
            else:
                keyed = flags & KEYED
                if keyed and not want_keyed:
                    raise UsageError(f"session {session_id!r} has a keyed hash chain: set {ENV_CHAIN_KEY} to verify it")
                if want_keyed and not keyed:
                    return bad(first, last, "altered", f"{_where(first, last)}: the record's link is not "
                               f"keyed with {ENV_CHAIN_KEY} (it was rebuilt without the key)")
                h = (keyed_base if keyed else plain_base).copy()  # copying skips BLAKE2b's key block
                h.update(prev + prefix)
                h.update(body)
                link = state[HEADER_SIZE:LINKED_HEADER_SIZE]
                if h.digest() != link:
                    return bad(first, last, "altered", f"{_where(first, last)}: chain link mismatch: this "
                               "record or the link before it was altered (the chain was rebuilt)")
                prev = link
            records += 1
            expected_first = last + 1
    report.records = records
    report.events = expected_first - 1
    report.head = prev.hex() if prev != GENESIS else None
    return None


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


__all__ = [
    "GENESIS",
    "LINKED",
    "ChainReport",
    "chain_head",
    "chain_key_from_environment",
    "compute_link",
    "verify_chain",
]
