"""One commit record at its place in the global log, as each backend's log reader hands it out."""

from __future__ import annotations

from dataclasses import dataclass

from tapevm.domain.events import RecordedEvent
from tapevm.infrastructure.stores.records.record_codec import RecordCodec


@dataclass(frozen=True, slots=True)
class CommitRecord:
    """One stored commit (a form, a session action) at its place in the global log.

    ``position`` is opaque and increasing (see ``log_tail``): a follower stores
    it with what it wrote and resumes after it.
    """

    position: int
    session: str
    first_seq: int
    topic: str
    state: bytes

    def events(self, codec: RecordCodec) -> list[RecordedEvent]:
        """The commit's events, checked and decoded (CorruptRecord on a damaged record)."""
        return codec.decode(self.session, self.first_seq, self.topic, self.state)
