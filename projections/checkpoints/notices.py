"""What the checkpoints met and did, reported to their caller (who logs it): projections do not log.

A checkpoint is a cache, so nothing it meets is an error: a checkpoint that cannot be trusted is
dropped and written again, a cache that cannot be read is skipped.  Each such event is a
:class:`Notice` handed to the ``report`` callback the checkpoints were built with; infrastructure
logs it as the event it names, with its fields (``session`` is the stream id: the log's word).
Imports nothing of tapevm.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Notice:
    """One thing that happened: ``event`` names it (``checkpoint_ignored``...), ``fields`` say where and
    why; a ``routine`` one (a checkpoint written) is worth a debug line, any other a warning."""

    event: str
    fields: dict[str, Any]
    routine: bool = False


Report = Callable[[Notice], None]


def discard(notice: Notice) -> None:
    """The report of checkpoints nobody listens to (a tool's throwaway reader)."""
