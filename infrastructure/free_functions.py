"""The free functions of earlier releases, kept for one release as thin aliases.

Before :class:`~tapevm.infrastructure.store.Store`, store-level operations
were free functions taking the store first (``tapevm.fork(store, "work@12",
"exp")``).  They still work, with a ``Store`` or an event store, and do
exactly what the ``Store`` method of the same job does; new code should call
the methods (``store.fork("work@12", "exp")``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, TypeVar

from tapevm.domain.ports import EventStore
from tapevm.infrastructure import housekeeping, integrity, provenance, session_summaries
from tapevm.infrastructure.branches import compare as compare_module
from tapevm.infrastructure.branches import forks, merging
from tapevm.infrastructure.followers import read_model
from tapevm.infrastructure.images import deployment
from tapevm.infrastructure.images import operations as images
from tapevm.infrastructure.images import session_opener
from tapevm.infrastructure.session import replay as replay_module
from tapevm.infrastructure.session.service import Session
from tapevm.infrastructure.store import Store, events_of
from tapevm.infrastructure.stores import leases

R = TypeVar("R")


def _store_first(function: Callable[..., R]) -> Callable[..., R]:
    """``function`` taking a ``Store`` as well as an event store as its first argument."""

    @functools.wraps(function)
    def alias(store: Store | EventStore, *args: Any, **kwargs: Any) -> R:
        return function(events_of(store), *args, **kwargs)

    return alias


fork = _store_first(forks.fork)
clone = _store_first(forks.clone)
merge = _store_first(merging.merge)
take = _store_first(merging.take)
compare = _store_first(compare_module.compare)
run_sql = _store_first(read_model.run_sql)
list_sessions = _store_first(session_summaries.list_sessions)
collect_garbage = _store_first(housekeeping.collect_garbage)
lease_holder = _store_first(leases.lease_holder)
replay = _store_first(replay_module.replay)
verify_chain = _store_first(integrity.verify_chain)
audit = _store_first(provenance.audit)
blame_binding = _store_first(provenance.blame_binding)
blame_fact = _store_first(provenance.blame_fact)
blame_file = _store_first(provenance.blame_file)
load_image = _store_first(images.load_image)


def open_session(session_id: str = "default", store: Store | EventStore | str | None = None,
                 **options: Any) -> Session:
    """``tapevm.open_session``: ``store`` may be a path or URL, an event store or a :class:`Store`; the
    session is given the image writer its ``(save-image ...)`` calls write through."""
    return session_opener.open_session(session_id, events_of(store) if isinstance(store, Store) else store, **options)


def session_from_image(image: str | Path, store: Store | EventStore | str | None = None, name: str | None = None,
                       **options: Any) -> AbstractContextManager[Session]:
    """``tapevm.session_from_image`` (``with ... as session``): a NEW session made from ``image`` each time
    (``deployment.session_from_image``); ``store`` may also be a :class:`Store`."""
    return deployment.session_from_image(image, events_of(store) if isinstance(store, Store) else store, name,
                                         **options)
