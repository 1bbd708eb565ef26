"""Followers: projections kept up to date by a long-running process that tails the global log.

A *projection* (``projections.protocol.Projection``: the SQL read model, the
checkpoints) has a name, a tracked position, and ``apply(records, after)``,
which writes the projection's rows for a batch of commit records AND moves its
tracking position from ``after`` to the batch's last position in ONE
transaction (``tracked_transaction``).  A ``Follower`` runs the projections it
is given (``catalog`` opens them by name): it reads batches through ``LogTail``
(the only way followers read the log: positions are opaque increasing
integers, stored and passed back, never computed with) and applies them, so:

* exactly once: a ``kill -9`` before a batch commits leaves nothing of it, after
  it leaves all of it and the position; the restarted follower resumes after
  the tracked position;
* several followers: different projections do not interact; two followers of
  the same projection serialise on the projection's lock, and the one that
  finds the position moved (``PositionMoved``) re-reads it and goes on;
* waiting: PostgreSQL LISTENs (a commit wakes the follower at once),
  SQLite polls (``poll_interval``, 50 ms by default).

Lag is reported in records (``LogTail.count_after``, capped: positions are not
counts) and in seconds: 0 when caught up, else the age of the newest applied
commit (how stale the projection's view is).
"""

from __future__ import annotations

import collections
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tapevm.domain.errors import (
    ChainError,
    CorruptRecord,
    PositionMoved,
    SchemaVersionError,
    StoreError,
    UnknownEventType,
    UsageError,
)
from tapevm.domain.ports import EventStore
from tapevm.infrastructure.followers.leases import STANDBY_POLL
from tapevm.infrastructure.logs import get_logger
from tapevm.infrastructure.stores.event_store import RecorderEventStore
from tapevm.infrastructure.stores.log_tail import CommitRecord, LogTail
from tapevm.projections.protocol import Applied, Projection

log = get_logger("tapevm.followers")

BATCH = 500            # commit records per transaction of a projection
COUNT_CAP = 1_000      # records-behind is counted up to this ("1000+")
STATUS_EVERY = 0.5     # seconds between status refreshes of a running follower
RATE_WINDOW = 5.0      # seconds of history behind events/s
FATAL = (CorruptRecord, UnknownEventType, SchemaVersionError, ChainError)  # retrying cannot help

# What a follower runs: a projection of the store's commit records.
FollowedProjection = Projection[CommitRecord]


def catch_up(projection: FollowedProjection, tail: LogTail, batch: int = BATCH) -> tuple[int, int, int]:
    """Apply everything committed so far to ``projection`` in this thread: (commits, events, new position)."""
    worker = _Worker(projection, tail, batch, None)
    worker.drain()
    return worker.commits, worker.events, worker.position


@dataclass(frozen=True, slots=True)
class FollowStatus:
    """One projection's progress, as a follower sees it."""

    projection: str
    position: int
    last_position: int
    commits: int                 # applied by this follower since it started
    events: int
    events_per_s: float          # over the last few seconds
    lag_seconds: float           # 0 when caught up; else the age of the newest applied commit
    records_behind: int          # counted up to COUNT_CAP
    records_behind_capped: bool
    moved: int                   # times another follower had applied first
    caught_up: bool
    standby: bool = False        # another follower holds the projection's lease: this one waits to take over

    def as_json(self) -> dict[str, Any]:
        return {"projection": self.projection, "position": self.position, "last_position": self.last_position,
                "commits": self.commits, "events": self.events, "events_per_s": round(self.events_per_s, 1),
                "lag_seconds": round(self.lag_seconds, 3), "records_behind": self.records_behind,
                "records_behind_capped": self.records_behind_capped, "moved": self.moved,
                "caught_up": self.caught_up, "standby": self.standby}


OnBatch = Callable[[str, Applied, float], None]


@dataclass
class _Worker:
    """One projection's loop state (one thread when following, the caller's thread with ``once``)."""

    projection: FollowedProjection
    tail: LogTail
    batch: int
    on_batch: OnBatch | None
    position: int = 0
    commits: int = 0
    events: int = 0
    moved: int = 0
    newest_time: float | None = None
    rate: collections.deque[tuple[float, int]] = field(default_factory=collections.deque)
    status: FollowStatus | None = None
    error: BaseException | None = None

    def step(self) -> bool:
        """Read and apply one batch; True when the batch was short (caught up at the time of the read)."""
        records = self.tail.read_after(self.position, self.batch)
        if records:
            try:
                applied = self.projection.apply(records, after=self.position)
            except PositionMoved as e:
                self.moved += 1
                log.info("follower_position_moved", projection=self.projection.name, expected=e.expected,
                         found=e.found)
                self.position = self.projection.position()
                return False
            now = time.time()
            self.position = records[-1].position
            self.commits += applied.commits
            self.events += applied.events
            if applied.record_times:
                self.newest_time = applied.record_times[-1]
            self.rate.append((time.monotonic(), applied.events))
            if self.on_batch is not None:
                self.on_batch(self.projection.name, applied, now)
        return len(records) < self.batch

    def drain(self, stop: threading.Event | None = None) -> None:
        """From the projection's tracked position, apply batches until one comes back short (caught up
        at the time of its read) or ``stop`` is set."""
        self.position = self.projection.position()
        while not (stop is not None and stop.is_set()) and not self.step():
            pass

    def refresh(self, caught_up: bool, standby: bool = False) -> FollowStatus:
        if standby:
            self.position = self.projection.position()  # what the active follower has applied
        last = self.tail.last_position()
        behind = 0 if caught_up and last == self.position else self.tail.count_after(self.position, COUNT_CAP)
        now = time.monotonic()
        while self.rate and self.rate[0][0] < now - RATE_WINDOW:
            self.rate.popleft()
        span = (now - self.rate[0][0]) if len(self.rate) > 1 else 0.0
        rate = sum(n for _, n in self.rate) / span if span > 0 else 0.0
        lag = 0.0 if behind == 0 or self.newest_time is None else max(0.0, time.time() - self.newest_time)
        self.status = FollowStatus(self.projection.name, self.position, last, self.commits, self.events, rate, lag,
                                   behind, behind >= COUNT_CAP, self.moved, behind == 0, standby)
        return self.status


