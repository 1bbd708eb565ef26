"""Images as a workflow through the real console script, on each backend: ``tape run --image`` run again
and again, ``--ephemeral``, and deployment (``tape image build`` / ``tape image run``)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli._errors import assert_one_line_error

APP = """
(define (greet who) (str "hello, " who))
(define (main)
  (println (greet (if (null? *args*) "world" (car *args*))))
  (length *args*))
"""


def _sessions(tape, store: tuple[str, ...]) -> list[str]:
    r = tape(*store, "sessions", "--json")
    if r.returncode == 2 and "no store" in r.stderr:  # a SQLite store nothing was ever written to
        return []
    return sorted(x["id"] for x in json.loads(r.stdout))


def test_run_image_twice_in_its_source_store_makes_new_sessions(tape, store_url: str, tmp_path: Path) -> None:
    s = ("--store", store_url)
    assert tape(*s, "eval", "-i", "work", "(define x 41)").returncode == 0
    assert tape(*s, "image", "save", "work.img", "-i", "work").returncode == 0
    (tmp_path / "script.lisp").write_text("(println (+ x 1)) (set! x 0)")
    for n in (1, 2):  # the README's Quickstart line, where the image's source session is 'work'
        r = tape(*s, "run", "--image", "work.img", "script.lisp")
        assert r.returncode == 0 and r.stdout == "42\n", r.stderr
        assert f"session 'work-{n}'" in r.stderr
    assert _sessions(tape, s) == ["work", "work-1", "work-2"]
    r = tape(*s, "eval", "-i", "work-1", "x")
    assert r.stdout.strip() == "0"
    assert tape(*s, "eval", "-i", "work", "x").stdout.strip() == "41"  # the source is untouched

    r = tape(*s, "run", "--image", "work.img", "--ephemeral", "script.lisp")
    assert r.returncode == 0 and r.stdout == "42\n" and r.stderr == "", r.stderr
    assert _sessions(tape, s) == ["work", "work-1", "work-2"]  # nothing written to the store

    r = tape(*s, "run", "--image", "work.img", "-i", "named", "script.lisp")
    assert r.returncode == 0 and "named" in _sessions(tape, s)
    assert_one_line_error(tape(*s, "run", "--image", "work.img", "-i", "named", "script.lisp"), 2, "already exists")
    assert_one_line_error(tape(*s, "run", "--ephemeral", "script.lisp"), 2, "--ephemeral")


def test_image_build_and_run(tape, store_url: str, tmp_path: Path) -> None:
    s = ("--store", store_url)
    (tmp_path / "app.lisp").write_text(APP)
    (tmp_path / "extra.lisp").write_text('(define greeting-count 0) (println "building")')
    r = tape(*s, "image", "build", "app.lisp", "extra.lisp", "-o", "app.img", "--description", "greeter", "--json")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("building\n")  # the programs' output reaches the terminal
    info = json.loads(r.stdout.removeprefix("building\n"))
    assert info["description"] == "greeter"
    assert _sessions(tape, s) == []  # the scratch session is not in the store

    r = tape(*s, "image", "run", "app.img")
    assert r.returncode == 0 and r.stdout == "hello, world\n", r.stderr
    assert "session 'app-1'" in r.stderr
    r = tape(*s, "image", "run", "app.img", "ann", "--not-an-option")  # everything after the image is ARGS
    assert r.returncode == 0 and r.stdout == "hello, ann\n", r.stderr
    r = tape(*s, "eval", "-i", "app-2", "*args*")
    assert r.stdout.strip() == '("ann" "--not-an-option")'
    r = tape(*s, "log", "-i", "app-2", "--type", "FormSubmitted", "--json")
    assert [json.loads(line)["data"]["source"] for line in r.stdout.splitlines()][:2] == [
        '(define *args* (quote ("ann" "--not-an-option")))', "(main)"]

    r = tape(*s, "image", "run", "--ephemeral", "app.img", "bob")
    assert r.returncode == 0 and r.stdout == "hello, bob\n" and r.stderr == "", r.stderr
    assert _sessions(tape, s) == ["app-1", "app-2"]
    r = tape(*s, "image", "run", "--entry", "greet", "-i", "g", "app.img")
    assert r.returncode == 1 and "error" in r.stderr  # (greet) without its argument: the error is recorded

    assert_one_line_error(tape(*s, "image", "run", "--entry", "nope", "app.img"), 2, "defines no 'nope'")
    (tmp_path / "bad.lisp").write_text("(car 1)")
    assert_one_line_error(tape(*s, "image", "build", "app.lisp", "bad.lisp", "-o", "bad.img"), 1, "bad.lisp")
    assert not (tmp_path / "bad.img").exists()
    (tmp_path / "syntax.lisp").write_text("(define")
    assert_one_line_error(tape(*s, "image", "build", "syntax.lisp", "-o", "bad.img"), 2, "syntax.lisp")
    assert_one_line_error(tape(*s, "image", "build", "missing.lisp", "-o", "bad.img"), 2, "no such file")
    assert_one_line_error(tape(*s, "image", "run", "missing.img"), 2, "no such image file")  # (a missing input file: usage)


def test_load_image_and_list_images_at_the_repl(tape, tmp_path: Path) -> None:
    assert tape("eval", "-i", "w", '(define x 41) (save-image "w.img" :description "work")').returncode == 0
    r = tape("repl", "-i", "r", input='(define mine 1)\n(get (car (list-images)) :description)\n'
                                      '(load-image "w.img")\n(+ x 1)\n')
    assert r.returncode == 0 and r.stdout.split() == ['mine', '"work"', '"w.img"', "42"], r.stderr
    r = tape("repl", "-i", "r", input="mine\n")
    assert r.returncode == 1 and "unbound" in r.stderr  # replaced by the image's state
    assert tape("replay", "-i", "r", "--verify").returncode == 0
