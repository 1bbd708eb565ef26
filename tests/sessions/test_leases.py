"""The single live writer, in one process and across processes, on both backends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import structlog.testing

from tapevm.domain.errors import LeaseLost, SessionLocked
from tapevm.domain.events import Defined, RecordedEvent
from tapevm.infrastructure.session.service import open_session
from tapevm.infrastructure.stores import leases as session_lease
from tapevm.infrastructure.stores.factory import open_store
from tapevm.infrastructure.stores.leases import lease_holder
from tapevm.infrastructure.stores.side_tables import SideTables

HOLDER = """
import sys, time
from tapevm.infrastructure.session.service import open_session
s = open_session("w", sys.argv[1])
s.eval("(define held 1)")
print("ready", flush=True)
time.sleep(120)
"""


def test_second_writer_refused_reader_allowed_release_frees(store_url: str) -> None:
    with open_store(store_url) as store:
        s = open_session("w", store)
        holder = lease_holder(store, "w")
        assert holder is not None and holder.pid == os.getpid()
        with pytest.raises(SessionLocked, match=f"pid {os.getpid()}"):
            open_session("w", store)
        with open_session("w", store, writable=False, create=False) as r:
            assert r.head == s.head
        s.close()
        assert lease_holder(store, "w") is None
        with open_session("w", store) as again:
            again.eval("(define x 1)")


def test_heartbeat_keeps_a_live_lease(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session_lease, "LEASE_TIMEOUT", 0.6)
    monkeypatch.setattr(session_lease, "HEARTBEAT", 0.1)
    with open_store(store_url) as store, open_session("w", store) as s:
        time.sleep(1.5)  # several timeouts long: only the heartbeat keeps it
        holder = lease_holder(store, "w")
        assert holder is not None and time.time() - holder.heartbeat < 0.6
        s.eval("(define y 2)")


def test_heartbeat_stops_quietly_when_the_store_closes_under_an_open_session(
        store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A script that closes its store before its session must not get a warning every heartbeat."""
    monkeypatch.setattr(session_lease, "HEARTBEAT", 0.05)
    with structlog.testing.capture_logs() as logs:
        with open_store(store_url) as store:
            s = open_session("w", store)
            beat = s._lease._thread  # type: ignore[union-attr]
        assert beat is not None
        beat.join(timeout=5)
    assert not beat.is_alive()  # it stopped by itself (the session was never closed)
    assert [e["event"] for e in logs if e["event"].startswith("lease_")] == []


def test_killed_holder_process_is_taken_over(store_url: str) -> None:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, store_url], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        while proc.stdout.readline().strip() != "ready":  # structlog's default output comes first
            assert proc.poll() is None
        with open_store(store_url) as store:
            with pytest.raises(SessionLocked, match=f"pid {proc.pid} on"):
                open_session("w", store)
            proc.kill()  # SIGKILL: no chance to release
            proc.wait(timeout=10)
            with open_session("w", store) as s:
                assert s.eval("held") == 1
                s.eval("(define after 2)")
    finally:
        if proc.poll() is None:
            proc.kill()


