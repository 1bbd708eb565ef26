"""``tape audit``, ``tape blame`` and ``tape world`` through the console script."""

from __future__ import annotations

import json
from pathlib import Path

PROGRAM = """(define n 3)
(define a (ask (str "hi " n) :model "m"))
(set! n 5)
(assert! '(task "write" done))
(write-file! "notes.txt" a)
(try (tool "x") (catch e 1))
(raise "boom")
"""
ECHO = {"TAPE_LLM": "echo"}


def _record(tape, tmp_path: Path) -> None:
    f = tmp_path / "q.lisp"
    f.write_text(PROGRAM)
    r = tape("run", str(f), extra_env=ECHO)
    assert r.returncode == 1 and "user: boom" in r.stderr


def test_audit_timeline_and_kinds(tape, tmp_path: Path) -> None:
    _record(tape, tmp_path)
    r = tape("audit")
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    assert any(" input   (define n 3)" in line for line in lines)
    effect = next(line for line in lines if " effect " in line)
    assert '(ask "hi 3" :model "m") -> "echo: hi 3"' in effect and "ms, 10 B]" in effect and "q.lisp:2" in effect
    assert any("!error   user: boom" in line for line in lines)

    entries = [json.loads(x) for x in tape("audit", "--json").stdout.splitlines()]
    assert [e["seq"] for e in entries] == sorted(e["seq"] for e in entries)
    kinds = {e["kind"] for e in entries}
    assert {"input", "effect", "define", "fact", "file", "result", "error", "session"} <= kinds

    only = [json.loads(x) for x in tape("audit", "--kind", "effect", "--json").stdout.splitlines()]
    assert [e["kind"] for e in only] == ["effect", "effect"] and only[1]["error"] is True
    assert only[0]["size"] == 10 and only[0]["duration_ms"] >= 0
    errors = [json.loads(x) for x in tape("audit", "--kind", "error", "--json").stdout.splitlines()]
    assert [e["kind"] for e in errors] == ["effect", "error"]
    defs = [json.loads(x) for x in tape("audit", "--kind", "define", "--from", "10", "--to", "12", "--json").stdout.splitlines()]
    assert [e["what"] for e in defs] == ["set! user/n = 5"] and defs[0]["form"].endswith("q.lisp:3")


def test_blame_name_fact_file(tape, tmp_path: Path) -> None:
    _record(tape, tmp_path)
    r = tape("blame", "n")
    assert r.returncode == 0
    assert r.stdout.splitlines()[:2] == ["user/n = 5", f"  set by event 11 (set!), caused by event 10: {tmp_path / 'q.lisp'}:3  (set! n 5)"]
    data = json.loads(tape("blame", "user/n", "--json").stdout)
    assert [(h["seq"], h["op"], h["value"]) for h in data["history"]] == [(3, "define", "3"), (11, "set!", "5")]
    data = json.loads(tape("blame", "n", "--at", "5", "--json").stdout)
    assert data["current"]["seq"] == 3 and data["current"]["form"]["line"] == 1
    data = json.loads(tape("blame", "--fact", '(task "write" done)', "--json").stdout)
    assert data["current"]["seq"] == 15 and data["current"]["form"]["source"] == "(assert! '(task \"write\" done))"
    data = json.loads(tape("blame", "--file", "notes.txt", "--json").stdout)
    assert data["current"]["op"] == "write" and data["current"]["value"].startswith("10 bytes")


def test_world_ls_cat_import(tape, tmp_path: Path) -> None:
    _record(tape, tmp_path)
    host = tmp_path / "host.bin"
    host.write_bytes(b"\x00\x01binary")
    r = tape("world", "import", str(host), "in/host.bin")
    assert r.returncode == 0 and r.stdout == f"imported {host} as in/host.bin (event 28)\n"
    rows = json.loads(tape("world", "ls", "--json").stdout)
    assert [(x["path"], x["size"]) for x in rows] == [("in/host.bin", 8), ("notes.txt", 10)]
    assert json.loads(tape("world", "ls", "--at", "18", "--json").stdout) == []
    r = tape("world", "cat", "notes.txt")
    assert r.returncode == 0 and r.stdout == "echo: hi 3"
    assert tape("eval", '(read-file "in/host.bin")').returncode in (0, 1)  # binary may not decode as text
    assert tape("replay", "--verify").returncode == 0
    r = tape("blame", "--file", "in/host.bin")
    assert r.returncode == 0 and "import" in r.stdout


def test_errors_are_one_line(tape, tmp_path: Path) -> None:
    _record(tape, tmp_path)
    cases = [
        (("blame",), "error: blame takes exactly one of NAME, --fact FACT or --file PATH"),
        (("blame", "nothing"), "error: nothing in session 'default' up to event 26 touched user/nothing"),
        (("blame", "n", "--at", "99"), "error: session 'default' has events 1..26; there is no event 99"),
        (("blame", "--fact", "(unclosed"), "error: cannot read the fact '(unclosed'"),
        (("audit", "--from", "99"), "error: the session has events 1..26; --from 99 is past its end"),
        (("audit", "-i", "nobody"), "error: no session 'nobody'"),
        (("world", "cat", "missing.txt"), "error: no file 'missing.txt' in the world of session 'default'"),
        (("world", "import", "/nonexistent/file"), "error: no such file: /nonexistent/file"),
        (("world", "import", str(tmp_path / "q.lisp"), "../escape"), "error: bad world path '../escape'"),
    ]
    for args, message in cases:
        r = tape(*args)
        assert r.returncode == 2, (args, r.stderr)
        assert r.stderr.strip().startswith(message), (args, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_blame_names_the_session_action_that_set_a_value(tape) -> None:
    assert tape("eval", "-i", "a", '(define x 1) (write-file! "f" "v1")').returncode == 0
    assert tape("snapshot", "s1", "-i", "a").returncode == 0
    assert tape("eval", "-i", "a", "(set! x 2)").returncode == 0
    assert tape("restore", "s1", "-i", "a").returncode == 0
    assert tape("fork", "a", "b").returncode == 0
    assert tape("eval", "-i", "b", '(set! x 3) (write-file! "f" "v3")').returncode == 0
    assert tape("merge", "b", "-i", "a").returncode == 0
    lines = tape("blame", "x", "-i", "a").stdout.splitlines()
    assert lines[0] == "user/x = 3" and lines[1].endswith("(merge), caused by event 14: merge of b@21")
    assert [line.split()[1] for line in lines[3:]] == ["define", "set!", "restore", "merge"]
    assert lines[5].endswith("<- restore of snapshot s1 (event 8)")
    data = json.loads(tape("blame", "--file", "f", "-i", "a", "--json").stdout)
    assert data["current"]["op"] == "merge" and data["current"]["detail"] == "b@21"
    assert data["current"]["value"].startswith("2 bytes, blob ")  # the size, from the session's content
