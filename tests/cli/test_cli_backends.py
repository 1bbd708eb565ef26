"""Every ``tape`` command against every backend (``--store`` and ``TAPE_STORE``), through the real console script."""

from __future__ import annotations

import json
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "agent.lisp"


def test_every_command_on_the_backend(tape, store_url: str) -> None:
    s = ("--store", store_url)
    r = tape(*s, "run", str(EXAMPLE), "-i", "agent")
    assert r.returncode == 0, r.stderr
    assert "tasks done: 4" in r.stdout

    r = tape(*s, "eval", "-i", "agent", "(length tasks)")
    assert r.returncode == 0 and r.stdout.strip().isdigit(), r.stderr

    r = tape(*s, "eval", "-i", "agent", "(car 1)")
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "type-error" in r.stderr

    r = tape(*s, "repl", "-i", "agent", input="(define (sq x)\n (* x x))\n(sq 9)\n")
    assert r.returncode == 0 and "81" in r.stdout, r.stderr

    r = tape(*s, "log", "-i", "agent", "--json")
    events = [json.loads(line) for line in r.stdout.splitlines()]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert {"FormSubmitted", "Defined", "FactAsserted", "FileWritten", "FormEvaluated"} <= {e["type"] for e in events}
    assert tape(*s, "log", "-i", "agent", "--from", "3", "--to", "5").returncode == 0

    r = tape(*s, "state", "-i", "agent", "--json")
    state = json.loads(r.stdout)
    assert "journal.txt" in state["files"] and "sq" in state["namespaces"]["user"]
    r = tape(*s, "state", "-i", "agent", "--at", "5", "--json")
    assert json.loads(r.stdout)["seq"] == 5

    r = tape(*s, "sessions", "--json")
    assert [x["id"] for x in json.loads(r.stdout)] == ["agent"]
    r = tape(*s, "info", "-i", "agent", "--json")
    info = json.loads(r.stdout)
    assert info["events"] == len(events) and info["stored_bytes"] > 0

    r = tape(*s, "log", "-i", "nobody")
    assert r.returncode == 2 and "no session 'nobody'" in r.stderr


def test_tape_store_environment_variable(tape, store_url: str) -> None:
    env = {"TAPE_STORE": store_url}
    assert tape("eval", "-i", "e", "(define x 41)", extra_env=env).returncode == 0
    r = tape("eval", "-i", "e", "(+ x 1)", extra_env=env)
    assert r.stdout.strip() == "42", r.stderr
    r = tape("sessions", "--json", extra_env=env)
    assert [x["id"] for x in json.loads(r.stdout)] == ["e"]
