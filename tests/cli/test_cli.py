"""The ``tape`` command, end to end through its console script, on real SQLite files."""

from __future__ import annotations

import json
from pathlib import Path

import click

from tapevm.cli.main import cli
from tests.cli._errors import assert_one_line_error

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "agent.lisp"


def _no_traceback(text: str) -> None:
    assert "Traceback" not in text


def test_version_and_every_command_has_help(tape) -> None:
    r = tape("--version")
    assert r.returncode == 0 and "tape, version" in r.stdout
    assert isinstance(cli, click.Group)
    names = cli.list_commands(click.Context(cli))
    assert len(names) >= 28
    for name in names:
        r = tape(name, "--help")
        assert r.returncode == 0, name
        assert "Usage:" in r.stdout and len(r.stdout.splitlines()) > 3, name


def test_each_lazily_loaded_command_is_the_command_of_its_name() -> None:
    """``tape`` imports a command's module only when it runs: each name must lead to that command,
    and every command a module defines must be reachable."""
    import importlib
    import pkgutil

    import tapevm.cli

    ctx = click.Context(cli)
    for name in cli.list_commands(ctx):
        command = cli.get_command(ctx, name)
        assert command is not None and command.name == name, name
    reachable = {id(cli.get_command(ctx, name)) for name in cli.list_commands(ctx)}
    for info in pkgutil.iter_modules(tapevm.cli.__path__):
        module = importlib.import_module(f"tapevm.cli.{info.name}")
        for value in vars(module).values():
            if isinstance(value, click.Command) and value is not cli \
                    and getattr(value.callback, "__module__", None) == module.__name__ \
                    and not any(value is sub for g in vars(module).values() if isinstance(g, click.Group)
                                for sub in g.commands.values()):
                assert id(value) in reachable, f"{module.__name__}.{value.name} is not a tape command"


def test_run_example_then_log_and_state(tape, tmp_path: Path) -> None:
    r = tape("run", str(EXAMPLE), "-i", "agent")
    assert r.returncode == 0, r.stderr
    assert "done: read the brief" in r.stdout and "tasks done: 4" in r.stdout

    r = tape("log", "-i", "agent", "--json")
    assert r.returncode == 0
    events = [json.loads(line) for line in r.stdout.splitlines()]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    types = {e["type"] for e in events}
    assert {"SessionStarted", "FormSubmitted", "Defined", "FactAsserted", "FileWritten", "AtomReset",
            "OutputWritten", "FormEvaluated"} <= types
    # every event points at the input that caused it
    submitted = {e["seq"] for e in events if e["type"] == "FormSubmitted"}
    assert all(e["cause"] in submitted for e in events if e["type"] not in ("SessionStarted", "FormSubmitted"))

    r = tape("state", "-i", "agent", "--json")
    state = json.loads(r.stdout)
    assert state["namespaces"]["user"]["tasks"].startswith('("read the brief"')
    assert "journal.txt" in state["files"] and "summary.txt" in state["files"]
    assert any("globex" in f for f in state["facts"])

    first_file = next(e["seq"] for e in events if e["type"] == "FileWritten")
    r = tape("state", "-i", "agent", "--at", str(first_file - 1), "--json")
    assert json.loads(r.stdout)["files"] == {}

    r = tape("log", "-i", "agent", "--type", "FileWritten")
    assert r.returncode == 0 and "journal.txt" in r.stdout


def test_eval_prints_value_and_continues_session(tape) -> None:
    assert tape("eval", "(define x 40)").returncode == 0
    r = tape("eval", "(+ x 2)")
    assert r.returncode == 0 and r.stdout.strip() == "42"


def test_eval_error_is_one_line_and_commits_nothing(tape) -> None:
    tape("eval", "(define y 1)")
    r = tape("eval", "(begin (set! y 2) (car 5))")
    assert r.returncode == 1
    _no_traceback(r.stderr)
    assert "type-error" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert tape("eval", "y").stdout.strip() == "1"


def test_syntax_error_names_line_and_column_and_runs_nothing(tape, tmp_path: Path) -> None:
    src = tmp_path / "bad.lisp"
    src.write_text('(define a 1)\n(define b "unterminated\n')
    r = tape("run", str(src), "-i", "s")
    assert r.returncode != 0
    _no_traceback(r.stderr)
    assert "line 2" in r.stderr
    r = tape("sessions", "--json")
    assert r.returncode == 2 and "no store at" in r.stderr  # refused before anything, the store included, was made


