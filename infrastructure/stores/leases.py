"""The single live writer: a lease per session in the store's own database.

Opening a session for writing takes its lease (``tape_leases``) or fails at
once with SessionLocked naming the holder.  The holder renews it from a
heartbeat thread and releases it on close.  A lease is taken over when its
holder is gone: same host and the pid no longer runs (kill -9 frees the
session at once), or its heartbeat is older than ``TAPE_LEASE_TIMEOUT`` seconds
(another host died).  Heartbeats are written and judged by the database's clock,
not the hosts': a host whose clock ran a minute behind would otherwise have its
live lease taken over, and one whose clock ran ahead would hold a dead one for
as long as it was ahead.

The lease is also a *fencing token*: its row's ``token`` is registered with the
event store, and every append proves, inside its own insert transaction, that
the row still holds it (``records/stream_head.py``).  A holder paused past the
timeout (SIGSTOP, a laptop asleep, a long GC pause) is taken over; when it
continues, its next commit is refused with ``LeaseLost`` naming the new holder,
and writes nothing.  The store's optimistic concurrency (ConflictError) stays
underneath for writers without a lease.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tapevm.domain.errors import SessionLocked, StoreClosed, TapeError
from tapevm.domain.ports import EventStore
from tapevm.infrastructure.config import Settings
from tapevm.infrastructure.logs import get_logger
from tapevm.infrastructure.stores.event_store import RecorderEventStore
from tapevm.infrastructure.stores.records.stream_head import LeaseFence
from tapevm.infrastructure.stores.side_tables import SideTables

log = get_logger("tapevm.lease")

LEASE_TABLE = "tape_leases"
# Overrides for tests: None reads TAPE_LEASE_TIMEOUT when a lease is checked, and beats a quarter of it.
LEASE_TIMEOUT: float | None = None
HEARTBEAT: float | None = None
# Tokens of the leases this process holds: a row with this process's pid and another token is one it
# could not release (a full disk refuses even that delete), not a live writer.
_HELD: set[str] = set()


@dataclass(frozen=True)
class LeaseHolder:
    session: str
    pid: int
    host: str
    since: float
    heartbeat: float

    def describe(self) -> str:
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.since))
        return f"pid {self.pid} on {self.host} since {since}"


def lease_timeout() -> float:
    """Seconds without a heartbeat after which a lease held from another host is taken over.

    ``TAPE_LEASE_TIMEOUT`` (see ``config.parse_lease_timeout``), read from the environment when a lease
    is taken or checked: a bad value fails what uses leases, not every command.
    """
    return LEASE_TIMEOUT if LEASE_TIMEOUT is not None else Settings.from_environment().lease_timeout_seconds()


# Lease times tapevm can write and show: from the epoch to the year 5138 (time.gmtime's range ends in 9999).
_LATEST_TIME = 1e11


def _holder(row: Sequence[Any]) -> LeaseHolder | None:
    """A lease row ``(session, pid, host, since, heartbeat, ...)`` as its holder; None for a row tapevm
    never writes (edited by hand, or damaged): a pid that is not one, a time that is not a time.

    No live writer holds such a row, so it counts as a dead holder's and is taken over; reading it
    as it is failed every command that looks at leases (``int('abc')``, ``gmtime(1e300)``).
    """
    try:
        holder = LeaseHolder(str(row[0]), int(row[1]), str(row[2]), float(row[3]), float(row[4]))
    except (TypeError, ValueError, OverflowError):
        return None
    if not (0 < holder.pid < 2**31 and 0 <= holder.since < _LATEST_TIME and 0 <= holder.heartbeat < _LATEST_TIME):
        return None  # (nan fails too)
    return holder


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def lease_table(db: SideTables) -> str:
    """The lease table's name on ``db``, the table created if missing."""
    table = db.table(LEASE_TABLE)
    db.execute(f"CREATE TABLE IF NOT EXISTS {table} (session TEXT PRIMARY KEY, pid BIGINT NOT NULL, "
               "host TEXT NOT NULL, since DOUBLE PRECISION NOT NULL, heartbeat DOUBLE PRECISION NOT NULL, "
               "token TEXT NOT NULL)")
    return str(table)


