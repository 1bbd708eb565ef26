"""``tape verify`` through the console script, with the SQLite file tampered with directly."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path


def _db(tmp_path: Path) -> Path:
    return tmp_path / "home" / "store.db"


def test_verify_reports_the_exact_event(tape, tmp_path: Path) -> None:
    assert tape("eval", "(define x 1) (define y (list 1 2 3)) (+ 1 2)").returncode == 0
    r = tape("verify")
    assert r.returncode == 0 and r.stdout.startswith("session default: 10 events in 4 records intact; chain head ")
    head = json.loads(tape("verify", "--json").stdout)["head"]
    assert tape("verify", "--head", head).returncode == 0

    conn = sqlite3.connect(_db(tmp_path), isolation_level=None)
    (state,) = conn.execute("SELECT state FROM stored_events WHERE originator_version=5").fetchone()
    conn.execute("UPDATE stored_events SET state=? WHERE originator_version=5", (state[:-1] + b"X",))
    r = tape("verify")
    assert r.returncode == 1 and r.stderr == ""
    assert r.stdout == ("session default: NOT intact: event 5 (its commit holds events 5-8): checksum mismatch: "
                        "the record was altered, or moved from another position\n")
    data = json.loads(tape("verify", "--json").stdout)
    assert data["ok"] is False and data["first_bad"] == 5 and data["problem"] == "altered"

    conn.execute("DELETE FROM stored_events WHERE originator_version=5")
    r = tape("verify")
    assert r.returncode == 1 and r.stdout == "session default: NOT intact: events 5-8 are missing (deleted from the log)\n"


def test_verify_errors(tape) -> None:
    assert tape("eval", "1", extra_env={"TAPE_CHAIN_KEY": "k"}).returncode == 0
    cases = [
        (("verify", "-i", "nobody"), 2, "error: no session 'nobody'"),
        (("verify", "--head", "abc"), 2, "error: --head takes the 64 hex digits of a chain head"),
        (("verify",), 2, "error: session 'default' has a keyed hash chain: set TAPE_CHAIN_KEY to verify it"),
    ]
    for args, code, message in cases:
        r = tape(*args)
        assert r.returncode == code, (args, r.stderr)
        assert r.stderr.strip().startswith(message) and len(r.stderr.strip().splitlines()) == 1, (args, r.stderr)
    assert tape("verify", extra_env={"TAPE_CHAIN_KEY": "k"}).returncode == 0
    r = tape("verify", extra_env={"TAPE_CHAIN_KEY": "other"})
    assert r.returncode == 1 and "chain link mismatch" in r.stdout
