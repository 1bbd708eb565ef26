"""Checkpoints tampered with in SQL, through the real ``tape`` command, on SQLite and PostgreSQL.

A checkpoint is a cache that is trusted only when it is bound to its session and to the records
it covers (its seal); one that is not is ignored and dropped, never served.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.cli.conftest import TAPE

FRAMES = "tape_checkpoint_frames"
PACKS = "tape_checkpoint_packs"
EVERY_4 = {"TAPE_CHECKPOINT_INTERVAL": "4"}

Sql = Callable[[str, tuple[Any, ...]], list[tuple[Any, ...]]]
Tape = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def tape(tmp_path: Path) -> Tape:
    """The real ``tape`` console script, with its own TAPE_HOME (as tests/cli's fixture)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAPE_")} | {"TAPE_HOME": str(tmp_path / "home")}

    def run(*args: str, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([TAPE, *args], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                              env={**env, **(extra_env or {})}, check=False)

    return run


@contextmanager
def _sql(store_url: str) -> Iterator[Sql]:
    """Run statements on the store's database directly, as someone with access to it could."""
    if "://" not in store_url:
        conn = sqlite3.connect(store_url, isolation_level=None)

        def run_sqlite(sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
            return conn.execute(sql, params).fetchall()

        try:
            yield run_sqlite
        finally:
            conn.close()
        return
    import psycopg

    parts = urlsplit(store_url)
    schema = parse_qs(parts.query)["schema"][0]
    with psycopg.connect(parts._replace(query="").geturl(), autocommit=True) as pg:
        pg.execute(f'SET search_path TO "{schema}"')

        def run_pg(sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
            cur = pg.execute(sql.replace("?", "%s"), params)
            return cur.fetchall() if cur.description else []

        yield run_pg


def _frames(sql: Sql, stream: str) -> list[int]:
    return [r[0] for r in sql(f"SELECT seq FROM {FRAMES} WHERE session=? ORDER BY seq", (stream,))]


def test_another_sessions_checkpoints_copied_over_are_never_served(tape: Tape, store_url: str) -> None:
    """B's checkpoint rows copied over A's (same event numbers, same event types): ``eval`` printed B's
    value and committed it into A's log as a validly chained result.  Now A's value, and the copies go."""
    s = ("--store", store_url)
    for stream, value in (("a", 1), ("b", 2)):
        for _ in range(3):  # the same events in both but for the values
            assert tape(*s, "eval", "-i", stream, f"(define x {value})", extra_env=EVERY_4).returncode == 0
    with _sql(store_url) as sql:
        assert _frames(sql, "a") == _frames(sql, "b") != []
        sql(f"DELETE FROM {FRAMES} WHERE session='a'", ())
        sql(f"DELETE FROM {PACKS} WHERE session='a'", ())
        columns = "seq, kind, base, version, events_hash, tip, payload_hash, raw_size, created_at, payload"
        sql(f"INSERT INTO {FRAMES} (session, {columns}) SELECT 'a', {columns} FROM {FRAMES} WHERE session='b'", ())
        r = tape(*s, "eval", "-i", "a", "x")
        assert (r.returncode, r.stdout) == (0, "1\n"), r.stderr
        assert "checkpoint_ignored" in r.stderr and "not sealed to this session's log" in r.stderr
        r = tape(*s, "state", "-i", "a", "--json")
        assert json.loads(r.stdout)["namespaces"]["user"]["x"] == "1"
        log = [json.loads(line) for line in tape(*s, "log", "-i", "a", "--json").stdout.splitlines()]
        assert log[-1]["type"] == "FormEvaluated" and log[-1]["data"]["result"]["value"] == "1"
        tips = f"SELECT seq, tip FROM {FRAMES} WHERE session=?"
        assert not set(sql(tips, ("a",))) & set(sql(tips, ("b",)))  # the copies were dropped
        assert tape(*s, "eval", "-i", "b", "x").stdout == "2\n"


def test_forged_checkpoints_are_never_served(tape: Tape, store_url: str) -> None:
    """B's checkpoints forged into A's rows without recomputing checksums: B's payloads (and their checksums)
    under A's rows, then B's whole rows with A's seals written in.  The payload checksum is taken over the
    seal, so neither checks; A's value is served every time."""
    s = ("--store", store_url)
    for stream, value in (("a", 1), ("b", 2)):
        for _ in range(3):
            assert tape(*s, "eval", "-i", stream, f"(define x {value})", extra_env=EVERY_4).returncode == 0
    with _sql(store_url) as sql:
        seqs = _frames(sql, "a")
        assert seqs == _frames(sql, "b") != []
        for seq in seqs:
            payload, checksum = sql(f"SELECT payload, payload_hash FROM {FRAMES} WHERE session='b' AND seq=?",
                                    (seq,))[0]
            sql(f"UPDATE {FRAMES} SET payload=?, payload_hash=? WHERE session='a' AND seq=?", (payload, checksum, seq))
        r = tape(*s, "eval", "-i", "a", "x")
        assert (r.returncode, r.stdout) == (0, "1\n"), r.stderr
        assert "checkpoint_ignored" in r.stderr and "payload checksum mismatch" in r.stderr

        seals = dict(sql(f"SELECT seq, tip FROM {FRAMES} WHERE session='a'", ()))
        sql(f"DELETE FROM {FRAMES} WHERE session='a'", ())
        columns = "seq, kind, base, version, events_hash, payload_hash, raw_size, created_at, payload"
        sql(f"INSERT INTO {FRAMES} (session, tip, {columns}) SELECT 'a', 0, {columns} FROM {FRAMES} "
            "WHERE session='b'", ())
        for seq, seal in seals.items():
            sql(f"UPDATE {FRAMES} SET tip=? WHERE session='a' AND seq=?", (seal, seq))
        r = tape(*s, "eval", "-i", "a", "x")
        assert (r.returncode, r.stdout) == (0, "1\n"), r.stderr


def test_a_record_deleted_behind_a_checkpoint_stops_every_reader(tape: Tape, store_url: str) -> None:
    """With a checkpoint at event 10 and the record of events 5-7 deleted, ``eval`` answered and committed
    on top of the hole.  Now the store's witness of deleted records (a trigger) names the hole when
    the checkpoint's seal is checked, and every command that serves the session from past it fails
    in one line."""
    s = ("--store", store_url)
    for value in range(4):  # records 1, 2-4, 5-7, 8-10, 11-13: checkpoints at 4 and 10
        assert tape(*s, "eval", "-i", "a", f"(define x {value})", extra_env=EVERY_4).returncode == 0
    with _sql(store_url) as sql:
        assert _frames(sql, "a") == [4, 10]
        sql("DELETE FROM stored_events WHERE originator_id='a' AND originator_version=5", ())
        damage = ("error: session 'a': events 5..7 are missing from the store (a record was deleted or lost); "
                  "'tape verify -i a' reports the damage\n")
        for args in (("eval", "-i", "a", "(define y 1)"), ("state", "-i", "a"), ("info", "-i", "a"),
                     ("state", "-i", "a", "--at", "10")):
            r = tape(*s, *args)
            assert r.returncode == 1 and r.stderr.endswith(damage) and not r.stdout, (args, r.stdout, r.stderr)
        heads = sql("SELECT MAX(originator_version) FROM stored_events WHERE originator_id='a'", ())
        assert heads == [(11,)]  # nothing was committed on top of the hole
        r = tape(*s, "state", "-i", "a", "--at", "4")
        assert r.returncode == 0 and "x" in r.stdout


def test_checkpoints_verify_drops_what_it_says_it_drops(tape: Tape, store_url: str) -> None:
    """``tape checkpoints verify`` said bad checkpoints "are dropped" and kept them."""
    s = ("--store", store_url)
    for value in range(4):
        assert tape(*s, "eval", "-i", "a", f"(define x {value})", extra_env=EVERY_4).returncode == 0
    with _sql(store_url) as sql:
        assert _frames(sql, "a") == [4, 10]
        sql(f"UPDATE {FRAMES} SET events_hash=events_hash+1 WHERE session='a' AND seq=10", ())
        r = tape(*s, "checkpoints", "verify", "-i", "a")
        assert r.returncode == 1 and r.stdout.startswith("2 checkpoints checked, 1 bad, dropped\n")
        assert "event 10: events hash mismatch" in r.stdout
        assert _frames(sql, "a") == [4]
        r = tape(*s, "checkpoints", "verify", "-i", "a")
        assert r.returncode == 0, r.stdout
    assert tape(*s, "eval", "-i", "a", "x").stdout == "3\n"


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_a_fork_reads_through_its_sources_sealed_checkpoints(tape: Tape, store_url: str) -> None:
    """A fork's first reads use its source's checkpoints, sealed to the source's stream: still served."""
    s = ("--store", store_url)
    for value in range(3):
        assert tape(*s, "eval", "-i", "a", f"(define x {value})", extra_env=EVERY_4).returncode == 0
    assert tape(*s, "fork", "a", "f").returncode == 0
    r = tape(*s, "eval", "-i", "f", "x", extra_env=EVERY_4)
    assert (r.returncode, r.stdout) == (0, "2\n"), r.stderr