def test_a_refused_command_leaves_every_session_as_it_was(tape, tmp_path: Path) -> None:
    """Input that is refused (a syntax error, a missing or badly named host file) is refused before
    a session is created, set aside by -f, or started from an image."""
    assert tape("eval", "-i", "s1", "(define x 1)").returncode == 0
    assert tape("image", "save", "a.img", "-i", "s1").returncode == 0
    (tmp_path / "bad.lisp").write_text("(define")
    before = tape("sessions", "--json").stdout
    for args, text in [
        (["eval", "-f", "-i", "s1", "(define"], "syntax error"),
        (["run", "-f", "-i", "s1", "bad.lisp"], "syntax error"),
        (["eval", "-i", "new", "(define"], "syntax error"),
        (["run", "--image", "a.img", "-i", "fromimg", "bad.lisp"], "syntax error"),
        (["world", "import", "missing.dat", "-i", "new"], "no such file"),
        (["world", "import", "a.img", "../x", "-i", "new"], "bad world path"),
    ]:
        assert_one_line_error(tape(*args), 2, text)
        assert tape("sessions", "--json").stdout == before, args
    assert tape("eval", "-i", "s1", "x").stdout.strip() == "1"


def test_unknown_session_and_bad_arguments(tape, tmp_path: Path) -> None:
    r = tape("log", "-i", "nobody")
    assert r.returncode == 2 and "no session 'nobody'" in r.stderr
    r = tape("state", "-i", "bad@id")
    assert r.returncode == 2 and "bad session address" in r.stderr  # -i takes ID@N (issue 4)
    r = tape("log", "--type", "Nope")
    assert r.returncode == 2 and "unknown event type" in r.stderr
    r = tape("run", str(tmp_path / "missing.lisp"))
    assert r.returncode == 2 and "no such file" in r.stderr
    tape("eval", "1")
    r = tape("state", "--at", "999")
    assert r.returncode == 2 and "no event 999" in r.stderr
    for r in (tape("log", "-i", "nobody"), tape("state", "--at", "999")):
        _no_traceback(r.stderr)


def test_foreign_store_file_is_refused_untouched(tape, tmp_path: Path) -> None:
    bogus = tmp_path / "notes.txt"
    bogus.write_text("not a database")
    r = tape("--store", str(bogus), "eval", "1")
    assert r.returncode == 1 and "not a tapevm store" in r.stderr
    _no_traceback(r.stderr)
    assert bogus.read_text() == "not a database"


def test_another_applications_database_and_an_altered_event_table_are_refused_untouched(tape, tmp_path: Path) -> None:
    # opening once switched another application's database to WAL and created tapevm's tables in it;
    # a store whose events table lost a column failed every command with an internal error
    import sqlite3

    app = tmp_path / "app.db"
    with sqlite3.connect(app) as db:
        db.execute("CREATE TABLE users (id INTEGER, name TEXT)")
        db.execute("INSERT INTO users VALUES (1, 'ann')")
    db.close()
    before = app.read_bytes()
    for args in (("sessions",), ("eval", "1"), ("log",)):
        assert_one_line_error(tape("--store", str(app), *args), 1, "is not a tapevm store", "users")
    assert app.read_bytes() == before and not Path(f"{app}-wal").exists()

    store = tmp_path / "store.db"
    assert tape("--store", str(store), "eval", "(define x 1)").returncode == 0
    with sqlite3.connect(store) as db:
        for trigger in ("tape_record_deleted", "tape_record_deleted_moved"):  # (they read the column)
            db.execute(f"DROP TRIGGER {trigger}")
        db.execute("ALTER TABLE stored_events DROP COLUMN topic")
    db.close()
    for args in (("log",), ("state",), ("verify",), ("eval", "x"), ("sql", "select 1"), ("follow", "--once")):
        assert_one_line_error(tape("--store", str(store), *args), 1, "has no column topic", "backup")


def test_store_option_env_and_default_location(tape, tmp_path: Path) -> None:
    store = tmp_path / "explicit.db"
    assert tape("--store", str(store), "eval", "(define z 1)").returncode == 0
    assert store.exists()
    r = tape("eval", "z", extra_env={"TAPE_STORE": str(store)})
    assert r.stdout.strip() == "1"
    assert tape("eval", "(define w 2)").returncode == 0
    assert (tmp_path / "home" / "store.db").exists()


