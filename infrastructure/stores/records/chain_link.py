"""The link each commit record carries: a hash chain over a stream's records.

Every record's header holds a *link* (see :mod:`.record_codec`)::

    link(n) = BLAKE2b-256( link(n-1)  ||  stream \\0 first \\0 topic \\0  ||  body )

with ``link(0)`` = :data:`GENESIS`, 32 zero bytes (also used after records
written before the chain existed).  The link covers the record's position
(stream and first event number), its topic (event count) and its body, and
through ``link(n-1)`` everything before it: altering, removing or reordering
any record breaks every later link.  With a chain key (``TAPE_CHAIN_KEY``,
read by :mod:`tapevm.infrastructure.config`) BLAKE2b is keyed with it, so
someone without the key cannot rebuild a consistent chain after editing the
log; the header records that a link is keyed.

The event store computes links as it appends; checking a whole chain is
:mod:`tapevm.infrastructure.integrity`'s.
"""

from __future__ import annotations

import hashlib

from tapevm.infrastructure.stores.records.record_codec import LINK_SIZE

GENESIS = bytes(LINK_SIZE)


def compute_link(prev: bytes, stream: str, first: int, topic: str, body: bytes, key: bytes | None) -> bytes:
    """The link of the record of ``stream`` starting at event ``first``, after the record linked ``prev``."""
    h = hashlib.blake2b(digest_size=LINK_SIZE, key=key or b"")
    h.update(prev)
    h.update(f"{stream}\0{first}\0{topic}\0".encode())
    h.update(body)
    return h.digest()
