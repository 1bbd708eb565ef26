"""The events hash of checkpoints: the digest of each event, and the running hash that chains them.

A checkpoint's ``events_hash`` is ``xxh3_64(previous checkpoint's events_hash || digest of every
event after it, in order)`` (8 zero bytes before the first checkpoint), and its ``tip`` is the
digest of the event it ends at.  ``verify``/``rebuild`` recompute both from the log; the session
computes them as it appends, from the events of each commit (``RunningEventsHash``), so writing a
checkpoint never re-reads the K events it covers: the work per append is the digest of that
commit's own events, whatever K is.  xxh3's streaming form gives the same digest as hashing the
concatenation at once, which is what keeps the two ways of computing it equal.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import orjson
import xxhash

ZERO_HASH = bytes(8)

EventFields = tuple[int, str, dict[str, Any]]


def event_digest(type_name: str, fields: dict[str, Any]) -> bytes:
    """xxh3-64 of one event as decoded (type and fields): what the events hash of a checkpoint chains.

    Computed from decoded events, not stored bytes, so it does not depend on how
    the store lays events out in records.  An event's fields as appended (its
    model's ``__dict__``) serialise to the same bytes as the fields read back,
    because the store writes exactly ``orjson.dumps`` of them.
    """
    return xxhash.xxh3_64_digest(type_name.encode() + b"\0" + orjson.dumps(fields))


def chain_hash(previous: bytes, digests: Iterable[bytes]) -> bytes:
    """The events hash after ``previous`` and the digests of the events that follow (``verify``'s form)."""
    return xxhash.xxh3_64(previous + b"".join(digests)).digest()


class RunningEventsHash:
    """The events hash of the events after one checkpoint, extended one event at a time.

    ``after`` is the event number of that checkpoint (0: none), ``upto`` the last
    event added.  Events must come in order without gaps: ``add`` returns False
    (and the hash stops being usable, ``valid`` False) on any other event, and the
    caller falls back to reading the log.
    """

    __slots__ = ("_hasher", "after", "tip", "upto", "valid")

    def __init__(self, after: int = 0, previous_hash: bytes = ZERO_HASH, previous_tip: str = "") -> None:
        self.after = after
        self.upto = after
        self.tip = previous_tip
        self.valid = True
        self._hasher = xxhash.xxh3_64(previous_hash)

    def add(self, seq: int, type_name: str, fields: dict[str, Any]) -> bool:
        """Chain event ``seq``; False (and invalid from now on) unless it is the event after ``upto``."""
        if not self.valid or seq != self.upto + 1:
            self.valid = False
            return False
        digest = event_digest(type_name, fields)
        self._hasher.update(digest)
        self.tip = digest.hex()
        self.upto = seq
        return True

    def add_all(self, events: Iterable[EventFields]) -> None:
        """Chain a commit's events (in order, without gaps; else invalid, as with ``add``).

        One loop without a call per event, one update and one hex digest per commit:
        this runs after every commit, on the append path.
        """
        batch = events if isinstance(events, list) else list(events)
        if not batch:
            return
        first, last = batch[0][0], batch[-1][0]
        if not self.valid or first != self.upto + 1 or last - first + 1 != len(batch):
            for seq, type_name, fields in batch:
                self.add(seq, type_name, fields)
            return
        digest, dumps = xxhash.xxh3_64_digest, orjson.dumps
        digests = [digest(type_name.encode() + b"\0" + dumps(fields)) for _, type_name, fields in batch]
        self._hasher.update(b"".join(digests))
        self.tip = digests[-1].hex()
        self.upto = last

    def tee(self, events: Iterable[EventFields]) -> Iterator[EventFields]:
        """``events`` unchanged, chained on the way through (the fold at opening hashes its tail for free)."""
        for event in events:
            self.add(*event)
            yield event

    def covers(self, after: int, upto: int) -> bool:
        """Whether this hash is exactly that of the events ``after+1..upto``."""
        return self.valid and self.after == after and self.upto == upto

    def events_hash(self) -> str:
        return self._hasher.hexdigest()