class Follower:
    """Keeps ``projections`` up to date with the log of ``store``; ``run_once`` or ``run`` until stopped.

    ``run`` applies each projection in its own thread.  The store's codec (zstd
    contexts) is not thread-safe, so at most one projection may decode with it
    (the checkpoint projection reads sessions through the store); the read
    model decodes with its own codec.  Do not use ``store`` from other threads
    while a follower runs.
    """

    def __init__(self, store: EventStore, projections: Sequence[FollowedProjection], *, poll_interval: float | None = None,
                 batch: int = BATCH, on_batch: OnBatch | None = None) -> None:
        if not isinstance(store, RecorderEventStore):
            store = getattr(store, "raw", store)
        if not isinstance(store, RecorderEventStore):
            raise StoreError(f"{store.url_for_display} cannot be followed")
        if batch < 1:
            raise UsageError("a follower's batch must be at least 1 record")
        names = [p.name for p in projections]
        if len(set(names)) != len(names):
            raise UsageError(f"a projection is named twice: {', '.join(names)}")
        self.store = store
        self.workers = [_Worker(p, LogTail(store, poll_interval=poll_interval, page=batch), batch, on_batch)
                        for p in projections]

    def run_once(self, stop: threading.Event | None = None) -> list[FollowStatus]:
        """Apply everything committed so far to every projection, then return their status.

        ``stop`` (set by a signal, say) ends it between two batches: what was applied stays.
        """
        for w in self.workers:
            w.drain(stop)
            w.refresh(caught_up=stop is None or not stop.is_set())
        return self.status()

    def run(self, stop: threading.Event, on_status: Callable[[list[FollowStatus]], None] | None = None,
            status_every: float = STATUS_EVERY) -> list[FollowStatus]:
        """Follow until ``stop`` is set (each projection in its own thread); ``on_status`` every ``status_every`` s.

        An error in any projection stops them all and is raised here.
        """
        threads = [threading.Thread(target=self._loop, args=(w, stop, status_every), name=f"follow-{w.projection.name}",
                                    daemon=True) for w in self.workers]
        for t in threads:
            t.start()
        try:
            while not stop.wait(status_every):
                if on_status is not None:
                    on_status(self.status())
        finally:
            stop.set()
            for t in threads:
                t.join()
        for w in self.workers:
            if w.error is not None:
                raise w.error
        return self.status()

    def _loop(self, w: _Worker, stop: threading.Event, status_every: float) -> None:
        """Follow until ``stop``; a store that is unreachable for a while is retried (backing off to 30 s).

        Damaged data (a corrupt record, an unknown event type) is not retried: it
        stops the follower with the error, since skipping it would lose a commit.
        """
        backoff = 0.0
        while not stop.is_set():
            try:
                self._follow(w, stop, status_every)
                return
            except StoreError as e:
                if isinstance(e, FATAL) or stop.is_set():
                    return self._fail(w, stop, e)
                backoff = min(30.0, backoff * 2 or 0.5)
                log.warning("follower_retrying", projection=w.projection.name, in_seconds=backoff,
                            error=f"{type(e).__name__}: {e}")
                stop.wait(backoff)
            except BaseException as e:  # noqa: BLE001 - handed to run(), which raises it in the caller's thread
                return self._fail(w, stop, e)

    @staticmethod
    def _follow(w: _Worker, stop: threading.Event, status_every: float) -> None:
        make_lease = getattr(w.projection, "follow_lease", None)
        lease = make_lease() if make_lease is not None else None
        if lease is None:
            Follower._apply_until_stopped(w, stop, status_every)
            return
        try:
            while not lease.try_acquire():  # another follower applies this projection: stand by
                w.refresh(caught_up=False, standby=True)
                if stop.wait(STANDBY_POLL):
                    return
            log.info("follower_active", projection=w.projection.name)
            Follower._apply_until_stopped(w, stop, status_every)
        finally:
            lease.release()

    @staticmethod
    def _apply_until_stopped(w: _Worker, stop: threading.Event, status_every: float) -> None:
        w.position = w.projection.position()
        with w.tail.waiter() as wait:
            refreshed = 0.0
            while not stop.is_set():
                short = w.step()
                if time.monotonic() - refreshed >= status_every or w.status is None:
                    w.refresh(caught_up=short)
                    refreshed = time.monotonic()
                if short:
                    wait(w.tail.poll_interval, stop)

    @staticmethod
    def _fail(w: _Worker, stop: threading.Event, e: BaseException) -> None:
        w.error = e
        log.error("follower_failed", projection=w.projection.name, error=f"{type(e).__name__}: {e}")
        stop.set()

    def status(self) -> list[FollowStatus]:
        """The latest status of every projection that has reported one (each worker refreshes its own)."""
        return [w.status for w in self.workers if w.status is not None]

    def close(self) -> None:
        for w in self.workers:
            w.projection.close()


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[threading.Event]:
    """SIGINT and SIGTERM set ``stop`` (a graceful stop: the batch in progress commits or rolls back whole)."""
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for s in previous:
        signal.signal(s, lambda *_: stop.set())
    try:
        yield stop
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
