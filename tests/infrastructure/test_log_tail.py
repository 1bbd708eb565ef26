"""LogTail: the global log in commit order after a position, and new commits as they happen, on every backend."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from tapevm.domain.errors import UsageError
from tapevm.infrastructure.session.service import open_session
from tapevm.infrastructure.stores.factory import open_store
from tapevm.infrastructure.stores.log_tail import MIN_POLL_INTERVAL, LogTail


def settled(tail: LogTail, timeout: float = 20) -> list[Any]:
    """Everything after 0 once it reaches ``last_position()``: on PostgreSQL, a write transaction
    of anyone else on the shared server holds newer commits back for a moment (postgres_log.py)."""
    deadline = time.monotonic() + timeout
    while True:
        records = tail.read_after(0)
        if (records and records[-1].position == tail.last_position()) or time.monotonic() > deadline:
            return records
        time.sleep(0.01)


def test_read_after_gives_every_commit_in_order_and_resumes(store_url: str) -> None:
    with open_store(store_url) as store:
        a, b = open_session("a", store), open_session("b", store)
        for i in range(5):
            a.eval(f"(define x{i} {i})")
            b.eval(f"(define y{i} {i})")
        tail = LogTail(store)  # type: ignore[arg-type]
        records = settled(tail)
        assert len(records) == 12  # 2 session starts + 10 forms
        positions = [r.position for r in records]
        assert positions == sorted(positions) and len(set(positions)) == 12
        assert tail.last_position() == positions[-1]
        # per session, the records are that session's log, whole and in order
        for session in ("a", "b"):
            events = [e for r in records if r.session == session for e in r.events(tail.codec)]
            assert events == list(store.read(session))
        # resuming after any position gives exactly the rest
        assert tail.read_after(positions[4]) == records[5:]
        assert tail.read_after(positions[-1]) == []
        assert [r.position for r in tail.read_after(0, limit=3)] == positions[:3]


def test_follow_sees_new_commits_promptly_and_stops(store_url: str) -> None:
    with open_store(store_url) as store, open_store(store_url) as writer_store:
        writer = open_session("w", writer_store)
        tail = LogTail(store)  # type: ignore[arg-type]
        start = tail.last_position()
        stop = threading.Event()
        seen: list[tuple[float, int]] = []

        def follower() -> None:
            for record in tail.follow(start, stop):
                seen.append((time.monotonic(), record.first_seq))

        thread = threading.Thread(target=follower)
        thread.start()
        written: list[tuple[float, int]] = []
        for i in range(10):
            time.sleep(0.05)
            outcome = writer.run(f"(define z{i} {i})")[0]
            written.append((time.monotonic(), outcome.seq))
        deadline = time.monotonic() + 10
        while len(seen) < 10 and time.monotonic() < deadline:
            time.sleep(0.01)
        stop.set()
        thread.join(timeout=10)
        assert not thread.is_alive(), "follow did not stop"
        assert [s for _, s in seen] == [s for _, s in written]
        lags = [t_seen - t_written for (t_seen, _), (t_written, _) in zip(seen, written)]
        # LISTEN/NOTIFY wakes PostgreSQL followers at once (the poll fallback is 2 s); SQLite polls every 50 ms
        assert max(lags) < 1.0, lags


def test_tracking_recorder_on_the_store_database(store_url: str) -> None:
    """Followers record their position next to the log, in the store's own database."""
    from eventsourcing.persistence import Tracking

    from tapevm.infrastructure.stores.backend import open_tracking_recorder

    with open_store(store_url) as store:
        open_session("a", store).eval("(define x 1)")
        tail = LogTail(store)  # type: ignore[arg-type]
        tracking = open_tracking_recorder(store)
        assert tracking.max_tracking_id("follower") is None
        last = settled(tail)[-1].position
        tracking.insert_tracking(Tracking("follower", last))
        assert tracking.max_tracking_id("follower") == last
        assert tail.read_after(tracking.max_tracking_id("follower") or 0) == []


@pytest.mark.parametrize("interval", [1e-9, 0.0, -1.0, float("nan")])
def test_a_poll_interval_below_the_minimum_is_refused(sqlite_path: str, interval: float) -> None:
    # 1e-9 was accepted: the follower polled the store in a busy loop
    with open_store(sqlite_path) as store, pytest.raises(UsageError, match=f"at least {MIN_POLL_INTERVAL} s"):
        LogTail(store, poll_interval=interval)  # type: ignore[arg-type]
    with open_store(sqlite_path) as store:
        assert LogTail(store, poll_interval=MIN_POLL_INTERVAL).poll_interval == MIN_POLL_INTERVAL  # type: ignore[arg-type]
