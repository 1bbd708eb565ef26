"""Audit and blame of a session as users name it: ``tapevm.audit``, ``tapevm.blame_*``, ``tape audit``/``blame``.

The timeline and the provenance are projections (``projections.audit``,
``projections.provenance``) that read only through the store port; these
entry points hand them the store seen through session names, so a renamed
session or a fork reads its whole lineage.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from tapevm.domain.ports import EventStore
from tapevm.infrastructure.stores.named_sessions import NamedSessions
from tapevm.projections import audit as timeline
from tapevm.projections import provenance
from tapevm.projections.audit import AuditEntry, Show
from tapevm.projections.provenance import Blame


def audit(store: EventStore, session: str, show: Show, start: int = 1, stop: int | None = None,
          kinds: tuple[str, ...] = (), decode: Callable[[Any], Any] | None = None) -> Iterator[AuditEntry]:
    """The timeline of session ``session`` (a name), events ``start..stop``: ``projections.audit.audit``."""
    return timeline.audit(NamedSessions.of(store), session, show, start, stop, kinds, decode)


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
