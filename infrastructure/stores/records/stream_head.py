"""The head check both backends run inside their insert transaction.

A stream's head is the number of its last event: the last row's first event
number plus the number of events that row holds, minus one.  tapevm rows are
commit records whose topic (``commit:<format>:<count>``) says how many events
they hold; a row with any other topic (written through the eventsourcing
library's own interface, e.g. by its recorder test cases) counts as one event.

A tapevm commit must start right after the head, so event numbers stay
gapless and a stale writer is refused.  The refusal is the eventsourcing
library's ``IntegrityError`` (a :class:`HeadMismatch`), the same error its
recorders raise for a duplicate (stream, version) key: code written against
the library's recorder interface sees the contract it expects, and the store
layer turns both into tapevm's ``ConflictError``.  Inserts of foreign rows are
not head-checked (the library's contract for them is the primary key alone).

The *lease fence* is the other check inside the same transaction: a writer
that holds the session's writer lease (``stores/leases.py``) passes its
:class:`LeaseFence`, and the commit goes in only if the lease row still
carries its token.  A writer paused past the lease timeout (SIGSTOP, a laptop
asleep, a long GC pause) has lost its lease to the next writer when it
continues, and without the fence its next commit would still land (at the
head it knew, which the new holder had not written to yet) while the new
holder's commit was refused.  The refusal is :class:`LeaseLost`, naming the
new holder; nothing of the commit is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import IntegrityError

from tapevm.domain.errors import CorruptRecord, LeaseLost
from tapevm.infrastructure.stores.records.record_codec import check_record_span, topic_event_count

COMMIT_TOPIC_START = "commit:"


class HeadMismatch(IntegrityError):
    """A commit does not start right after its stream's head (another writer appended first)."""


def is_commit_topic(topic: str) -> bool:
    return topic.startswith(COMMIT_TOPIC_START)


def row_event_count(topic: str) -> int:
    """Events a stored row holds: its commit topic's count, or 1 for a foreign row."""
    return 1 if isinstance(topic, str) and not topic.startswith(COMMIT_TOPIC_START) else topic_event_count(topic)


def head_of(version: int | None, topic: str | None) -> int:
    """The last event number given the stream's last row (None, None for an empty stream)."""
    if version is None or topic is None:
        return 0
    if not isinstance(version, int):  # a damaged SQLite file can hand back any type
        raise CorruptRecord(f"malformed event number {version!r:.40} in the store")
    count = row_event_count(topic)
    check_record_span(version, count)  # (a head past 2**63-1 fails when it is handed back to SQL)
    return version + count - 1


def check_head(stream: str, first: int, topic: str, head: int, fork_start: bool = False) -> None:
    """Raise HeadMismatch unless a tapevm commit starting at ``first`` follows ``head``.

    ``fork_start``: the first commit of a fork's own stream, which begins at the
    fork point + 1 (events before it are read from the source; see domain/lineage.py).
    """
    if not is_commit_topic(topic):
        return
    if fork_start and head == 0:
        return
    if first != head + 1:
        raise HeadMismatch(
            f"session {stream!r} moved on: its head is event {head}, "
            f"this write expected {first - 1} (another writer appended first); "
            "reopen the session to continue from its new head"
        )



@dataclass(frozen=True)
class LeaseFence:
    """What a lease-holding writer proves inside its insert: the lease row of its stream in ``table``
    (the backend's name for ``tape_leases``) still holds ``token`` (the fencing token)."""

    table: str
    token: str


def check_fence(stream: str, fence: LeaseFence, row: Sequence[Any] | None) -> None:
    """Raise LeaseLost unless ``row`` (token, pid, host: the stream's lease row, read in the insert's
    transaction; None when there is none) is still ``fence``'s."""
    if row is not None and row[0] == fence.token:
        return
    what = (f"lost the writer lease to pid {row[1]} on host {row[2]} while this writer was paused past "
            "TAPE_LEASE_TIMEOUT" if row is not None else
            "lost the writer lease: it lapsed while this writer was paused past TAPE_LEASE_TIMEOUT, and was "
            "taken over (and released since) or cleared")
    raise LeaseLost(f"session {stream!r}: {what}; nothing was written: reopen the session to continue from its "
                    "new head")
