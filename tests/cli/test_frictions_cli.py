"""What a new user trips over: empty eval, diff values cut alike, image list of a mixed folder,
absolute world paths, exit codes of missing input files, REPL commands and line numbers, and the
Python API's audit, blame and replay."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import tapevm
from tapevm.domain.errors import UsageError

from ._errors import assert_one_line_error


def test_empty_eval_creates_nothing(tape) -> None:
    assert tape("eval", "1").returncode == 0
    for expr in ("", "   ", "; only a comment"):
        assert_one_line_error(tape("eval", "-i", "X", expr), 2, "nothing to evaluate")
    assert "X" not in tape("sessions", "--json").stdout


def test_diff_shows_where_cut_values_differ_and_no_empty_table(tape) -> None:
    start = "B says: do step one and then step two and then step three and then step four, then "
    tape("eval", "-i", "a", f'(define m "{start}five")')
    assert tape("fork", "a", "b").returncode == 0
    r = tape("diff", "a", "b")
    assert r.returncode == 0 and r.stdout == "a -> b: no differences\n"
    tape("eval", "-i", "b", f'(define m "{start}six")')
    r = tape("diff", "a", "b", extra_env={"COLUMNS": "80"})
    row = next(line for line in r.stdout.splitlines() if "user/m" in line)
    assert "then five" in row and "then six" in row, r.stdout
    assert r.stdout.startswith("a -> b: 1 difference\n")


def test_image_list_lists_images_only(tape, tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    tape("eval", "(define x 1)")
    assert tape("image", "save", str(folder / "a.img")).returncode == 0
    (folder / "notes.txt").write_text("not an image")
    (folder / "data.json").write_text("{}")
    r = tape("image", "list", str(folder))
    assert r.returncode == 0 and "1 image in" in r.stdout and "(2 other files skipped)" in r.stdout
    assert "notes.txt" not in r.stdout and "not a tapevm image" not in r.stdout
    assert [Path(x["path"]).name for x in json.loads(tape("image", "list", str(folder), "--json").stdout)] == ["a.img"]


def test_a_leading_slash_names_the_worlds_root_everywhere(tape, tmp_path: Path) -> None:
    r = tape("eval", '(write-file! "/notes/a.txt" "one") (list (read-file "notes/a.txt") '
                     '(read-file "/notes/a.txt") (file-exists? "/notes/a.txt") (list-files "/notes"))')
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == '("one" "one" #t ("notes/a.txt"))'
    assert json.loads(tape("world", "ls", "--json").stdout)[0]["path"] == "notes/a.txt"  # one stored form
    assert tape("world", "cat", "/notes/a.txt").stdout == "one"
    host = tmp_path / "x.txt"
    host.write_text("two")
    assert tape("world", "import", str(host), "/notes/x").returncode == 0
    assert tape("world", "cat", "notes/x").stdout == "two"
    assert tape("blame", "--file", "/notes/x").returncode == 0
    # one rule, one message: a bad path is refused alike by import and cat; a missing file is "no file"
    for args in (("world", "import", str(host), "a/../b"), ("world", "cat", "a/../b")):
        assert_one_line_error(tape(*args), 2, "bad world path 'a/../b'")
    assert_one_line_error(tape("world", "cat", "/notes/none"), 2, "no file 'notes/none'")
    assert_one_line_error(tape("eval", '(read-file "/")'), 1, "the world's root, not a file")
    image = tmp_path / "w.img"
    assert tape("image", "save", str(image)).returncode == 0
    assert tape("image", "load", str(image), "-i", "copy").returncode == 0
    assert tape("eval", "-i", "copy", '(read-file "/notes/x")').stdout.strip() == '"two"'


def test_missing_input_files_are_usage_errors(tape, tmp_path: Path) -> None:
    tape("eval", "1")
    nope = str(tmp_path / "nope.img")
    for args in (("image", "info", nope), ("image", "load", nope, "-i", "n"), ("image", "verify", nope),
                 ("image", "export", nope), ("run", "--image", nope, "-"), ("run", str(tmp_path / "nope.lisp")),
                 ("replay", "--program", str(tmp_path / "nope.lisp"))):
        r = tape(*args, input="")
        assert r.returncode == 2 and "Traceback" not in r.stderr, (args, r.returncode, r.stderr)


def test_repl_commands_and_line_numbers(tape) -> None:
    r = tape("repl", "-i", "r", input="(define a 1)\n\n:help\n(define b\n  2)\n:session\n:nope\n(+ a b)\n:quit\n(define c 3)\n")
    assert r.returncode == 1  # the unknown command
    assert ":state" in r.stdout and "session r: 7 events, namespace user" in r.stdout
    assert r.stderr == "error: unknown REPL command :nope (:help lists them)\n"
    forms = [json.loads(x)["data"] for x in tape("log", "-i", "r", "--type", "FormSubmitted", "--json").stdout.splitlines()]
    assert [(f["file"], f["line"]) for f in forms] == [("<repl>", 1), ("<repl>", 4), ("<repl>", 8)]
    assert tape("eval", "-i", "r", "(list a b)").stdout.strip() == "(1 2)"  # nothing after :quit ran


def test_python_api_audit_blame_and_replay(tmp_path: Path, store_url: str) -> None:
    db = store_url
    with tapevm.open_session("s", db) as s:
        s.run("(define n 3)\n(define m (+ n 1))")
    with tapevm.open_store(db) as store:
        entries = list(tapevm.audit(store, "s"))  # no printer needed
        assert any("user/m" in str(e) for e in entries)
        with pytest.raises(UsageError, match="nothing in session 's' up to event 7 touched user/nobody"):
            tapevm.blame_binding(store, "s", "nobody")
        with pytest.raises(UsageError, match="touched"):
            store.blame("s", "nobody")
        assert tapevm.replay(store, "s", program="(define n 3)\n(define m (+ n 1))").verified
        program = tmp_path / "p.lisp"
        program.write_text("(define n 4)\n(define m (+ n 1))")
        d = tapevm.replay(store, "s", program=program, verify=True).divergence
        assert d is not None and d.form_file == str(program) and d.form_line == 1
        with pytest.raises(UsageError, match="cannot read the program"):
            tapevm.replay(store, "s", program=tmp_path / "none.lisp")
