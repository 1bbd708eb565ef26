"""What binds a checkpoint to its session and to the events it covers: its *seal*.

A checkpoint's ``tip`` column holds its seal, the xxh3-64 of the digest of the event it ends at,
the stream id, that event's number and the chain link of the record holding it.  The link chains over the stream id and every record before
(``stores/records/chain_link.py``), so a seal that matches the log at read time says: this
checkpoint was built from this stream, at this event, over these records.  Its payload's checksum
is taken over the seal and the payload (a pack's over its frames' seals and the pack), so a
payload moved under another checkpoint's row does not check either.

Checked on every load (``EventStore.event_places``: an index seek for the start of each record
wanted, for a checkpoint and its keyframe chain at once, then the record holding each event), this
turns away, as ignored and dropped, never served:

* a checkpoint copied from another session (another stream, so another link), or from another
  point of its own log;
* one whose events changed under it (the event at its end, or any record before it: the link);
* and no checkpoint is served over a record deleted behind it: the store's witness of deleted
  records (``stores/records/deleted_records.py``, filled by a trigger) makes ``event_places`` fail
  with the reader's one-line error, at one indexed look-up instead of counting the history's
  records; ``tape verify`` reads them all and finds the hole by the links.

It is a checksum, not a signature: someone who can write to the database and compute xxh3 can
still write a checkpoint of their own making for a session (see RELIABILITY.md).  Imports the
domain and the rest of this package.
"""

from __future__ import annotations

from collections.abc import Sequence

import xxhash

from tapevm.domain.ports import EventPlace
from tapevm.projections.checkpoints.events_hash import event_digest


def checkpoint_seal(stream: str, seq: int, place: EventPlace) -> str:
    """The seal of a checkpoint of ``stream`` at event ``seq``, where the log holds it at ``place``."""
    h = xxhash.xxh3_64(event_digest(place.type_name, place.fields))
    h.update(f"\0{stream}\0{seq}\0".encode())
    h.update(place.link or b"")
    return h.hexdigest()


def payload_hash(seal: str, data: bytes) -> str:
    """The checksum a checkpoint's row keeps of its stored payload, bound to its ``seal``."""
    h = xxhash.xxh3_64(bytes.fromhex(seal))
    h.update(data)
    return h.hexdigest()


def pack_hash(seals: Sequence[str], data: bytes) -> str:
    """The checksum a pack's row keeps of its payload, bound to the seals of its frames (in order)."""
    h = xxhash.xxh3_64(b"".join(bytes.fromhex(s) for s in seals))
    h.update(data)
    return h.hexdigest()