def test_a_lease_this_process_could_not_release_is_taken_over_here(store_url: str,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Closing a session on a full disk cannot delete its lease row (the delete is a write too): the
    process that left it takes it over when it opens the session again, rather than refusing itself."""
    from tapevm.domain.errors import StoreError
    from tapevm.infrastructure.stores.side_tables import SideTables

    with open_store(store_url) as store:
        s = open_session("w", store)
        original = SideTables.execute

        def full(self: SideTables, sql: str, params: tuple[object, ...] = ()) -> None:
            if sql.startswith("DELETE"):
                raise StoreError("could not use the store: database or disk is full")
            original(self, sql, params)

        with monkeypatch.context() as m, structlog.testing.capture_logs() as logs:
            m.setattr(SideTables, "execute", full)
            s.close()
        assert [e["event"] for e in logs if e["event"].startswith("lease")] == ["lease_release_failed"]
        assert lease_holder(store, "w") is not None  # the row is still there
        with open_session("w", store) as again:  # refused itself before ("open for writing by pid <own>")
            assert again.eval("(+ 1 2)") == 3
        assert lease_holder(store, "w") is None


@pytest.mark.parametrize("row", [("abc", "h", 1.0, 2.0), (99_999_999_999, "elsewhere", 1e300, 1e300),
                                 (123, "elsewhere", "x", "y"), (0, "here", 0.0, 0.0)])
def test_a_lease_row_tapevm_never_writes_counts_as_a_dead_holders(sqlite_path: str, row: tuple[object, ...]) -> None:
    # a pid that is no number or no pid, a time gmtime cannot show: every command that looked at the
    # row failed with an internal error (ValueError, OverflowError), and pid 0 held the session forever
    import socket
    import sqlite3

    from tapevm.infrastructure.session_summaries import list_sessions

    with open_session("w", sqlite_path) as s:
        s.eval("(define x 1)")
    if row[1] == "here":  # pid 0 on this host, beating now: os.kill(0, 0) signals the process group
        row = (0, socket.gethostname(), time.time(), time.time())
    db = sqlite3.connect(sqlite_path)
    db.execute("INSERT INTO tape_leases VALUES ('w', ?, ?, ?, ?, 't')", row)
    db.commit()
    db.close()
    with open_store(sqlite_path) as store:
        assert lease_holder(store, "w") is None
        assert [i.writer for i in list_sessions(store)] == [None]
        with open_session("w", store) as again:  # taken over like a dead holder's
            assert again.eval("(+ x 1)") == 2
        assert lease_holder(store, "w") is None


def test_a_live_writer_whose_host_clock_runs_behind_keeps_its_lease(store_url: str,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Heartbeats are the database's time: a writer on a host an hour behind wrote heartbeats an hour
    old, and every other host (or this one, once its clock was set right) took its live lease over."""
    real = time.time
    with open_store(store_url) as store:
        with monkeypatch.context() as m:
            m.setattr(time, "time", lambda: real() - 3600)
            s = open_session("w", store)
        try:
            holder = lease_holder(store, "w")
            assert holder is not None and holder.pid == os.getpid()
            assert abs(holder.heartbeat - real()) < 60
        finally:
            s.close()


def test_a_dead_holder_whose_host_clock_ran_ahead_does_not_hold_the_session(store_url: str) -> None:
    """A heartbeat an hour ahead of the database's clock is no live writer's: it held the session for
    that hour before (now - heartbeat is negative, never over the timeout)."""
    from tapevm.infrastructure.stores.side_tables import SideTables

    with open_store(store_url) as store:
        with open_session("w", store) as s:
            s.eval("(define x 1)")
        db = SideTables(store)
        ahead = time.time() + 3600
        db.execute(f"INSERT INTO {db.table('tape_leases')} VALUES ('w', 4242, 'elsewhere', ?, ?, 't')",
                   (ahead, ahead))
        assert lease_holder(store, "w") is None
        with open_session("w", store) as again:
            assert again.eval("(+ x 1)") == 2


PAUSED_WRITER = """
import sys
from tapevm.infrastructure.session.service import open_session
s = open_session("w", sys.argv[1])
s.eval("(define before 1)")
print("ready", flush=True)
sys.stdin.readline()  # (the test stops this process past the lease timeout, then wakes it and writes a line)
try:
    s.eval("(define late (list 1 2 3))")
    print("committed", flush=True)
except Exception as e:
    print(f"refused {type(e).__name__}: {e}", flush=True)
print("head", s.store.last_seq(s.stream), flush=True)
"""


def test_a_writer_paused_past_the_lease_timeout_writes_nothing_and_the_new_holder_goes_on(
        store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGSTOP a writer past TAPE_LEASE_TIMEOUT, take its lease over, wake it: its next form is refused
    with the new holder named (the fence is checked inside its insert), and the new holder's form commits.
    Before the fence, the paused writer's form committed and the new holder's was refused ("moved on")."""
    monkeypatch.setattr(session_lease, "LEASE_TIMEOUT", 1.0)
    env = {**os.environ, "TAPE_LEASE_TIMEOUT": "1"}
    proc = subprocess.Popen([sys.executable, "-c", PAUSED_WRITER, store_url], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None and proc.stdin is not None
        while proc.stdout.readline().strip() != "ready":
            assert proc.poll() is None
        os.kill(proc.pid, signal.SIGSTOP)
        time.sleep(1.6)  # past the timeout: its heartbeat is stale
        with open_store(store_url) as store, open_session("w", store) as s:
            head = s.head
            os.kill(proc.pid, signal.SIGCONT)
            proc.stdin.write("go\n")
            proc.stdin.flush()
            out = [proc.stdout.readline().strip(), proc.stdout.readline().strip()]
            assert out[0].startswith("refused LeaseLost: session 'w': lost the writer lease to "
                                     f"pid {os.getpid()} on host "), out
            assert out[1] == f"head {head}"  # it wrote nothing
            s.eval("(define mine 2)")  # the holder's form commits
            assert s.eval("mine") == 2 and s.head > head
        with open_session("w", store_url, writable=False, create=False) as r:
            names = {name for b in r.state.namespaces.values() for name in b}
            assert {"before", "mine"} <= names and "late" not in names
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGCONT)
            proc.kill()
        proc.wait(timeout=10)


@pytest.mark.parametrize("groups", [1, 2], ids=["one record", "two records"])
def test_an_append_under_a_lease_taken_over_is_refused_whole(store_url: str, groups: int) -> None:
    """The fence is checked in the insert's own transaction on both write paths (one record; several
    records in one transaction), whoever holds the lease row now: nothing of the append lands."""
    def events(first: int, n: int) -> list[RecordedEvent]:
        return [RecordedEvent("w", first + i, first, 0.0, Defined(ns="user", name=f"x{first + i}", value=i))
                for i in range(n)]

    with open_store(store_url) as store:
        lease = session_lease.WriterLease(store, "w")
        store.append_records([events(1, 2)])  # the holder writes
        db = SideTables(store)
        db.execute(f"UPDATE {lease.table} SET pid = 4242, host = 'elsewhere', token = 'theirs' WHERE session = ?",
                   ("w",))
        with pytest.raises(LeaseLost, match="lost the writer lease to pid 4242 on host elsewhere"):
            store.append_records([events(3, 1), events(4, 2)][:groups])
        assert store.last_seq("w") == 2
        db.execute(f"DELETE FROM {lease.table} WHERE session = ?", ("w",))
        with pytest.raises(LeaseLost, match="lost the writer lease: it lapsed"):
            store.append_records([events(3, 1), events(4, 2)][:groups])
        assert store.last_seq("w") == 2
        lease.release()
        store.append_records([events(3, 1)])  # without a lease: not fenced
        assert store.last_seq("w") == 3
