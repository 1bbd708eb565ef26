"""Tail the global log: every commit record of every session, in commit order, after a position.

Followers (projections in their own processes) read the store through this.
A *position* is the eventsourcing library's notification id of a commit
record: SQLite's rowid, PostgreSQL's ``notification_id``.  Positions increase
in commit order on both backends (SQLite has one writer at a time; the
library's PostgreSQL recorder takes an EXCLUSIVE table lock on every insert,
so ids are issued and committed in the same order), so a reader that has seen
position P never later finds a new record at or below P: "everything after P"
is a complete, gap-free way to resume.  A follower stores the position of the
last record it applied, atomically with what it wrote (tracking), and resumes
after it.

Waiting for new records: PostgreSQL LISTENs on the channel the library's
recorder NOTIFYs on every insert (so a commit wakes the follower at once,
with a slow poll as a safety net; NOTIFY channels are database-wide, so
stores in other schemas of the same database cause harmless extra reads);
SQLite has no notifications across processes, so it polls.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import structlog
from eventsourcing.persistence import PersistenceError

from tapevm.domain.errors import StoreError
from tapevm.domain.events import RecordedEvent
from tapevm.infrastructure.codec import RecordCodec
from tapevm.infrastructure.event_store import RecorderEventStore, first_line

log = structlog.get_logger("tapevm.log_tail")

PAGE = 500


@dataclass(frozen=True, slots=True)
class CommitRecord:
    """One stored commit (a form, a session action) at its place in the global log."""

    position: int
    session: str
    first_seq: int
    topic: str
    state: bytes

    def events(self, codec: RecordCodec) -> list[RecordedEvent]:
        """The commit's events, checked and decoded (CorruptRecord on a damaged record)."""
        return codec.decode(self.session, self.first_seq, self.topic, self.state)


class LogTail:
    """Reads the global log of a store after a position, and waits for more.

    ``poll_interval`` is how often SQLite is polled, and on PostgreSQL how long
    to wait for a notification before checking anyway.
    """

    def __init__(self, store: RecorderEventStore, *, poll_interval: float | None = None, page: int = PAGE) -> None:
        self.store = store
        self.recorder: Any = store.recorder
        self.codec = store.codec
        self.page = page
        self.listens = hasattr(self.recorder, "channel_name")  # the library's PostgreSQL recorder
        self.poll_interval = poll_interval if poll_interval is not None else (2.0 if self.listens else 0.05)

    def read_after(self, position: int, limit: int | None = None) -> list[CommitRecord]:
        """Up to ``limit`` records with a position above ``position``, in order (never waits)."""
        try:
            rows = self.recorder.select_notifications(
                start=position, limit=limit or self.page, inclusive_of_start=False
            )
        except PersistenceError as e:
            raise StoreError(f"could not read from {self.store.url_for_display}: {first_line(e)}") from e
        return [CommitRecord(n.id, str(n.originator_id), n.originator_version, n.topic, n.state) for n in rows]

    def last_position(self) -> int:
        """The position of the newest record (0 for an empty store): how far a follower could be."""
        try:
            return int(self.recorder.max_notification_id() or 0)
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
            while not stop.is_set():
                records = self.read_after(position)
                for record in records:
                    yield record
                    position = record.position
                    if stop.is_set():
                        return
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
        if self.listens:
            return _Listener(self.recorder)
        return _Poller()


class _Poller:
    def __enter__(self) -> Any:
        return self.wait

    def __exit__(self, *exc: object) -> None:
        pass

    @staticmethod
    def wait(seconds: float, stop: threading.Event) -> None:
        stop.wait(seconds)


class _Listener:
    """A dedicated connection LISTENing on the recorder's channel (the library NOTIFYs on every insert)."""

    def __init__(self, recorder: Any) -> None:
        self.recorder = recorder
        self._cm: Any = None
        self.conn: Any = None

    def __enter__(self) -> Any:
        from psycopg.sql import SQL, Identifier

        try:
            self._cm = self.recorder.datastore.get_connection()
            self.conn = self._cm.__enter__()
            self.conn.execute(SQL("LISTEN {0}").format(Identifier(self.recorder.channel_name)))
        except PersistenceError as e:
            raise StoreError(f"could not listen for new commits: {first_line(e)}") from e
        return self.wait

    def __exit__(self, *exc: object) -> None:
        if self._cm is not None:
            try:
                from psycopg.sql import SQL

                self.conn.execute(SQL("UNLISTEN *"))
            finally:
                self._cm.__exit__(None, None, None)

    def wait(self, seconds: float, stop: threading.Event) -> None:
        # notifies() returns after one notification or the timeout; wake up at least every 0.2 s to check stop
        deadline = time.monotonic() + seconds
        while not stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            for _ in self.conn.notifies(timeout=min(left, 0.2), stop_after=1):
                return
