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


def test_an_event_that_decodes_but_does_not_fold_is_a_one_line_error(tape, tmp_path: Path) -> None:
    """A record with a valid checksum whose ContentStored entry has the wrong shape (what a writer
    other than tapevm could store): every command that folds the session says which event, in one line."""
    import time

    from tapevm.infrastructure.session.service import open_session

    with open_session("s", str(_db(tmp_path))) as s:
        s.run("(define x 1)")
        head = s.head
        s.store.append_drafts(s.stream, head + 1, head + 1, time.time(), [
            ("FormSubmitted", 1, {"source": "(x)", "file": "<t>", "line": 1, "column": 1}),
            ("ContentStored", 3, {"nodes": [], "blobs": [["k", "utf8", "abc", "prefix", "head?", 1]]}),
            ("FormEvaluated", 1, {"ok": True, "printed": "nil"}),
        ])
    for args in (("state", "-i", "s"), ("eval", "-i", "s", "x"), ("delta", "-i", "s", "1", str(head + 2))):
        r = tape(*args)
        assert r.returncode == 1, (args, r.stdout, r.stderr)
        assert r.stderr.startswith(f"error: event {head + 2} (ContentStored) does not fold: ValueError: ")
        assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert tape("verify", "-i", "s").returncode == 0  # the chain is intact: the writer was wrong, not the bytes


def test_a_log_damaged_late_is_still_readable_before_the_damage(tape, tmp_path: Path) -> None:
    """Events committed before a damaged record are intact: readers show them and the states they
    make; whatever needs the head (its state, a writer) fails with the damage, in one line."""
    from tapevm.domain.errors import CorruptRecord
    from tapevm.infrastructure.session.service import open_session

    for form in ("(define a 1)", "(define b (list 2 3))", "(define c 3)"):  # events 2-4, 5-8, 9-11
        assert tape("eval", "-i", "s", form).returncode == 0
    conn = sqlite3.connect(_db(tmp_path), isolation_level=None)
    (state,) = conn.execute("SELECT state FROM stored_events WHERE originator_version=9").fetchone()
    conn.execute("UPDATE stored_events SET state=? WHERE originator_version=9", (state[:-1] + b"X",))
    damage = "error: session 's' events 9-11: checksum mismatch (the record was altered or damaged)\n"

    r = tape("state", "-i", "s", "--at", "8")
    assert r.returncode == 0 and r.stderr == "" and "(2 3)" in r.stdout and "user        c" not in r.stdout
    r = tape("log", "-i", "s", "--to", "8")
    assert r.returncode == 0 and r.stderr == "" and "define user/b = (2 3)" in r.stdout
    assert r.stdout.endswith("8 events\n")
    assert tape("log", "-i", "s@4").returncode == 0
    r = tape("delta", "-i", "s", "4", "8")
    assert r.returncode == 0 and "user/b" in r.stdout
    assert "(define b '(2 3))" in tape("export", "-i", "s@8").stdout
    for args in (("state", "-i", "s"), ("log", "-i", "s"), ("eval", "-i", "s", "a"), ("state", "-i", "s", "--at", "10")):
        r = tape(*args)
        assert r.returncode == 1 and r.stderr == damage, (args, r.stderr)

    with open_session("s", str(_db(tmp_path)), create=False, writable=False) as s:
        assert s.head == 11 and isinstance(s.damage, CorruptRecord)
        assert s.state_at(4).binding("user", "a") == 1
        for read in (lambda: s.state, lambda: s.world, lambda: s.state_at(11)):
            try:
                read()
            except CorruptRecord as e:
                assert "events 9-11: checksum mismatch" in str(e)
            else:
                raise AssertionError("the head of a damaged log was read")


def test_a_record_deleted_from_the_middle_of_a_log_stops_every_reader_there(tape, tmp_path: Path) -> None:
    """A missing record was read past: state and log showed a state with a hole, replay --verify passed
    on the events after it and a writer appended to the damaged log.  Now it is damage like an altered
    byte: what lies before it stays readable, the rest fails in one line, and nothing is written."""
    for form in ("(define a 1)", "(define b (list 2 3))", "(define c 3)"):  # events 2-4, 5-8, 9-11
        assert tape("eval", "-i", "s", form).returncode == 0
    conn = sqlite3.connect(_db(tmp_path), isolation_level=None)
    conn.execute("DELETE FROM stored_events WHERE originator_id='s' AND originator_version=5")
    damage = ("error: session 's': events 5..8 are missing from the store (a record was deleted or lost); "
              "'tape verify -i s' reports the damage\n")
    r = tape("state", "-i", "s", "--at", "4")
    assert r.returncode == 0 and "user        a" in r.stdout
    assert tape("log", "-i", "s", "--to", "4").stdout.endswith("4 events\n")
    for args in (("state", "-i", "s"), ("log", "-i", "s"), ("eval", "-i", "s", "(define d 4)"),
                 ("replay", "-i", "s", "--verify"), ("export", "-i", "s")):
        r = tape(*args)
        assert r.returncode == 1 and r.stderr == damage, (args, r.stderr)
    r = tape("verify", "-i", "s")
    assert r.returncode == 1 and "events 5-8 are missing" in r.stdout
    assert conn.execute("SELECT MAX(originator_version) FROM stored_events WHERE originator_id='s'").fetchone() == (9,)
