"""Reports on sessions as users name them: the audit timeline, blame, the sessions list, ``tape info``.

The reports themselves are projections (``projections.audit``,
``projections.provenance``, ``projections.session_summaries``), which read only
through the store port.  These entry points (``tapevm.audit``,
``tapevm.blame_binding``... and the CLI's) hand them what only the store's
infrastructure knows: the store seen through session names (so a renamed
session or a fork reads its whole lineage), the registry's names and the
lease holders.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tapevm.domain.ports import EventStore
from tapevm.infrastructure.session.service import Session
from tapevm.infrastructure.stores.leases import lease_holder
from tapevm.infrastructure.stores.named_sessions import NamedSessions
from tapevm.infrastructure.stores.registry import SessionRegistry
from tapevm.projections import audit as timeline
from tapevm.projections import provenance
from tapevm.projections.audit import AuditEntry, Show
from tapevm.projections.provenance import Blame
from tapevm.projections.session_summaries import SessionRow, session_rows, session_summary


def audit(store: EventStore, session: str, show: Show, start: int = 1, stop: int | None = None,
          kinds: tuple[str, ...] = ()) -> Iterator[AuditEntry]:
    """The timeline of session ``session`` (a name), events ``start..stop``: ``projections.audit.audit``."""
    return timeline.audit(NamedSessions.of(store), session, show, start, stop, kinds)


def blame_binding(store: EventStore, session: str, name: str, at: int | None = None,
                  current_ns: str = "user") -> Blame:
    """History of a global: ``ns/name``, or ``name`` in the current namespace (else where it was defined)."""
    return provenance.blame_binding(NamedSessions.of(store), session, name, at, current_ns)


def blame_fact(store: EventStore, session: str, fact_source: str, at: int | None = None) -> Blame:
    """History of a fact written as Lisp data (``(task "write" done)``)."""
    return provenance.blame_fact(NamedSessions.of(store), session, fact_source, at)


def blame_file(store: EventStore, session: str, path: str, at: int | None = None) -> Blame:
    """History of a world file: writes, imports, deletes, and merges, restores and images that set it."""
    return provenance.blame_file(NamedSessions.of(store), session, path, at)


def _writer(store: EventStore, stream: str) -> str | None:
    """The live writer holding the lease of ``stream``, described (None: none)."""
    holder = lease_holder(store, stream)
    return holder.describe() if holder else None


def list_sessions(store: EventStore) -> list[SessionRow]:
    """Every session of ``store`` by name, with its parent (forks) and live writer (``tape sessions``)."""
    return session_rows(store, SessionRegistry(store).names(), lambda stream: _writer(store, stream))


def session_info(session: Session) -> dict[str, Any]:
    """A summary of an open session (``tape info``): counts, bytes, times, parent, writer."""
    store = session.store
    return session_summary(store, session.state, name=session.id, stream=session.stream,
                           checkpoints=len(session.checkpoints.metas()),
                           names_of=lambda: SessionRegistry(store).names(),
                           writer=_writer(store, session.stream))
