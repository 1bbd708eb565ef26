"""Whether a store's chain is keyed, recorded so that a forger cannot undo it unseen.

A keyed link (``TAPE_CHAIN_KEY``) cannot be rebuilt without the key, but a
record's *absence* of a link can be forged by anyone: clear the link flag,
drop the 32 link bytes and recompute the xxh3 checksum (which needs no key).
Records written before the chain existed look exactly like that, so a chain
checked record by record cannot tell a downgraded log from an old one.

So the fact that a store is keyed is recorded once, by the first keyed writer,
in ``tape_chain_keying`` (one row): the *census* of the records written
before the chain (per stream, the first event of its last unlinked record;
empty for a store keyed from its start), and a *proof*, a BLAKE2b MAC of the
census under the key.  Nothing written afterwards can be unlinked (this tapevm
links every record), so:

* a forger who strips links leaves unlinked records the census does not
  list: ``verify`` with the key reports them as tampering;
* a forger who edits the census cannot recompute its proof;
* a forger who deletes the row leaves a keyed-looking store without one:
  ``verify`` with the key then counts no unlinked record as written before
  the chain, and a keyless verify still refuses a store whose records are keyed.

The same row refuses writers: one without the key (or with another key, whose
MAC of the census differs) is stopped before it writes, instead of leaving
links that would fail verify forever (records are never rewritten).

A marker is only created when the store holds no keyed record yet; a keyed
store without one (its row deleted, or keyed by a tapevm before the marker)
is left unmarked, since a census taken then could vouch for stripped records.

This module is the marker's meaning (pure); reading and writing its row is
``stores/side_tables.py``'s (``read_marker``, ``check_writer_key``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass

from tapevm.domain.errors import ChainKeyRefused, CorruptRecord
from tapevm.infrastructure.stores.records.record_codec import KEYED, LINKED

KEYING_TABLE = "tape_chain_keying"
_PROOF_DOMAIN = b"tapevm keyed store v1\0"


def proof_of(key: bytes, census_text: str) -> str:
    """The MAC that vouches for a census (as stored) under ``key``."""
    return hashlib.blake2b(_PROOF_DOMAIN + census_text.encode(), key=key, digest_size=32).hexdigest()


@dataclass(frozen=True)
class KeyedMarker:
    """A store's keyed marker: ``census`` as stored (JSON ``{stream: first event}``) and its ``proof``."""

    census_text: str
    proof: str

    def vouched_by(self, key: bytes) -> bool:
        """Whether ``key`` is the key the store was keyed with (and the census is as it wrote it)."""
        return hmac.compare_digest(self.proof, proof_of(key, self.census_text))

    def pre_chain_until(self, stream: str) -> int:
        """The first event of ``stream``'s last record written before the chain (0: none was)."""
        try:
            value = json.loads(self.census_text).get(stream, 0)
        except (ValueError, AttributeError):
            raise CorruptRecord(f"the store's keyed marker ({KEYING_TABLE}) was altered") from None
        return value if isinstance(value, int) else 0


def refuse_keyless_into_keyed(stream: str, previous_flags: int, key: bytes | None) -> None:
    """Refuse a writer without a key whose append would follow a keyed record of ``stream``."""
    if key is None and previous_flags & LINKED and previous_flags & KEYED:
        raise ChainKeyRefused(f"session {stream!r} is keyed (its hash chain needs TAPE_CHAIN_KEY): "
                              "set TAPE_CHAIN_KEY to write to it; nothing was written")