def lease_holder(store: EventStore, stream: str) -> LeaseHolder | None:
    """The live holder of ``stream``'s lease, or None (a dead holder counts as none)."""
    timeout = lease_timeout()  # (a bad TAPE_LEASE_TIMEOUT is refused whether or not a row is there)
    db = SideTables(store)
    rows = db.query(f"SELECT session, pid, host, since, heartbeat, token, {db.now} FROM {lease_table(db)} "
                    "WHERE session = ?", (stream,))
    if not rows:
        return None
    holder = _holder(rows[0])
    return None if holder is None or _is_dead(holder, timeout, rows[0][6]) else holder


def _is_dead(holder: LeaseHolder, timeout: float, now: float) -> bool:
    """Whether ``holder`` is gone, ``now`` being the database's clock when its row was read.

    A heartbeat more than ``timeout`` ahead of that clock was not written by a live writer (they
    write the database's time): a hand edit, or a version that wrote its host's time.
    """
    if holder.host == socket.gethostname() and not _alive(holder.pid):
        return True
    return abs(now - holder.heartbeat) > timeout


class WriterLease:
    """A held lease; ``release`` (or garbage collection of the process) ends it."""

    def __init__(self, store: EventStore, stream: str, name: str | None = None) -> None:
        self.timeout = lease_timeout()  # (refused before any row is read or written)
        self.heartbeat = HEARTBEAT if HEARTBEAT is not None else self.timeout / 4
        self.db = SideTables(store)
        self.table = lease_table(self.db)
        self.stream = stream
        self.store = store
        self.token = uuid.uuid4().hex
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._acquire(name or stream)

    def _acquire(self, name: str) -> None:
        pid, host = os.getpid(), socket.gethostname()
        for _ in range(3):
            rows = self.db.query(f"SELECT session, pid, host, since, heartbeat, token, {self.db.now} "
                                 f"FROM {self.table} WHERE session = ?", (self.stream,))
            if rows:
                holder = _holder(rows[0])
                if holder is not None:
                    mine = (holder.pid, holder.host) == (pid, host) and str(rows[0][5]) not in _HELD
                    if not (mine or _is_dead(holder, self.timeout, rows[0][6])):
                        raise SessionLocked(f"session {name!r} is open for writing by {holder.describe()}; "
                                            "close it there, or read it with log/state/diff")
                log.info("lease_taken_over", session=self.stream, dead_pid=rows[0][1], host=rows[0][2])
                # compare-and-swap on the dead holder's heartbeat, as stored: two takers cannot both win
                got = self.db.run([(f"DELETE FROM {self.table} WHERE session = ? AND heartbeat = ? AND pid = ?",
                                    (self.stream, rows[0][4], rows[0][1])),
                                   (f"SELECT COUNT(*) FROM {self.table} WHERE session = ?", (self.stream,))])
                if got[1][0][0]:
                    continue
            try:
                now = self.db.now
                self.db.execute(f"INSERT INTO {self.table} (session, pid, host, since, heartbeat, token) "
                                f"VALUES (?, ?, ?, {now}, {now}, ?)", (self.stream, pid, host, self.token))
            except TapeError:
                if not self.db.query(f"SELECT 1 FROM {self.table} WHERE session = ?", (self.stream,)):
                    raise  # nobody holds it: the insert failed for its own reason (a full disk...)
                continue  # someone inserted first: look again
            _HELD.add(self.token)
            if isinstance(self.store, RecorderEventStore):
                self.store.hold_lease(self.stream, LeaseFence(self.table, self.token))
            self._thread = threading.Thread(target=self._beat, name=f"tape-lease-{self.stream}", daemon=True)
            self._thread.start()
            return
        raise SessionLocked(f"session {name!r} is being opened by another process; try again")

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat):
            try:
                self.db.execute(f"UPDATE {self.table} SET heartbeat = {self.db.now} WHERE session = ? AND token = ?",
                                (self.stream, self.token))
            except StoreClosed:  # the store went away under an unclosed session: the lease lapses with it
                log.debug("lease_heartbeat_stopped", session=self.stream, reason="store closed")
                return
            except Exception as e:  # noqa: BLE001 - a transient store error must not kill the writer; the lease may lapse
                log.warning("lease_heartbeat_failed", session=self.stream, error=f"{type(e).__name__}: {e}")

    def release(self) -> None:
        _HELD.discard(self.token)  # released as far as this process goes, even if the row cannot be deleted
        if isinstance(self.store, RecorderEventStore):
            self.store.release_lease(self.stream, self.token)
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        try:
            self.db.execute(f"DELETE FROM {self.table} WHERE session = ? AND token = ?", (self.stream, self.token))
        except TapeError as e:
            log.warning("lease_release_failed", session=self.stream, error=str(e))
