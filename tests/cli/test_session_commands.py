"""Issue 4's commands end to end through the console script: names, leases, fork, diff, merge, take."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tapevm.cli.main import cli
from tests.cli._errors import assert_one_line_error


def test_new_commands_are_registered() -> None:
    import click

    ctx = click.Context(cli)
    for name in ("fork", "clone", "diff", "merge", "take"):
        command = cli.get_command(ctx, name)
        assert command is not None and command.name == name


def test_continue_and_fresh(tape) -> None:
    assert_one_line_error(tape("eval", "-u", "-i", "work", "1"), 2, "no session 'work'")
    assert tape("eval", "-i", "work", "(define x 1)").returncode == 0
    assert tape("eval", "-u", "-i", "work", "(define x (+ x 1))").returncode == 0
    r = tape("eval", "-f", "-i", "work", "(define x 100)")
    assert r.returncode == 0 and "kept the previous session 'work' as 'work.1'" in r.stderr
    assert tape("eval", "-i", "work.1", "x").stdout.strip() == "2"
    assert tape("eval", "-i", "work", "x").stdout.strip() == "100"
    assert_one_line_error(tape("eval", "-u", "-f", "-i", "work", "1"), 2, "cannot be used together")
    ids = {s["id"] for s in json.loads(tape("sessions", "--json").stdout)}
    assert {"work", "work.1"} <= ids


def test_addresses_in_state_and_log(tape) -> None:
    tape("eval", "-i", "a", "(define x 1)")
    tape("eval", "-i", "a", "(define x 2)")
    assert json.loads(tape("state", "-i", "a@4", "--json").stdout)["namespaces"]["user"]["x"] == "1"
    lines = tape("log", "-i", "a@4", "--json").stdout.splitlines()
    assert [json.loads(x)["seq"] for x in lines] == [1, 2, 3, 4]
    assert_one_line_error(tape("state", "-i", "a@x"), 2, "bad session address")
    assert_one_line_error(tape("log", "-i", "a@99"), 2, "has events 1..7")
    assert_one_line_error(tape("state", "-i", "a@99"), 2, "no event 99")
    assert_one_line_error(tape("state", "-i", "a@2", "--at", "3"), 2, "not both")
    assert_one_line_error(tape("log", "-i", "ghost"), 2, "no session 'ghost'")


def test_fork_log_diff_merge_take(tape) -> None:
    tape("eval", "-i", "main", "(define x 1) (define y (list 1 2))")
    r = tape("fork", "main@4", "feat", "--json")
    assert r.returncode == 0 and json.loads(r.stdout) == {"session": "feat", "source": "main", "at": 4}
    tape("eval", "-i", "feat", "(define x 5) (define z 'new)")
    log = tape("log", "-i", "feat").stdout
    assert "forked from main@4" in log
    d = json.loads(tape("diff", "main", "feat", "--events", "--json").stdout)
    changes = {(c["key"], c["status"]): (c["a"], c["b"]) for c in d["changes"]}
    assert changes[("user/x", "changed")] == ("1", "5")
    assert changes[("user/y", "removed")] == ("(1 2)", None)
    assert d["events"] == {"common_ancestor": 4, "first_difference": 5}
    r = tape("merge", "feat", "-i", "main")
    assert r.returncode == 0 and "merged 2 changes from feat@" in r.stdout
    assert tape("eval", "-i", "main", "(list x y z)").stdout.strip() == "(5 (1 2) new)"
    assert "merge from feat@" in tape("log", "-i", "main").stdout
    # a conflict
    tape("eval", "-i", "feat", "(define x 6)")
    tape("eval", "-i", "main", "(define x 7)")
    before = tape("log", "-i", "main", "--json").stdout
    assert_one_line_error(tape("merge", "feat", "-i", "main"), 1, "1 conflicts (user/x)", "--prefer")
    assert tape("log", "-i", "main", "--json").stdout == before
    r = tape("merge", "feat", "-i", "main", "--prefer", "take", "--json")
    assert json.loads(r.stdout)["conflicts"] == ["user/x"]
    assert tape("eval", "-i", "main", "x").stdout.strip() == "6"
    # take and clone
    tape("eval", "-i", "feat", "(define (sq n) (* n n))")
    r = tape("take", "feat", "sq", "-i", "main")
    assert r.returncode == 0 and "took user/sq from feat@" in r.stdout
    assert tape("eval", "-i", "main", "(sq 9)").stdout.strip() == "81"
    assert tape("clone", "main", "copy").returncode == 0
    assert json.loads(tape("diff", "main", "copy", "--json").stdout)["changes"] == []
    # errors
    assert_one_line_error(tape("fork", "nope", "x"), 2, "no session 'nope'")
    assert_one_line_error(tape("fork", "main", "copy"), 2, "already exists")
    assert_one_line_error(tape("fork", "main@9999", "x"), 2, "has events 1..")
    assert_one_line_error(tape("diff", "main", "nope"), 2, "no session 'nope'")
    assert_one_line_error(tape("diff", "main@", "copy"), 2, "bad session address")
    assert_one_line_error(tape("take", "feat", "nothing", "-i", "main"), 2, "no binding user/nothing")
    assert_one_line_error(tape("merge", "feat", "-i", "ghost"), 2, "no session 'ghost'")


def test_second_writer_is_refused_and_a_killed_holder_frees_the_session(tape, tmp_path: Path) -> None:
    assert tape("eval", "-i", "w", "(define x 1)").returncode == 0
    from tests.cli.conftest import TAPE
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAPE_")}
    env["TAPE_HOME"] = str(tmp_path / "home")
    holder = subprocess.Popen([TAPE, "repl", "-i", "w"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        holder.stdin.write("(define y 2)\n")
        holder.stdin.flush()
        deadline = time.time() + 30
        while time.time() < deadline:  # wait until the holder has committed its form
            if "y" in json.loads(tape("state", "-i", "w", "--json").stdout)["namespaces"]["user"]:
                break
            time.sleep(0.1)
        r = tape("eval", "-i", "w", "(define x 2)")
        assert_one_line_error(r, 1, "session 'w' is open for writing by", f"pid {holder.pid}", "since")
        # readers are never refused
        assert tape("state", "-i", "w", "--json").returncode == 0
        assert tape("diff", "w", "w").returncode == 0
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        assert tape("eval", "-i", "w", "(define x 3)").returncode == 0
        assert tape("eval", "-i", "w", "(list x y)").stdout.strip() == "(3 2)"
    finally:
        if holder.poll() is None:
            holder.kill()


def test_sql_gc_export_info_sessions(tape, tmp_path: Path) -> None:
    tape("eval", "-i", "a", "(define x 1) (define (inc2 n) (+ n 2)) (define c (atom 5)) (assert! '(ok))")
    tape("fork", "a", "b")
    r = tape("sql", "SELECT name, parent FROM sessions ORDER BY name", "--json")
    assert r.returncode == 0 and json.loads(r.stdout) == [{"name": "a", "parent": None},
                                                          {"name": "b", "parent": "a"}]
    assert "3 rows" in tape("sql", "SELECT * FROM bindings WHERE session='a'").stdout
    assert_one_line_error(tape("sql", "DELETE FROM events"), 2, "read-only")
    assert_one_line_error(tape("sql", "SELECT * FROM nope"), 2, "no such table")
    assert_one_line_error(tape("sql"), 2, "give a statement")
    r = tape("sql", "--rebuild")
    assert r.returncode == 0 and "rebuilt the read model" in r.stderr
    r = tape("gc", "--json")
    report = json.loads(r.stdout)
    assert "read model" in report["removed"][0]["what"] and report["freed_bytes"] >= 0  # (a tiny file frees no page)
    counted = tape("sql", "SELECT COUNT(*) AS n FROM events", "--json")
    assert counted.returncode == 0 and json.loads(counted.stdout)[0]["n"] > 0, counted.stderr  # rebuilt
    again = json.loads(tape("gc", "--json").stdout)
    assert again["removed"][0]["what"].startswith("read model")  # the query above rebuilt it
    tape("gc")
    assert json.loads(tape("gc", "--json").stdout) == {"freed_bytes": 0, "removed": []}  # nothing left to remove
    # export -> run in a fresh session -> same state
    r = tape("export", "-i", "a")
    assert r.returncode == 0 and r.stderr == ""
    (tmp_path / "a.lisp").write_text(r.stdout)
    assert tape("run", str(tmp_path / "a.lisp"), "-i", "copy").returncode == 0
    assert json.loads(tape("diff", "a", "copy", "--json").stdout)["changes"] == []
    assert tape("eval", "-i", "copy", "(list (inc2 1) @c)").stdout.strip() == "(3 5)"
    assert_one_line_error(tape("export", "-i", "ghost"), 2, "no session 'ghost'")
    info = json.loads(tape("info", "-i", "b", "--json").stdout)
    assert info["parent"].startswith("a@") and info["forks"] == 0 and info["snapshots"] == 0
    assert {"bindings", "facts", "files", "checkpoints", "writer", "first_event_time"} <= set(info)
    assert json.loads(tape("info", "-i", "a", "--json").stdout)["forks"] == 1
    rows = {s["id"]: s for s in json.loads(tape("sessions", "--json").stdout)}
    assert rows["b"]["parent"].startswith("a@") and rows["a"]["writer"] is None


@pytest.mark.postgres
def test_branch_commands_on_postgres(tape, postgres_url: str) -> None:
    import uuid

    import psycopg

    schema = "t_" + uuid.uuid4().hex[:12]
    url = f"{postgres_url}?schema={schema}"
    try:
        def t(*args: str) -> subprocess.CompletedProcess[str]:
            return tape("--store", url, *args)

        assert t("eval", "-i", "a", "(define x 1) (define l (list 1 2))").returncode == 0
        assert t("fork", "a", "b").returncode == 0
        assert t("eval", "-i", "b", "(define x 2)").returncode == 0
        assert "forked from a@" in t("log", "-i", "b").stdout
        d = json.loads(t("diff", "a", "b", "--json").stdout)
        assert [c["key"] for c in d["changes"]] == ["user/x"]
        assert t("merge", "b", "-i", "a").returncode == 0
        assert t("eval", "-i", "a", "x").stdout.strip() == "2"
        r = t("eval", "-f", "-i", "a", "(define x 9)")
        assert "kept the previous session 'a' as 'a.1'" in r.stderr
        rows = json.loads(t("sql", "SELECT name, events FROM sessions ORDER BY name", "--json").stdout)
        assert [r["name"] for r in rows] == ["a", "a.1", "b"]
        assert_one_line_error(t("sql", "DROP TABLE events"), 2, "read-only")
        assert json.loads(t("gc", "--json").stdout)["freed_bytes"] > 0
        assert t("export", "-i", "a.1").stdout.count("(define") == 2
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_info_shows_a_long_store_location_whole(tape, tmp_path: Path) -> None:
    store = tmp_path / ("a-folder-with-a-rather-long-name-" * 3) / "store.db"
    store.parent.mkdir()
    assert tape("--store", str(store), "eval", "-i", "s", "1").returncode == 0
    r = tape("--store", str(store), "info", "-i", "s", extra_env={"COLUMNS": "80"})
    assert r.returncode == 0 and "…" not in r.stdout
    shown = "".join(line.split("│")[2].strip() for line in r.stdout.splitlines()
                    if line.count("│") == 3 and line.split("│")[1].strip() in ("store", ""))
    assert str(store) in shown


@pytest.mark.parametrize("char", ["\u202e", "\u200b", "\u2028", "\u2029", "\u00ad", "\x01", "\x7f", "\x85"])
def test_a_session_id_with_an_invisible_or_control_character_is_refused_naming_it(tape, char: str) -> None:
    # U+202E, U+200B, U+2028... were accepted: tape sessions then showed another name than the stored one
    for args in (("eval", "-i", f"a{char}b", "(define x 1)"), ("fork", "default", f"a{char}b"),
                 ("log", "-i", f"a{char}b@1"), ("verify", "-i", f"a{char}b"), ("diff", f"a{char}b", "c")):
        assert_one_line_error(tape(*args), 2, "invalid session id", f"U+{ord(char):04X}", "use visible characters")
    assert "U+202E RIGHT-TO-LEFT OVERRIDE, an invisible format character" in tape("state", "-i", "\u202e").stderr
    assert "no store at" in tape("sessions", "--json").stderr  # nothing was written, the store included


def test_a_session_an_older_tapevm_created_with_such_an_id_is_named_clearly(
        tape, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tapevm.domain import addresses
    from tapevm.infrastructure.session import service as session_module
    monkeypatch.setattr(addresses, "refuse_hidden_characters", lambda _: None)  # as before the check
    with session_module.open_session("a\u202eb", str(tmp_path / "home" / "store.db")) as s:
        s.eval("(define x 1)")
    for args in (("log", "-i", "a\u202eb"), ("state", "-i", "a\u202eb"), ("verify", "-i", "a\u202eb"),
                 ("fork", "a\u202eb", "copy"), ("eval", "-i", "a\u202eb", "x")):
        assert_one_line_error(tape(*args), 2, "invalid session id 'a\\u202eb': it holds U+202E")
    r = tape("sessions")
    assert r.returncode == 0 and "a\\u202eb" in r.stdout and "\u202e" not in r.stdout
