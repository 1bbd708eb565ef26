"""A session's checkpoints in this process: the projection over the store's own checkpoint tables,
with the process's settings, logging what it meets.

The checkpoint projection takes everything from outside; this is where a session gets it:
the tables in the same database as the events (``checkpoint_store_for``), the interval and the
inline flag from the settings (``TAPE_CHECKPOINT_INTERVAL`` and ``TAPE_INLINE_CHECKPOINTS``, read by
``infrastructure.config``; a bad interval refuses to open, before anything is written), and the ``tapevm.checkpoints`` log for its notices.
"""

from __future__ import annotations

from tapevm.domain import lineage
from tapevm.domain.ports import CheckpointStore, EventStore
from tapevm.infrastructure.config import Settings
from tapevm.infrastructure.logs import get_logger
from tapevm.infrastructure.stores.checkpoint_tables import checkpoint_store_for
from tapevm.infrastructure.stores.content_index import lineage_content_for
from tapevm.projections.checkpoints.notices import Notice
from tapevm.projections.checkpoints.projection import Checkpoints
from tapevm.projections.checkpoints.projection import checkpoints_of as lineage_checkpoints
from tapevm.projections.checkpoints.reader import ReadFields

log = get_logger("tapevm.checkpoints")


def log_notice(notice: Notice) -> None:
    """Log what the checkpoints met: a debug line for a routine notice, else a warning."""
    (log.debug if notice.routine else log.warning)(notice.event, **notice.fields)


def open_checkpoints(store: EventStore, stream: str, cache: CheckpointStore | None = None,
                     interval: int | None = None, read_fields: ReadFields | None = None) -> Checkpoints:
    """The checkpoints of ``stream`` read from the store's own log of it (not through its lineage:
    see ``checkpoints_of``), in ``cache`` (default: the store's tables), every ``interval`` events
    (default: as the environment or the store says)."""
    settings = Settings.from_environment()
    content = lineage_content_for(store)
    return Checkpoints(store, stream, cache if cache is not None else checkpoint_store_for(store),
                       interval if interval is not None else settings.checkpoint_interval_events(), read_fields,
                       inline=settings.writes_inline_checkpoints(), report=log_notice,
                       content=None if content is None else content([lineage.Segment(stream, 1, None)]))


def checkpoints_of(store: EventStore, stream: str, segments: list[lineage.Segment] | None = None,
                   cache: CheckpointStore | None = None) -> Checkpoints:
    """The checkpoints of ``stream`` read through its lineage (a fork's fall back on its source's), in
    ``cache`` (default: the store's tables), with the environment's settings."""
    settings = Settings.from_environment()
    return lineage_checkpoints(store, stream, segments, cache if cache is not None else checkpoint_store_for(store),
                               settings.checkpoint_interval_events(), settings.writes_inline_checkpoints(),
                               log_notice, lineage_content_for(store))
