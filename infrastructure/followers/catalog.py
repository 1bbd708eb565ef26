"""The projections ``tape follow`` knows, by name, and ``follow``: open them over a store and run them.

The one place that knows every projection: ``sql`` (the read model) and
``checkpoints`` (every session's).  The runner runs whatever projections it is
given; a new projection is one entry in ``PROJECTIONS``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from tapevm.domain.errors import UsageError
from tapevm.domain.ports import EventStore
from tapevm.infrastructure.followers.checkpoints import CheckpointProjection
from tapevm.infrastructure.followers.read_model import open_read_model
from tapevm.infrastructure.followers.runner import (
    BATCH,
    FollowedProjection,
    Follower,
    FollowStatus,
    OnBatch,
    stop_on_signals,
)
from tapevm.infrastructure.stores.factory import open_store

# Each projection's name (``tape follow --projection NAME``) and how it is opened over a store.
PROJECTIONS: dict[str, Callable[[EventStore], FollowedProjection]] = {
    "sql": open_read_model,
    "checkpoints": CheckpointProjection,
}


def projection_names() -> list[str]:
    return list(PROJECTIONS)


def open_projection(store: EventStore, name: str) -> FollowedProjection:
    """The projection ``name`` over ``store`` (``sql``: the read model; ``checkpoints``: every session's)."""
    opener = PROJECTIONS.get(name)
    if opener is None:
        raise UsageError(f"unknown projection {name!r}: choose from {', '.join(projection_names())}")
    return opener(store)


def follow(store: EventStore | str | None, projections: Sequence[str] | None = None, *, once: bool = False,
           poll_interval: float | None = None, batch: int = BATCH, stop: threading.Event | None = None,
           on_status: Callable[[list[FollowStatus]], None] | None = None,
           on_batch: OnBatch | None = None) -> list[FollowStatus]:
    """Run followers of ``projections`` (default: all) over ``store`` (a store, a path or URL, None: the default).

    ``batch``: commit records per transaction.  ``once``: catch up and return.  Otherwise follow until ``stop`` is set or
    SIGINT/SIGTERM arrives (in the main thread), calling ``on_status`` with
    every projection's status twice a second.
    """
    names = list(dict.fromkeys(projections or projection_names()))
    opened: EventStore
    if store is None or isinstance(store, str):
        opened, own = open_store(store), True
    else:
        opened, own = store, False
    try:
        opened_projections: list[FollowedProjection] = []
        try:
            for name in names:
                opened_projections.append(open_projection(opened, name))
            follower = Follower(opened, opened_projections, poll_interval=poll_interval, batch=batch,
                                on_batch=on_batch)
            with stop_on_signals(stop or threading.Event()) as event:
                return follower.run_once(event) if once else follower.run(event, on_status)
        finally:
            for p in opened_projections:
                p.close()
    finally:
        if own:
            opened.close()
