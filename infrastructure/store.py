"""The store as one object: sessions, and what can be done with them as a whole.

``tapevm.open_store(...)`` returns a :class:`Store`; its methods are the
store-level operations (fork, clone, merge, take, compare, sessions, info,
sql, gc, delete, deleted, archive, replay, verify, audit, blame), each one call into the room that does
the work, so the CLI and Python programs share one implementation.  The log
itself (the :class:`~tapevm.domain.ports.EventStore` port) is ``store.events``.

The free functions of earlier releases (``tapevm.fork(store, ...)`` and the
rest) stay for one release as thin aliases that accept a ``Store`` or an
event store (:mod:`tapevm.infrastructure.free_functions`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Self

from tapevm.domain.events import RecordedEvent
from tapevm.domain.ports import EventStore
from tapevm.infrastructure.branches.compare import Comparison, compare
from tapevm.infrastructure.branches.forks import ForkResult, clone, fork
from tapevm.infrastructure.branches.merging import MergeResult, merge, take
from tapevm.infrastructure.followers.read_model import QueryResult, run_sql
from tapevm.infrastructure.housekeeping import GcReport, collect_garbage
from tapevm.infrastructure.images.session_opener import open_session
from tapevm.infrastructure.integrity import ChainReport, verify_archive, verify_chain
from tapevm.infrastructure.lifecycle.archiving import ArchiveReport, archive_session
from tapevm.infrastructure.lifecycle.deletion import DeletionReport, delete_session
from tapevm.infrastructure.lifecycle.tombstones import DeletedSession, deleted_sessions
from tapevm.infrastructure.provenance import audit, blame_binding, blame_fact, blame_file
from tapevm.infrastructure.session.replay import ReplayResult, replay
from tapevm.infrastructure.session.service import Session
from tapevm.infrastructure.session_summaries import list_sessions, session_info
from tapevm.infrastructure.stores.factory import open_store as open_event_store
from tapevm.infrastructure.stores.side_tables import SideTables
from tapevm.projections.audit import SHOWN_WIDTH, AuditEntry
from tapevm.projections.provenance import Blame
from tapevm.projections.session_summaries import SessionRow
from tapevm.vm.state_printer import StatePrinter


class Store:
    """A store of sessions (a SQLite file or a PostgreSQL schema), opened once, closed once.

    Use it as a context manager; sessions opened from it share its connection
    and do not close it.  Session arguments are names or ``ID@N`` addresses,
    as on the command line.
    """

    def __init__(self, events: EventStore) -> None:
        self.events = events

    @property
    def url_for_display(self) -> str:
        """Where the store is, with any password masked."""
        return self.events.url_for_display

    def session(self, name: str = "default", **options: Any) -> Session:
        """Open session ``name`` on this store (``open_session``'s options: create, writable, fresh, lease...)."""
        return open_session(name, self.events, **options)

    def sessions(self) -> list[SessionRow]:
        """Every session: name, head, size, last activity, parent and writer (``tape sessions``)."""
        return list_sessions(self.events)

    def info(self, name: str) -> dict[str, Any]:
        """Counts, bytes, times and lineage of one session (``tape info``)."""
        with open_session(name, self.events, create=False, writable=False) as session:
            return session_info(session)

    def log(self, name: str, start: int = 1, stop: int | None = None) -> list[RecordedEvent]:
        """Recorded events ``start..stop`` of session ``name`` (through its forks)."""
        with open_session(name, self.events, create=False, writable=False) as session:
            return list(session.events(start, stop))

    def fork(self, source: str, new: str) -> ForkResult:
        """Session ``new`` from ``source`` (``ID`` or ``ID@N``), sharing its events (``tape fork``)."""
        return fork(self.events, source, new)

    def clone(self, source: str, new: str) -> ForkResult:
        """A fork at the source's head (``tape clone``)."""
        return clone(self.events, source, new)

    def merge(self, source: str, into: str, prefer: str = "fail", *,
              keep: Sequence[str] = (), take: Sequence[str] = ()) -> MergeResult:
        """Three-way merge of ``source`` into ``into``; ``prefer`` is keep, take or fail; ``keep`` and
        ``take`` resolve the conflicts of the bindings they name first (``tape merge --keep/--take``)."""
        return merge(self.events, source, into, prefer, keep=keep, take=take)

    def take(self, source: str, binding: str, into: str) -> MergeResult:
        """Copy one binding (``name`` or ``ns/name``) from ``source`` into ``into`` (``tape take``)."""
        return take(self.events, source, binding, into)

    def compare(self, a: str, b: str, events: bool = False) -> Comparison:
        """Two sessions' states and their differences; ``events`` adds where their logs part (``tape diff``)."""
        return compare(self.events, a, b, events)

    def sql(self, query: str, *, fresh: bool = False) -> QueryResult:
        """Run a read-only query on the SQL read model, caught up first (``tape sql``)."""
        return run_sql(self.events, query, fresh=fresh)[0]

    def gc(self) -> GcReport:
        """Free what can be rebuilt: the read model, stale checkpoints and leases (``tape gc``)."""
        return collect_garbage(self.events)

    def delete(self, name: str, *, with_forks: bool = False, by: str | None = None) -> DeletionReport:
        """Delete session ``name`` and every row it has, leaving a tombstone (``tape delete``); a session
        forks read through is refused unless ``with_forks`` (then they go too)."""
        return delete_session(self.events, name, with_forks=with_forks, by=by)

    def deleted(self) -> list[DeletedSession]:
        """The tombstones of deleted sessions, oldest first (``tape deleted``)."""
        return deleted_sessions(SideTables(self.events))

    def archive(self, name: str, before: int, path: str | Path, *, by: str | None = None,
                delete_forks: bool = False) -> ArchiveReport:
        """Move events 1..``before``-1 of ``name`` to the archive file ``path``, keeping the rest live (``tape archive``)."""
        return archive_session(self.events, name, before, path, by=by, delete_forks=delete_forks)

    def verify_archive(self, name: str, path: str | Path, key: bytes | None = None) -> ChainReport:
        """Check an archive on its own and that it joins ``name``'s live log (``tape verify --archive``)."""
        return verify_archive(self.events, name, path, key)

    def replay(self, name: str, **options: Any) -> ReplayResult:
        """Re-run a session offline, answers from its log (``tape replay``; options as ``replay``'s)."""
        return replay(self.events, name, **options)

    def verify(self, name: str, key: bytes | None = None, expected_head: str | None = None) -> ChainReport:
        """Checksums and hash chain of a session's records (``tape verify``)."""
        return verify_chain(self.events, name, key, expected_head)

    def audit(self, name: str, start: int = 1, stop: int | None = None, kinds: tuple[str, ...] = (),
              show: Callable[[Any], str] | None = None) -> list[AuditEntry]:
        """The timeline of events ``start..stop`` (``tape audit``); values shown as Lisp source."""
        with open_session(name, self.events, create=False, writable=False) as session:
            state_printer = StatePrinter(session.state)
            printer = show or state_printer.cut_at(SHOWN_WIDTH)
            return list(audit(self.events, name, printer, start, stop, kinds, state_printer.decoder.decode))

    def blame(self, name: str, binding: str | None = None, *, fact: str | None = None, file: str | None = None,
              at: int | None = None) -> Blame:
        """Which event and form produced a binding, a fact (Lisp data) or a world file, and its history."""
        chosen = [what for what in (binding, fact, file) if what is not None]
        if len(chosen) != 1:
            raise TypeError("blame takes exactly one of a binding name, fact= or file=")
        if fact is not None:
            return blame_fact(self.events, name, fact, at)
        if file is not None:
            return blame_file(self.events, name, file, at)
        assert binding is not None
        return blame_binding(self.events, name, binding, at)

    def close(self) -> None:
        self.events.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.url_for_display!r})"


def open_store(location: str | None = None, *, durability: str | None = None, create: bool = True) -> Store:
    """Open the store at ``location`` (a file path or a postgresql:// URL; default ``TAPE_STORE``).

    ``create=False`` refuses a SQLite path where no store exists (``StoreNotFound``)
    instead of creating an empty one there.
    """
    return Store(open_event_store(location, durability=durability, create=create))


def events_of(store: Store | EventStore) -> EventStore:
    """The event store behind a :class:`Store` (or the event store itself)."""
    return store.events if isinstance(store, Store) else store
