"""Points inside a form are refused where something new starts from them (fork, snapshot --at,
image save --at), and a replay says what it compared: never "ok" for a verify that stopped early,
never "identical" for a fork it did not compare."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tapevm import open_session, open_store
from tapevm.domain.errors import BadAddress

# events: 1 SessionStarted | 2..5 assert! | 6..8 define x | 9..11 define y | 12..14 print
FORMS = ("(assert! (quote (likes ann tea)))", "(define x 1)", "(define y (+ x 1))", '(print "hi")')


def _work(tape) -> None:
    for form in FORMS:
        r = tape("eval", "-i", "work", form)
        assert r.returncode == 0, r.stderr


def test_fork_inside_a_form_is_refused_naming_its_boundaries(tape) -> None:
    _work(tape)
    r = tape("fork", "work@12", "experiment")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.startswith("error: event 12 is inside form 12..14") and r.stderr.count("\n") == 1
    assert "use work@11 or work@14" in r.stderr
    assert tape("sessions").stdout.count("experiment") == 0
    assert tape("fork", "work@3", "e").stderr.startswith("error: event 3 is inside form 2..5")
    for ok in ("work@1", "work@5", "work@11", "work@14", "work"):
        assert tape("fork", ok, "f" + ok.replace("@", "_")).returncode == 0
    # a fork of a fork reads its source's events: a point inside an inherited form is refused too
    r = tape("fork", "fwork_14@13", "g")
    assert r.returncode == 2 and "use fwork_14@11 or fwork_14@14" in r.stderr


def test_snapshot_and_image_save_inside_a_form_are_refused(tape, tmp_path: Path) -> None:
    _work(tape)
    r = tape("snapshot", "half", "-i", "work", "--at", "13")
    assert r.returncode == 2 and "event 13 is inside form 12..14" in r.stderr and "use --at 11 or --at 14" in r.stderr
    assert tape("snapshot", "whole", "-i", "work", "--at", "14").returncode == 0
    image = tmp_path / "w.img"
    r = tape("image", "save", str(image), "-i", "work", "--at", "7")
    assert r.returncode == 2 and "event 7 is inside form 6..8" in r.stderr and not image.exists()
    assert tape("image", "save", str(image), "-i", "work", "--at", "8").returncode == 0
    # reads may still look inside a form
    assert tape("state", "-i", "work", "--at", "13").returncode == 0


def test_fork_inside_a_form_is_refused_by_the_python_api(store_url: str) -> None:
    with open_session("w", store_url) as s:
        s.run("(define x 1)")
    with open_store(store_url) as store:
        with pytest.raises(BadAddress, match=r"event 3 is inside form 2..4.*use w@1 or w@4"):
            store.fork("w@3", "f")
        assert store.fork("w@4", "f").at == 4


def test_verify_that_stopped_inside_a_form_is_not_ok(tape, tmp_path: Path) -> None:
    """A recording that ends inside a form (interrupted; or forked inside one by an older tapevm)."""
    db = str(tmp_path / "cut.db")
    s = open_session("cut", db)

    @s.tool("die")
    def die() -> None:
        raise KeyboardInterrupt

    s.run("(define a 1)")
    with pytest.raises(KeyboardInterrupt):
        s.run('(define b (list (random 5) (tool "die")))')
    s.close()
    r = tape("--store", db, "replay", "-i", "cut", "--verify", "--json")
    assert r.returncode == 1, r.stderr
    data = json.loads(r.stdout)
    assert (data["ok"], data["verified"], data["complete"], data["events"], data["recorded"]) == (
        False, False, False, 4, 7)
    assert data["note"].startswith("stopped at event 5")
    r = tape("--store", db, "replay", "-i", "cut", "--verify")
    assert r.returncode == 1 and "NOT verified: compared 4 of 7 events" in r.stdout
    assert "identical" not in r.stdout


def test_fork_replay_says_what_it_compared_and_what_differs(tape, tmp_path: Path) -> None:
    _work(tape)
    program = tmp_path / "p.lisp"
    program.write_text("\n".join(FORMS).replace("(define x 1)", "(define x 2)"))
    r = tape("replay", "-i", "work", "--program", str(program), "--fork", "pf")
    assert r.returncode == 1 and "identical" not in r.stdout
    assert "its state differs from the record's after event 14 in 2 item(s)" in r.stdout
    assert "    user/x: 1 -> 2" in r.stdout and "    user/y: 2 -> 3" in r.stdout
    data = json.loads(tape("replay", "-i", "work", "--program", str(program), "--fork", "pf2", "--json").stdout)
    assert data["verified"] is False and data["identical"] is False and data["compared"] == "final state"
    assert data["state_differences"][0] == {"what": "user/x", "recorded": "1", "replayed": "2"}
    r = tape("replay", "-i", "work", "--fork", "same")
    assert r.returncode == 0 and "its state equals the record's after event 14 (events were not compared)" in r.stdout
    data = json.loads(tape("replay", "-i", "work", "--fork", "same2", "--json").stdout)
    assert data["verified"] is False and data["identical"] is True and data["state_differences"] == []
