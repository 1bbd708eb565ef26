"""A session's checkpoints in this process: the projection over the store's own checkpoint tables,
with the process's settings, logging what it meets.

The checkpoint projection takes everything from outside; this is where a session gets it:
the tables in the same database as the events (``checkpoint_store_for``), the interval and the
inline flag from ``TAPE_CHECKPOINT_INTERVAL`` and ``TAPE_INLINE_CHECKPOINTS`` (a bad interval
refuses to open, before anything is written), and the ``tapevm.checkpoints`` log for its notices.
"""

from __future__ import annotations

import os

from tapevm.domain import lineage
from tapevm.domain.ports import CheckpointStore, EventStore
from tapevm.infrastructure.logs import get_logger
from tapevm.infrastructure.stores.checkpoint_tables import checkpoint_store_for
from tapevm.projections.checkpoints.notices import Notice
from tapevm.projections.checkpoints.policy import DEFAULT_INTERVAL, parse_interval
from tapevm.projections.checkpoints.projection import Checkpoints
from tapevm.projections.checkpoints.projection import checkpoints_of as lineage_checkpoints
from tapevm.projections.checkpoints.reader import ReadFields

log = get_logger("tapevm.checkpoints")


def log_notice(notice: Notice) -> None:
    """Log what the checkpoints met: a debug line for a routine notice, else a warning."""
    (log.debug if notice.routine else log.warning)(notice.event, **notice.fields)


def interval_from_environment() -> int | None:
    """``TAPE_CHECKPOINT_INTERVAL`` (None when unset: the store's setting decides); raises UsageError
    when it is not a whole number of events from 1 to ``MAX_INTERVAL``.  Set but empty: the default."""
    value = os.environ.get("TAPE_CHECKPOINT_INTERVAL")
    interval = parse_interval(value)
    return DEFAULT_INTERVAL if interval is None and value is not None else interval


def inline_from_environment() -> bool:
    """Whether sessions write checkpoints after their commits (``TAPE_INLINE_CHECKPOINTS=0``: no,
    a ``tape follow`` process keeps them)."""
    return os.environ.get("TAPE_INLINE_CHECKPOINTS", "1") != "0"


def open_checkpoints(store: EventStore, stream: str, cache: CheckpointStore | None = None,
                     interval: int | None = None, read_fields: ReadFields | None = None) -> Checkpoints:
    """The checkpoints of ``stream`` read from the store's own log of it (not through its lineage:
    see ``checkpoints_of``), in ``cache`` (default: the store's tables), every ``interval`` events
    (default: as the environment or the store says)."""
    return Checkpoints(store, stream, cache if cache is not None else checkpoint_store_for(store),
                       interval if interval is not None else interval_from_environment(), read_fields,
                       inline=inline_from_environment(), report=log_notice)


def checkpoints_of(store: EventStore, stream: str, segments: list[lineage.Segment] | None = None,
                   cache: CheckpointStore | None = None) -> Checkpoints:
    """The checkpoints of ``stream`` read through its lineage (a fork's fall back on its source's), in
    ``cache`` (default: the store's tables), with the environment's settings."""
    return lineage_checkpoints(store, stream, segments, cache if cache is not None else checkpoint_store_for(store),
                               interval_from_environment(), inline_from_environment(), log_notice)
