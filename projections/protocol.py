"""The ``Projection`` protocol: what a follower runs (``tape follow``), and what one batch applied.

A projection has a name, a tracked position, and ``apply(records, after)``,
which writes the projection's rows for a batch of commit records AND moves its
tracking position from ``after`` to the batch's last position in ONE
transaction, so a crash keeps both or neither.  Positions are opaque increasing
integers of the global log: stored and passed back, never computed with.

The protocol is generic in the record it applies (the log's commit record,
which the store defines), so this module needs nothing of the store.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

Record_contra = TypeVar("Record_contra", contravariant=True)


@dataclass(frozen=True, slots=True)
class Applied:
    """What one ``apply`` committed: counts, and each record's recorded time (seconds since the epoch)."""

    commits: int
    events: int
    record_times: list[float]


class Projection(Protocol[Record_contra]):
    """A projection a follower can keep up to date."""

    name: str

    def position(self) -> int:
        """The tracked position: the last record applied (0: none)."""
        ...

    def apply(self, records: Sequence[Record_contra], after: int) -> Applied:
        """Write ``records`` and move the position from ``after`` to their last, in one transaction.

        Raises PositionMoved (nothing written) if the position is not ``after``.
        """
        ...

    def close(self) -> None:
        ...

    # Optional: ``follow_lease() -> FollowLease``, the lease a following worker holds
    # (infrastructure/followers/leases.py); without one, followers of the projection race.
