"""The hash chain: tampering directly with the database is reported at the exact event, on both backends."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import xxhash
import zstandard

from tapevm.domain.errors import ChainKeyRefused, UsageError
from tapevm.infrastructure.branches.forks import fork
from tapevm.infrastructure.integrity import chain_head, verify_chain
from tapevm.infrastructure.session.service import open_session
from tapevm.infrastructure.stores.factory import open_store
from tapevm.infrastructure.stores.records.chain_link import compute_link
from tapevm.infrastructure.stores.records.record_codec import LINKED, record_link

PROGRAM = "(define x 1)\n(define y (list 1 2 3))\n(print 5)\n(+ 1 2)\n(define z \"zzz\")\n"
# records: [1] SessionStarted, [2-4] x, [5-8] y, [9-11] print, [12-13] (+ 1 2), [14-16] z


def record(store_url: str) -> str:
    with open_session("a", store_url) as s:
        s.run(PROGRAM)
        head = chain_head(s)
    assert head is not None
    return head


class Db:
    """Direct access to the stored rows, as an attacker (or a bad disk) would have."""

    def __init__(self, store_url: str) -> None:
        self.url = store_url
        if "://" in store_url:
            import psycopg

            base, _, schema = store_url.partition("?schema=")
            self.conn: Any = psycopg.connect(base, autocommit=True)
            self.table = f'"{schema}".stored_events'
            self.ph = "%s"
        else:
            import sqlite3

            self.conn = sqlite3.connect(store_url, isolation_level=None)
            self.table = "stored_events"
            self.ph = "?"

    def q(self, sql: str, *args: Any) -> list[Any]:
        cur = self.conn.execute(sql.replace("?", self.ph).replace(" T ", f" {self.table} "), args)
        return cur.fetchall() if cur.description else []

    def row(self, version: int) -> tuple[str, bytes]:
        topic, state = self.q("SELECT topic, state FROM T WHERE originator_version=?", version)[0]
        return topic, bytes(state)

    def set(self, version: int, topic: str, state: bytes) -> None:
        self.q("UPDATE T SET topic=?, state=? WHERE originator_version=?", topic, state, version)

    def close(self) -> None:
        self.conn.close()


@pytest.fixture
def db(store_url: str) -> Any:
    record(store_url)
    d = Db(store_url)
    yield d
    d.close()


def check(store_url: str, **kw: Any) -> Any:
    with open_store(store_url) as store:
        return verify_chain(store, "a", **kw)


def test_intact_log_verifies_and_head_matches(store_url: str) -> None:
    head = record(store_url)
    r = check(store_url)
    assert r.ok and r.events == 16 and r.records == 6 and r.head == head
    assert check(store_url, expected_head=head).ok


def test_changed_byte_is_reported_at_its_record(db: Db, store_url: str) -> None:
    topic, state = db.row(5)
    db.set(5, topic, state[:-3] + bytes([state[-3] ^ 1]) + state[-2:])
    r = check(store_url)
    assert not r.ok and r.problem == "altered" and (r.first_bad, r.last_bad) == (5, 8)
    assert r.message.startswith("event 5 (its commit holds events 5-8): checksum mismatch")
    assert r.events == 4  # everything before it checked out


def test_a_record_replaced_by_null_is_reported_as_altered(db: Db, store_url: str) -> None:
    db.q("UPDATE T SET state=NULL WHERE originator_version=?", 5)
    r = check(store_url)
    assert not r.ok and r.problem == "altered" and (r.first_bad, r.last_bad) == (5, 8)
    assert "replaced by NULL" in r.message


def test_rebuilt_checksum_is_caught_by_the_link(db: Db, store_url: str) -> None:
    import xxhash

    topic, state = db.row(9)
    body = state[41:].replace(b"5", b"6") if state[0] & 1 == 0 else None
    if body is None:  # compressed: change the chain link instead (the attacker cannot recompute it honestly)
        forged = state[:9] + bytes(32) + state[41:]
    else:
        checksum = xxhash.xxh3_64_intdigest(f"a\x009\x00{topic}\x00".encode() + body)
        forged = state[:1] + checksum.to_bytes(8, "big") + state[9:41] + body
    db.set(9, topic, forged)
    r = check(store_url)
    assert not r.ok and r.first_bad == 9 and "chain link mismatch" in r.message


def test_deleted_row_is_reported_as_missing_events(db: Db, store_url: str) -> None:
    db.q("DELETE FROM T WHERE originator_version=?", 9)
    r = check(store_url)
    assert not r.ok and r.problem == "missing" and (r.first_bad, r.last_bad) == (9, 11)
    assert r.message == "events 9-11 are missing (deleted from the log)"


def test_swapped_rows_are_reported_at_the_first(db: Db, store_url: str) -> None:
    a, b = db.row(5), db.row(12)
    db.set(5, *b)
    db.set(12, *a)
    r = check(store_url)
    assert not r.ok and r.first_bad == 5 and r.problem == "altered" and r.events == 4
    # the row at 5 now holds the 2-event record written for 12: its own topic gives the range
    assert r.message == ("event 5 (its commit holds events 5-6): checksum mismatch: the record was altered, "
                         "or moved from another position")


def test_removed_tail_is_caught_against_a_known_head(db: Db, store_url: str) -> None:
    head = check(store_url).head
    db.q("DELETE FROM T WHERE originator_version=?", 14)
    assert check(store_url).ok  # a tail cut is invisible without an anchor...
    r = check(store_url, expected_head=head)
    assert not r.ok and r.problem == "head" and r.first_bad == 14


def test_keyed_chain_needs_the_key(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAPE_CHAIN_KEY", "s3cret")
    record(store_url)
    assert check(store_url, key=b"s3cret").ok
    with pytest.raises(UsageError, match="keyed hash chain: set TAPE_CHAIN_KEY"):
        check(store_url)
    r = check(store_url, key=b"wrong")
    assert not r.ok and r.first_bad == 1 and "chain link mismatch" in r.message


def test_links_continue_across_reopen_and_old_records_still_decode(store_url: str) -> None:
    record(store_url)
    with open_session("a", store_url) as s:
        s.run("(define w 2)")
        assert s.eval("(list x w)") is not None
    r = check(store_url)
    assert r.ok and r.events == 22
    d = Db(store_url)
    try:
        topic, state = d.row(1)
        assert state[0] & LINKED
        link = record_link(state)
        assert link == compute_link(bytes(32), "a", 1, topic, state[41:], None)
    finally:
        d.close()


Tamper = Callable[[Db], None]


def test_records_from_before_the_chain_decode_and_are_reported(store_url: str) -> None:
    record(store_url)
    d = Db(store_url)
    try:
        for (version,) in d.q("SELECT originator_version FROM T ORDER BY 1"):
            topic, state = d.row(version)
            d.set(version, topic, bytes([state[0] & 0x0F]) + state[1:9] + state[41:])  # as written before chaining
    finally:
        d.close()
    r = check(store_url)
    assert r.ok and r.unlinked == 16 and r.head is None
    with open_session("a", store_url) as s:  # old records still decode; new ones start a chain
        assert s.eval("y") is not None
        s.run("(define w 1)")
    r = check(store_url)
    assert r.ok and r.unlinked == 16 and r.events == 21 and r.head is not None


KEY = "s3cret"


def tape(store_url: str, *args: str, key: str | None = KEY) -> subprocess.CompletedProcess[str]:
    """The real ``tape`` command on ``store_url``, with ``key`` as TAPE_CHAIN_KEY (None: unset)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAPE_")}
    if key is not None:
        env["TAPE_CHAIN_KEY"] = key
    command = shutil.which("tape", path=str(Path(sys.executable).parent))
    assert command is not None
    return subprocess.run([command, "--store", store_url, *args], capture_output=True, text=True, timeout=120,
                          env=env, check=False)


