"""``tape sql`` shows values: ``value_json`` (readable, bounded, ``truncated``), the ``content``
nodes, ``tape_json``/``tape_source`` for the whole value, and ``session`` as the session's name
(after ``tape run -f`` too), through the real console script on each backend."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import tapevm
from tapevm.infrastructure.followers import read_model as rm


def _sql(tape, s: tuple[str, ...], statement: str) -> list[dict]:
    r = tape(*s, "sql", statement, "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_value_json_shows_compound_values(tape, store_url: str) -> None:
    s = ("--store", store_url)
    src = ('(define n 42) (define big 123456789012345678901234567890) (define s "hi") '
           '(define xs (list 1 "a" :k (quote sym) [1 2] {:a 1 "b" (list)})) (define (f x) x) '
           '(define long (range 5000)) (define pair (cons 1 2))')
    assert tape(*s, "eval", "-i", "work", src).returncode == 0
    rows = {r["name"]: r for r in _sql(tape, s, "SELECT name, value, value_json, truncated FROM bindings "
                                              "WHERE session='work'")}
    assert json.loads(rows["xs"]["value_json"]) == [1, "a", ":k", "sym", [1, 2], {":a": 1, "b": None}]
    assert json.loads(rows["xs"]["value"])[0] == "@", "value keeps the encoding"
    assert json.loads(rows["n"]["value_json"]) == 42 and json.loads(rows["s"]["value_json"]) == "hi"
    assert json.loads(rows["big"]["value_json"]) == "123456789012345678901234567890"
    assert json.loads(rows["pair"]["value_json"]) == "(1 . 2)"
    assert "#<" in json.loads(rows["f"]["value_json"])
    assert rows["xs"]["truncated"] == 0 and rows["long"]["truncated"] == 1
    cut = json.loads(rows["long"]["value_json"])
    assert cut == list(range(len(cut))) and 50 < len(cut) < 5000 and len(rows["long"]["value_json"]) < 1200
    # the whole value, on demand
    whole = _sql(tape, s, "SELECT tape_json(value) AS j, tape_source(value) AS src FROM bindings "
                          "WHERE session='work' AND name='long'")[0]
    assert json.loads(whole["j"]) == list(range(5000)) and whole["src"].startswith("(0 1 2 ") and "4999)" in whole["src"]
    assert _sql(tape, s, "SELECT tape_json('not json') AS j, tape_json(NULL) AS k") == [{"j": None, "k": None}]
    # the nodes themselves
    key = json.loads(rows["xs"]["value"])[1]
    node = _sql(tape, s, f"SELECT node FROM content WHERE key='{key}'")
    assert len(node) == 1 and json.loads(node[0]["node"])


def test_session_is_the_name_after_run_fresh(tape, store_url: str, tmp_path: Path) -> None:
    """The README's example: after ``tape run -i work -f`` the new session is 'work', the old 'work.1'."""
    s = ("--store", store_url)
    prog = tmp_path / "p.lisp"
    prog.write_text("(define x 1)\n")
    assert tape(*s, "run", str(prog), "-i", "work").returncode == 0
    prog.write_text("(define y 2)\n")
    assert tape(*s, "run", str(prog), "-i", "work", "-f").returncode == 0
    rows = _sql(tape, s, "SELECT session, stream, name, value FROM bindings WHERE session='work'")
    assert [(r["name"], r["value"]) for r in rows] == [("y", "2")]
    old = _sql(tape, s, "SELECT session, stream, name FROM bindings WHERE session='work.1'")
    assert [r["name"] for r in old] == ["x"] and old[0]["stream"] != rows[0]["stream"]
    for view in ("events", "binding_history", "fact_history", "facts", "file_history", "files", "snapshots"):
        assert _sql(tape, s, f"SELECT COUNT(*) AS n FROM {view} WHERE session='work.1' AND stream='work.1'")[0]["n"] == 0
    assert _sql(tape, s, "SELECT COUNT(*) AS n FROM events WHERE session='work'")[0]["n"] > 0
    # a fork's inherited rows carry their readable values too
    assert tape(*s, "eval", "-i", "work", "(define l (list 1 2))").returncode == 0
    assert tape(*s, "fork", "work", "feat").returncode == 0
    feat = _sql(tape, s, "SELECT value_json FROM bindings WHERE session='feat' AND name='l'")
    assert feat == [{"value_json": "[1,2]"}]


def test_the_python_api_and_an_older_read_model(store_url: str, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TAPE_HOME", str(tmp_path / "home"))  # where a PostgreSQL store's read model goes
    with tapevm.open_store(store_url) as store:
        with store.session("a") as a:
            a.eval("(define m {:k [1 2]})")
        path = rm.read_model_path(store) if "://" not in store_url else None
        if path is not None:  # a file left by tapevm before: tables by the old names, version 2
            conn = sqlite3.connect(path)
            conn.executescript("CREATE TABLE binding_history (session TEXT, ns TEXT, name TEXT, value TEXT, "
                               "since INTEGER, until INTEGER); CREATE VIEW bindings AS SELECT * FROM binding_history;"
                               "PRAGMA user_version = 2;")
            conn.close()
        rows = store.sql("SELECT session, name, value_json, tape_source(value) FROM bindings").rows
        assert rows == [("a", "m", '{":k":[1,2]}', "{:k [1 2]}")]