def test_a_blank_store_location_is_a_usage_error(tape, tmp_path: Path) -> None:
    # a blank TAPE_STORE made a store file named '  ' in the current directory ('sqlite:///': "is a directory")
    for location in (" ", "  ", "sqlite:///", "sqlite:/// "):
        for r in (tape("--store", location, "eval", "1"), tape("sessions", extra_env={"TAPE_STORE": location})):
            assert_one_line_error(r, 2, "is blank", "TAPE_STORE")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_store_location_of_dash_or_a_file_uri_is_a_usage_error(tape, tmp_path: Path) -> None:
    # '--store -' made a SQLite file named '-'; '--store file:/x.db' made a directory named 'file:'
    for location, says in (("-", "standard input"), (f"file:{tmp_path}/x.db", f"'{tmp_path}/x.db'"),
                           ("file:x.db", "'x.db'")):
        for r in (tape("--store", location, "eval", "1"), tape("sessions", extra_env={"TAPE_STORE": location})):
            assert_one_line_error(r, 2, says, "postgresql://")
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # (tape runs in tmp_path: nothing was made there)


def test_a_program_with_a_byte_order_mark_runs_and_one_not_in_utf8_says_where(tape, tmp_path: Path) -> None:
    # the mark (some editors write it) was read as a symbol: the first form failed, unbound, and was recorded
    bom = tmp_path / "bom.lisp"
    bom.write_bytes(b"\xef\xbb\xbf(define x 1)\n(println (+ x 1))\n")
    r = tape("run", str(bom), "-i", "b")
    assert r.returncode == 0 and r.stdout == "2\n" and r.stderr == "", r.stderr
    latin = tmp_path / "latin.lisp"
    latin.write_bytes(b'(define s "caf\xe9")\n')
    assert_one_line_error(tape("run", str(latin), "-i", "b"), 2, "not UTF-8 text (byte 0xe9 at offset 14)",
                          "convert it to UTF-8")


def test_debug_shows_traceback(tape) -> None:
    r = tape("--debug", "log", "-i", "nobody")
    assert r.returncode != 0 and "Traceback" in r.stderr


def test_repl_reads_multiline_forms_from_a_pipe(tape) -> None:
    r = tape("repl", "-i", "r", input="(define (sq x)\n  (* x x))\n(sq 7)\n(car 1)\n(+ 1\n")
    assert "49" in r.stdout
    assert "type-error" in r.stderr and "incomplete form" in r.stderr
    _no_traceback(r.stderr)
    assert tape("eval", "-i", "r", "(sq 3)").stdout.strip() == "9"


def test_sessions_and_info(tape) -> None:
    tape("eval", "-i", "one", "(define a 1)")
    tape("eval", "-i", "two", "(assert! '(p 1))")
    r = tape("sessions", "--json")
    rows = {s["id"]: s for s in json.loads(r.stdout)}
    assert set(rows) == {"one", "two"} and rows["one"]["events"] >= 4
    r = tape("info", "-i", "two", "--json")
    info = json.loads(r.stdout)
    assert info["facts"] == 1 and info["events"] == rows["two"]["events"]
    assert tape("sessions").returncode == 0 and tape("info", "-i", "one").returncode == 0


def test_a_long_log_streams_in_aligned_chunks_and_counts_its_events(tape, tmp_path: Path) -> None:
    program = tmp_path / "many.lisp"
    program.write_text("\n".join(f"(define x{i} {i})" for i in range(250)))  # 1 + 250 x 3 = 751 events
    assert tape("run", str(program), "-i", "many").returncode == 0
    r = tape("log", "-i", "many")
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    assert lines[0] == "session many" and lines[-1] == "751 events"
    rows = [line for line in lines[:-1] if line.strip()[:1].isdigit()]
    assert [int(line.split()[0]) for line in rows] == list(range(1, 752))  # every event once, in order
    # the columns line up across the chunks (LOG_CHUNK = 500 rows each)
    assert len({line.index("Defined") for line in rows if " Defined " in line}) == 1
    assert len([line for line in lines if line.lstrip().startswith("#")]) == 1  # one header