def strip_links(db: Db, edit: tuple[bytes, bytes] | None = None) -> None:
    """Rewrite every record of session 'a' without its link (as before the chain), optionally editing a
    value in a plain-JSON body, each with a fresh xxh3 checksum: all a forger without the key can do."""
    for (version,) in db.q("SELECT originator_version FROM T WHERE originator_id = ? ORDER BY 1", "a"):
        topic, state = db.row(version)
        body = state[41:] if state[0] & LINKED else state[9:]
        if edit is not None and state[0] & 1 == 0:
            body = body.replace(*edit)
        checksum = xxhash.xxh3_64_intdigest(f"a\x00{version}\x00{topic}\x00".encode() + body)
        db.set(version, topic, bytes([state[0] & 0x0F]) + checksum.to_bytes(8, "big") + body)


def test_a_keyed_session_whose_links_were_stripped_is_tampering_not_history(
        store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Stripping every link, editing a value and recomputing the checksums passed a keyed verify as
    "16 earlier events were written before the chain existed"; the store's keyed marker says otherwise."""
    monkeypatch.setenv("TAPE_CHAIN_KEY", KEY)
    record(store_url)
    d = Db(store_url)
    try:
        strip_links(d, (b'"zzz"', b'"zzy"'))
    finally:
        d.close()
    r = check(store_url, key=KEY.encode())
    assert not r.ok and r.problem == "unlinked" and r.first_bad == 1
    assert "its link was stripped" in r.message
    done = tape(store_url, "verify", "-i", "a")
    assert done.returncode == 1 and "NOT intact" in done.stdout and "stripped" in done.stdout, done
    with open_session("a", store_url) as s:  # a keyed writer goes on; its new links do not launder the forgery
        s.run("(define w 1)")
    r = check(store_url, key=KEY.encode())
    assert not r.ok and r.first_bad == 1
    with pytest.raises(UsageError, match="keyed hash chain: set TAPE_CHAIN_KEY"):
        check(store_url)  # without the key: never "intact"


@pytest.mark.parametrize("marker", ["deleted", "census edited"])
def test_the_keyed_marker_cannot_be_removed_or_edited_to_hide_stripped_links(
        store_url: str, monkeypatch: pytest.MonkeyPatch, marker: str) -> None:
    monkeypatch.setenv("TAPE_CHAIN_KEY", KEY)
    record(store_url)
    d = Db(store_url)
    try:
        strip_links(d)
        table = d.table.replace("stored_events", "tape_chain_keying")
        if marker == "deleted":
            d.q(f"DELETE FROM {table}")
        else:
            d.q(f"UPDATE {table} SET census = ?", '{"a":16}')
    finally:
        d.close()
    r = check(store_url, key=KEY.encode())
    assert not r.ok and r.problem == "unlinked" and r.first_bad == 1


@pytest.mark.parametrize("marker", ["kept", "absent"])
def test_records_from_before_the_chain_stay_accepted_once_the_store_is_keyed(
        store_url: str, monkeypatch: pytest.MonkeyPatch, marker: str) -> None:
    """The marker's census vouches for what was unlinked when the store was first keyed, and only that.
    Without a marker (a store keyed before markers existed), older unlinked records are accepted where a
    keyed record follows them (the chain restarts there), and a session stripped to its end is not."""
    record(store_url)
    d = Db(store_url)
    try:
        strip_links(d)  # the store as an older tapevm left it
    finally:
        d.close()
    monkeypatch.setenv("TAPE_CHAIN_KEY", KEY)
    with open_session("a", store_url) as s:  # the first keyed writer marks the store
        s.run("(define w 1)")
    d = Db(store_url)
    try:
        if marker == "absent":
            d.q(f"DELETE FROM {d.table.replace('stored_events', 'tape_chain_keying')}")
    finally:
        d.close()
    r = check(store_url, key=KEY.encode())
    assert r.ok and r.unlinked == 16 and r.events == 19
    d = Db(store_url)
    try:
        strip_links(d)  # now the keyed record too
    finally:
        d.close()
    r = check(store_url, key=KEY.encode())
    assert not r.ok and r.problem == "unlinked" and r.first_bad == (17 if marker == "kept" else 1)


@pytest.mark.parametrize("writer_key", [None, "wrong"], ids=["no key", "wrong key"])
def test_a_writer_without_the_stores_key_is_refused_before_it_writes(store_url: str, writer_key: str | None) -> None:
    """A keyless (or wrongly keyed) writer wrote into a keyed session with exit 0, leaving links that
    verify reported as "rebuilt without the key" forever."""
    assert tape(store_url, "eval", "-i", "a", "(define x 1)").returncode == 0
    done = tape(store_url, "eval", "-i", "a", "(define y 2)", key=writer_key)
    assert done.returncode != 0 and "Traceback" not in done.stderr, done
    assert "keyed" in done.stderr and "TAPE_CHAIN_KEY" in done.stderr and "nothing was written" in done.stderr
    done = tape(store_url, "eval", "-i", "other", "(define y 2)", key=writer_key)  # a new session of the store too
    assert done.returncode != 0 and "keyed" in done.stderr, done
    verified = tape(store_url, "verify", "-i", "a")
    assert verified.returncode == 0 and "intact" in verified.stdout, verified


def test_a_keyless_writer_is_refused_by_a_keyed_session_even_without_the_marker(store_url: str,
                                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A store keyed before the marker existed (or whose marker row is gone): the session's last record
    is keyed, so a keyless writer is still refused."""
    monkeypatch.setenv("TAPE_CHAIN_KEY", KEY)
    record(store_url)
    d = Db(store_url)
    try:
        d.q(f"DELETE FROM {d.table.replace('stored_events', 'tape_chain_keying')}")
    finally:
        d.close()
    monkeypatch.delenv("TAPE_CHAIN_KEY")
    with open_store(store_url) as store, open_session("a", store) as s:
        head = s.head
        with pytest.raises(ChainKeyRefused, match="session 'a' is keyed"):
            s.eval("(define q 1)")
        assert store.last_seq("a") == head


def test_verify_of_a_fork_covers_the_records_it_reads_from_its_source(db: Db, store_url: str) -> None:
    """A fork of 'a' at 8 read an altered record 2 of 'a' (re-checksummed) while its verify checked only
    its own records and said "intact"."""
    with open_store(store_url) as store:
        fork(store, "a@8", "f")
    with open_session("f", store_url) as s:
        s.run("(define own 1)")
    with open_store(store_url) as store:
        r = verify_chain(store, "f")
    assert r.ok and r.events == 12 and [(c[1], c[2]) for c in r.covered] == [(1, 8), (9, 12)]
    assert r.coverage() == "events 1-8 read from session 'a', events 9-12 its own"
    done = tape(store_url, "verify", "-i", "f", key=None)
    assert done.returncode == 0 and "events 1-8 read from session 'a'" in done.stdout, done
    topic, state = db.row(2)  # (define x 1): x becomes 7, the record re-checksummed
    body = state[41:]
    if state[0] & 1:
        body = zstandard.ZstdCompressor().compress(
            zstandard.ZstdDecompressor().decompress(body).replace(b'"name":"x","value":1}', b'"name":"x","value":7}'))
    else:
        body = body.replace(b'"name":"x","value":1}', b'"name":"x","value":7}')
    assert body != state[41:]
    checksum = xxhash.xxh3_64_intdigest(f"a\x002\x00{topic}\x00".encode() + body)
    db.set(2, topic, state[:1] + checksum.to_bytes(8, "big") + state[9:41] + body)
    with open_store(store_url) as store:
        r = verify_chain(store, "f")
    assert not r.ok and r.first_bad == 2 and r.problem == "altered" and r.events == 1
    assert r.message.startswith("in session 'a', which this session reads events 1-8 from: event 2")
    assert "chain link mismatch" in r.message
    done = tape(store_url, "verify", "-i", "f", key=None)
    assert done.returncode == 1 and "in session 'a'" in done.stdout, done


def test_verify_of_a_fork_reports_its_sources_records_deleted_up_to_the_fork_point(db: Db, store_url: str) -> None:
    """A removed tail is invisible in the source's own verify, but the fork reads those events."""
    with open_store(store_url) as store:
        fork(store, "a@8", "f")
    db.q("DELETE FROM T WHERE originator_id = ? AND originator_version >= ?", "a", 5)
    with open_store(store_url) as store:
        assert verify_chain(store, "a").ok  # (a cut tail: only a known head tells, for 'a' itself)
        r = verify_chain(store, "f")
    assert not r.ok and r.problem == "missing" and (r.first_bad, r.last_bad) == (5, 8)
    assert r.message == "in session 'a', which this session reads events 1-8 from: events 5-8 are missing " \
                        "(deleted from the log)"
