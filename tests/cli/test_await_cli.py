"""``await`` through the real ``tape``: suspend in one process, list and answer in others, on both backends."""

from __future__ import annotations

import json

from tests.cli._errors import assert_one_line_error

DEFINE_F = "(define (f x) (let ((a (* x 2))) (+ a (await 'approval :payload (list x a)))))"


def test_suspend_list_answer_in_other_processes(tape, store_url: str) -> None:
    s = ("--store", store_url)
    assert tape(*s, "eval", "-i", "w", DEFINE_F).returncode == 0
    r = tape(*s, "eval", "-i", "w", '(begin (print "before ") (define y (f 20)) (define z (+ y 1)))')
    assert_one_line_error(r, 3, "pending form", "awaits 'approval'", "tape answer -i w approval VALUE")
    assert r.stdout == "before "

    # reads of the session work; the committed state is as before the form
    r = tape(*s, "state", "-i", "w", "--json")
    assert r.returncode == 0, r.stderr
    assert "y" not in json.loads(r.stdout)["namespaces"]["user"]

    r = tape(*s, "pending", "-i", "w", "--json")
    assert r.returncode == 0, r.stderr
    [p] = json.loads(r.stdout)
    assert (p["tag"], p["payload"], p["timed_out"]) == ("approval", "(20 40)", False)
    assert p["stack"][0]["function"] == "f" and p["stack"][0]["locals"] == {"a": "40", "x": "20"}
    assert p["stack"][-1]["function"] == "<form>"
    r = tape(*s, "pending", "-i", "w")
    assert "awaits approval" in r.stdout and "tape answer -i w approval VALUE" in r.stdout

    # a new form in that session is refused, naming the pending form; another session is free
    assert_one_line_error(tape(*s, "eval", "-i", "w", "(+ 1 1)"), 2, "pending form at event", "tape answer -i w")
    assert tape(*s, "eval", "-i", "other", "(+ 1 1)").stdout.strip() == "2"

    r = tape(*s, "answer", "-i", "w", "approval", "2")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "z"
    assert tape(*s, "eval", "-i", "w", "(list y z)").stdout.strip() == "(42 43)"
    assert "no pending form" in tape(*s, "pending", "-i", "w").stdout
    r = tape(*s, "replay", "--verify", "-i", "w")
    assert r.returncode == 0 and "identical" in r.stdout, r.stdout + r.stderr


def test_every_refusal_is_one_line_and_changes_nothing(tape, store_url: str) -> None:
    s = ("--store", store_url)
    assert tape(*s, "eval", "-i", "w", "(+ 1 1)").returncode == 0
    assert_one_line_error(tape(*s, "answer", "-i", "w", "t", "1"), 2, "no pending form")
    tape(*s, "eval", "-i", "w", "(define v (await 't))")
    head = len(tape(*s, "log", "-i", "w", "--json").stdout.splitlines())
    assert_one_line_error(tape(*s, "answer", "-i", "w", "other", "1"), 2, "awaits 't', not 'other'")
    assert_one_line_error(tape(*s, "answer", "-i", "w", "t", "(1 2"), 2, "not Lisp data")
    assert_one_line_error(tape(*s, "answer", "-i", "w", "t", "1 2"), 2, "one Lisp datum")
    assert_one_line_error(tape(*s, "answer", "-i", "w", "t", "{", "--json"), 2, "not JSON")
    assert_one_line_error(tape(*s, "resume", "-i", "w"), 2, "pending form")
    assert_one_line_error(tape(*s, "answer", "-i", "nosuch", "t", "1"), 2)
    assert len(tape(*s, "log", "-i", "w", "--json").stdout.splitlines()) == head  # nothing appended
    r = tape(*s, "answer", "-i", "w", "t", "-", "--json", input='{"k": [1, 2]}')
    assert r.returncode == 0, r.stderr
    assert tape(*s, "eval", "-i", "w", "v").stdout.strip() == '{"k" (1 2)}'
    assert_one_line_error(tape(*s, "answer", "-i", "w", "t", "1"), 2, "no pending form")  # twice


def test_timeout_is_a_recorded_catchable_error(tape, store_url: str) -> None:
    s = ("--store", store_url)
    r = tape(*s, "eval", "-i", "w", "(define r (try (await 'slow :timeout-ms 0) (catch e (list 'timed-out e))))")
    assert r.returncode == 3
    r = tape(*s, "pending", "-i", "w", "--json")  # a reader lists it, flagged; settling needs a writer
    assert json.loads(r.stdout)[0]["timed_out"] is True
    # the next form settles it: the await raised await-timeout, caught by the form, which committed
    r = tape(*s, "eval", "-i", "w", "(car r)")
    assert r.stdout.strip() == "timed-out", r.stderr
    assert '"error_kind":"await-timeout"' in tape(*s, "log", "-i", "w", "--json").stdout.replace(" ", "")
    assert tape(*s, "replay", "--verify", "-i", "w").returncode == 0


def test_abandon_a_pending_form(tape, store_url: str) -> None:
    s = ("--store", store_url)
    tape(*s, "eval", "-i", "w", "(begin (define a 1) (await 'never))")
    r = tape(*s, "resume", "--abandon", "-i", "w")
    assert r.returncode == 0 and "abandoned" in r.stdout, r.stderr
    assert_one_line_error(tape(*s, "eval", "-i", "w", "a"), 1, "unbound")
