"""Audit and blame of a session as users name it: ``tapevm.audit``, ``tapevm.blame_*``, ``tape audit``/``blame``.

The timeline and the provenance are projections (``projections.audit``,
``projections.provenance``) that read only through the store port; these
entry points hand them the store seen through session names, so a renamed
session or a fork reads its whole lineage.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from tapevm.domain.errors import SessionNotFound, UsageError
from tapevm.domain.ports import EventStore
from tapevm.infrastructure.session.service import open_session
from tapevm.infrastructure.session.world_import import world_path
from tapevm.infrastructure.stores.named_sessions import NamedSessions
from tapevm.projections import audit as timeline
from tapevm.projections import provenance
from tapevm.projections.audit import SHOWN_WIDTH, AuditEntry, Show
from tapevm.projections.provenance import Blame
from tapevm.vm.state_printer import StatePrinter


def audit(store: EventStore, session: str, show: Show | None = None, start: int = 1, stop: int | None = None,
          kinds: tuple[str, ...] = (), decode: Callable[[Any], Any] | None = None) -> Iterator[AuditEntry]:
    """The timeline of session ``session`` (a name), events ``start..stop``: ``projections.audit.audit``.

    ``show`` prints a logged value; by default as Lisp source cut as ``tape audit`` cuts it, read
    against the session's head (the timeline is then read whole before it is returned).  ``decode``
    reads a recorded model answer for its tokens.
    """
    named = NamedSessions.of(store)
    if show is not None:
        return timeline.audit(named, session, show, start, stop, kinds, decode)
    with open_session(session, store, create=False, writable=False) as s:
        printer = StatePrinter(s.state).cut_at(SHOWN_WIDTH)
        return iter(list(timeline.audit(named, session, printer, start, stop, kinds, decode)))


def blame_binding(store: EventStore, session: str, name: str, at: int | None = None,
                  current_ns: str = "user") -> Blame:
    """History of a global: ``ns/name``, or ``name`` in the current namespace (else where it was defined)."""
    return _touched(store, session, provenance.blame_binding(NamedSessions.of(store), session, name, at, current_ns))


def blame_fact(store: EventStore, session: str, fact_source: str, at: int | None = None) -> Blame:
    """History of a fact written as Lisp data (``(task "write" done)``)."""
    return _touched(store, session, provenance.blame_fact(NamedSessions.of(store), session, fact_source, at))


def blame_file(store: EventStore, session: str, path: str, at: int | None = None) -> Blame:
    """History of a world file: writes, imports, deletes, and merges, restores and images that set it."""
    path = world_path(path)  # ``/notes/a`` is ``notes/a``; a bad path is a UsageError
    return _touched(store, session, provenance.blame_file(NamedSessions.of(store), session, path, at))


def _touched(store: EventStore, session: str, blame: Blame) -> Blame:
    """``blame`` when something touched its target; a UsageError naming it otherwise (an unknown
    name, a fact never asserted, a file never written), so that a typo is not an empty history."""
    if not blame.history:
        if NamedSessions.of(store).last_seq(session) == 0:
            raise SessionNotFound(f"no session {session!r} in {store.url_for_display} (run 'tape sessions')")
        raise UsageError(f"nothing in session {session!r} up to event {blame.at} touched {blame.target}")
    return blame
