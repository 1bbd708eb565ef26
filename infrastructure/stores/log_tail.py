"""Tail the global log: every commit record of every session, in commit order, after a position.

Followers (projections in their own processes) read the store through this,
and only through this.  A *position* is an opaque, increasing integer: a
follower stores the ``position`` of the last record it applied, atomically
with what it wrote (the library's tracking table), and resumes with
``read_after(position)``.  A reader that has seen position P never later
finds a new record at or below P, so "everything after P" is a complete,
gap-free way to resume; ``last_position()`` is how far a follower could be.

What a position is underneath (followers need not care):

* SQLite: the record's rowid.  One writer at a time, so rowids commit in order.
* PostgreSQL: writers on different sessions commit concurrently (tapevm takes
  no table lock), so notification ids do NOT commit in order and "after
  notification id P" could skip a row forever.  The log is read by writing
  transaction instead, through a visibility fence: a position is
  ``postgres.log.XID_POSITION_BASE`` + the id of the last transaction applied
  (rows written before the column existed keep their notification id), a page
  holds whole transactions whose id is below every still-running transaction,
  and a record carries its transaction's position only on the transaction's
  last row (tapevm writes one row per transaction; see ``postgres/log.py``).
  A PostgreSQL follower lags behind by at most the oldest write transaction
  running on the server.

Waiting for new records: PostgreSQL LISTENs on the channel tapevm's recorder
NOTIFYs after every commit (so a commit wakes the follower at once, with a
slow poll as a safety net; while the fence holds committed rows back, it looks
again after a few milliseconds; NOTIFY channels are database-wide, so stores
in other schemas of the same database cause harmless extra reads); SQLite has
no notifications across processes, so it polls.  The store's backend object
hands out the reader that knows which (``Backend.log_reader``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from eventsourcing.persistence import PersistenceError

from tapevm.domain.errors import StoreError, UsageError
from tapevm.infrastructure.logs import get_logger
from tapevm.infrastructure.stores.backend import LogReader, Wait, sql_backend
from tapevm.infrastructure.stores.event_store import RecorderEventStore, first_line
from tapevm.infrastructure.stores.records.commit_record import CommitRecord

log = get_logger("tapevm.log_tail")

PAGE = 500
# While the fence holds committed rows back, look again after this long (seconds), doubling up to the poll interval.
HELD_RETRY = 0.005


# The shortest wait between two looks at the log: below it a follower polls in a busy loop (one core
# at 100 %, and a query on the store each time) for lag no one can see.
MIN_POLL_INTERVAL = 0.01


class LogTail:
    """Reads the global log of a store after a position, and waits for more.

    ``poll_interval`` is how often SQLite is polled, and on PostgreSQL how long
    to wait for a notification before checking anyway; at least
    ``MIN_POLL_INTERVAL`` seconds (a UsageError below it).
    """

    def __init__(self, store: RecorderEventStore, *, poll_interval: float | None = None, page: int = PAGE) -> None:
        if poll_interval is not None and not poll_interval >= MIN_POLL_INTERVAL:  # (nan fails too)
            raise UsageError(f"a poll interval of {poll_interval!r} s is too short: give at least "
                             f"{MIN_POLL_INTERVAL} s (shorter polls the store in a busy loop)")
        self.store = store
        self.codec = store.codec
        self.page = page
        try:
            self.reader: LogReader = sql_backend(store, "a global log").log_reader()
        except PersistenceError as e:  # (PostgreSQL checks its transaction-id horizon first)
            raise StoreError(f"could not read from {self.store.url_for_display}: {first_line(e)}") from e
        self.listens = self.reader.listens
        self.poll_interval = poll_interval if poll_interval is not None else (2.0 if self.listens else 0.05)

    def read_after(self, position: int, limit: int | None = None) -> list[CommitRecord]:
        """Up to ``limit`` records with a position above ``position``, in order (never waits).

        On PostgreSQL a page never ends inside a transaction, so it can hold
        more than ``limit`` records when a transaction wrote several rows.
        """
        return self._read(position, limit or self.page)[0]

    def _read(self, position: int, limit: int) -> tuple[list[CommitRecord], bool]:
        """The records, and whether committed ones wait behind PostgreSQL's fence."""
        try:
            return self.reader.read_after(position, limit)
        except PersistenceError as e:
            raise StoreError(f"could not read from {self.store.url_for_display}: {first_line(e)}") from e

    def last_position(self) -> int:
        """The position of the newest committed record (0 for an empty store): how far a follower could be.

        On PostgreSQL ``read_after`` reaches it once no older transaction is
        still running.
        """
        try:
            return self.reader.last_position()
        except PersistenceError as e:
            raise StoreError(f"could not read from {self.store.url_for_display}: {first_line(e)}") from e

    def follow(self, after: int = 0, stop: threading.Event | None = None) -> Iterator[CommitRecord]:
        """Every record after ``after``, then each new one as it commits, until ``stop`` is set.

        On PostgreSQL the LISTEN starts before the first read, so a commit
        between a read and the wait still wakes the wait.
        """
        stop = stop or threading.Event()
        with self._waiter() as wait:
            position = after
            held_wait = HELD_RETRY
            while not stop.is_set():
                records, held = self._read(position, self.page)
                for record in records:
                    yield record
                    position = record.position
                    if stop.is_set():
                        return
                if held:  # committed rows wait for an older transaction to end: it is usually short
                    stop.wait(held_wait)
                    held_wait = min(held_wait * 2, self.poll_interval)
                    continue
                held_wait = HELD_RETRY
                if len(records) < self.page:
                    wait(self.poll_interval, stop)

    def count_after(self, position: int, limit: int | None = None) -> int:
        """How many records follow ``position``, counting at most ``limit`` (a follower's lag in records).

        Positions are opaque (they need not be consecutive), so the only honest
        count is reading; callers cap it and show "N+" when it hits the cap.
        """
        if self.last_position() == position:
            return 0
        return len(self.read_after(position, limit))

    def waiter(self) -> Any:
        """A context manager giving ``wait(seconds, stop)``: returns early when a commit may have arrived.

        For followers that read in batches themselves (``follow`` yields one
        record at a time): PostgreSQL LISTENs from entering the context, so
        a commit between a read and the wait still wakes the wait.
        """
        return self._waiter()

    # -- waiting -----------------------------------------------------------------------
    def _waiter(self) -> Any:
        return _Waiting(self.reader)


class _Waiting:
    """The reader's waiter, its failure to start (PostgreSQL: no connection to LISTEN on) one line."""

    def __init__(self, reader: LogReader) -> None:
        self.context = reader.waiter()

    def __enter__(self) -> Wait:
        try:
            return self.context.__enter__()
        except PersistenceError as e:
            raise StoreError(f"could not listen for new commits: {first_line(e)}") from e

    def __exit__(self, *exc: object) -> None:
        self.context.__exit__(None, None, None)


__all__ = ["MIN_POLL_INTERVAL", "CommitRecord", "LogTail"]
