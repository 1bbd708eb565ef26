"""The events hash of checkpoints: what each event contributes, and the running hash that chains them.

An event contributes ``orjson.dumps([type, fields])`` followed by a comma.  A
checkpoint's ``events_hash`` is ``xxh3_64(previous checkpoint's events_hash ||
the contributions of every event after it, in order)`` (8 zero bytes before the
first checkpoint; a fork's chain starts after its fork point, the events before it being
its source's), and the running hash's ``tip`` is the xxh3-64 of the last event's
``dumps([type, fields])`` (a checkpoint's stored ``tip`` is its seal, which holds it: ``seal.py``).
``verify``/``rebuild`` recompute both from the log;
the session computes them as it appends, from the events of each commit
(``RunningEventsHash``), so writing a checkpoint never re-reads the K events it
covers.

Why this shape: the contributions of a whole commit are ONE ``orjson.dumps``
of its ``[type, fields]`` pairs without the outer brackets, plus a comma (JSON
has no whitespace there, so the bytes are the same), and xxh3's streaming form
gives the same digest however the bytes are chunked.  The hash therefore costs
one C call per commit on the append path, yet is a function of the events
alone, not of how the store packs them into records: a fork that starts in
the middle of a record hashes its share event by event and gets the same
value.  Events are hashed as decoded (type and fields), and the store writes
exactly ``orjson.dumps`` of the fields, so appending and reading agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import orjson
import xxhash

from tapevm.domain.events import Draft

ZERO_HASH = bytes(8)

EventFields = tuple[int, str, dict[str, Any]]


def event_digest(type_name: str, fields: dict[str, Any]) -> bytes:
    """xxh3-64 of one event as decoded: the running hash's ``tip``, and part of a checkpoint's seal."""
    return xxhash.xxh3_64_digest(orjson.dumps((type_name, fields)))


def chain_hash(previous: bytes, events: Iterable[EventFields]) -> bytes:
    """The events hash after ``previous`` and the events that follow (``verify``'s form, event by event)."""
    hasher = xxhash.xxh3_64(previous)
    dumps, update = orjson.dumps, hasher.update
    for _, type_name, fields in events:
        update(dumps((type_name, fields)))
        update(b",")
    return hasher.digest()


class RunningEventsHash:
    """The events hash of the events after one checkpoint, extended one event at a time.

    ``after`` is the event number of that checkpoint (0: none), ``upto`` the last
    event added.  Events must come in order without gaps: ``add`` returns False
    (and the hash stops being usable, ``valid`` False) on any other event, and the
    caller falls back to reading the log.
    """

    __slots__ = ("_hasher", "after", "last_type", "tip", "upto", "valid")

    def __init__(self, after: int = 0, previous_hash: bytes = ZERO_HASH, previous_tip: str = "") -> None:
        self.after = after
        self.upto = after
        self.tip = previous_tip
        self.last_type = ""  # the type of event ``upto``, once one was added ("": not known)
        self.valid = True
        self._hasher = xxhash.xxh3_64(previous_hash)

    def add(self, seq: int, type_name: str, fields: dict[str, Any]) -> bool:
        """Chain event ``seq``; False (and invalid from now on) unless it is the event after ``upto``."""
        if not self.valid or seq != self.upto + 1:
            self.valid = False
            return False
        data = orjson.dumps((type_name, fields))
        self._hasher.update(data)
        self._hasher.update(b",")
        self.tip = xxhash.xxh3_64_hexdigest(data)
        self.upto = seq
        self.last_type = type_name
        return True

    def add_all(self, events: Iterable[EventFields]) -> None:
        """Chain a commit's events (in order, without gaps; else invalid, as with ``add``)."""
        batch = events if isinstance(events, list) else list(events)
        if not batch:
            return
        first, last = batch[0][0], batch[-1][0]
        if not self.valid or first != self.upto + 1 or last - first + 1 != len(batch):
            for seq, type_name, fields in batch:
                self.add(seq, type_name, fields)
            return
        self._extend(last, [(type_name, fields) for _, type_name, fields in batch])

    def add_drafts(self, first: int, drafts: Sequence[Draft]) -> None:
        """Chain a commit as the session appends it: its drafts, numbered from ``first``."""
        if not drafts:
            return
        if not self.valid or first != self.upto + 1:
            self.valid = False
            return
        self._extend(first + len(drafts) - 1, [(type_name, fields) for type_name, _, fields in drafts])

    def _extend(self, last: int, pairs: list[tuple[str, dict[str, Any]]]) -> None:
        """Chain the ``[type, fields]`` pairs of events ``upto+1..last``: one ``orjson.dumps`` for all
        of them (see the module docstring), one more of the last for the tip.  Runs after every commit."""
        body = orjson.dumps(pairs)
        self._hasher.update(memoryview(body)[1:-1])  # "[e1,e2,...,en]" less its brackets...
        self._hasher.update(b",")  # ...and the comma after the last: e1, e2, ... en, as add() feeds them
        self.tip = xxhash.xxh3_64_hexdigest(orjson.dumps(pairs[-1]))
        self.upto = last
        self.last_type = pairs[-1][0]

    def tee(self, events: Iterable[EventFields]) -> Iterator[EventFields]:
        """``events`` unchanged, chained on the way through (the fold at opening hashes its tail for free);
        those up to ``after`` pass unhashed (a fork's chain starts at its fork point, its fold before it)."""
        after = self.after
        for event in events:
            if event[0] > after:
                self.add(*event)
            yield event

    def covers(self, after: int, upto: int) -> bool:
        """Whether this hash is exactly that of the events ``after+1..upto``."""
        return self.valid and self.after == after and self.upto == upto

    def events_hash(self) -> str:
        return self._hasher.hexdigest()
