"""Bad input on the command line: one line on stderr, the right exit code, nothing written.

Each test here is a regression test for input that once printed click's four-line usage
block, an ``internal error``, hung, or exited 0.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli._errors import assert_one_line_error
from tests.cli.conftest import TAPE

Tape = Callable[..., subprocess.CompletedProcess[str]]
HUGE = "99999999999999999999999"


@pytest.fixture
def s1(tape: Tape) -> Tape:
    """A store with session s1 (x defined); TAPE_STORE points at it for every call."""
    r = tape("eval", "-i", "s1", "(define x 1)")
    assert r.returncode == 0, r.stderr
    return tape


def _head(tape: Tape, session: str = "s1") -> int:
    return int(json.loads(tape("info", "-i", session, "--json").stdout)["events"])


# -- A: click's usage errors are one line ---------------------------------------------------------
@pytest.mark.parametrize(("args", "texts"), [
    (("log", "-i", "s1", "--from", "abc"),
     ("error: invalid value for '--from': 'abc' is not a valid integer", "(see 'tape log --help')")),
    (("log", "--bogus"), ("no such option", "--bogus", "tape log --help")),
    (("bogus",), ("no such command 'bogus'", "tape --help")),
    (("fork",), ("missing argument", "tape fork --help")),
    (("--durability", "slow", "sessions"), ("'slow' is not one of", "tape --help")),
    (("checkpoints", "bogus"), ("no such command", "tape checkpoints --help")),
    (("checkpoints", "rebuild", "--bad"), ("no such option", "tape checkpoints rebuild --help")),
    (("delta", "-1", "5"), (("error: -1 is not an option, and event numbers and counts are 0 or more "
                             "(an argument that starts with '-' goes after '--')"), "tape delta --help")),
    (("audit", "-i", "s1@2"), ("error: 's1@2' is an address (ID@N), and this command takes a session id: give 's1'",)),
])
def test_click_usage_errors_are_one_line(s1: Tape, args: tuple[str, ...], texts: tuple[str, ...]) -> None:
    r = s1(*args)
    assert_one_line_error(r, 2, *texts)
    assert r.stdout == ""
    assert r.stderr.startswith("error: ")


def test_a_directory_for_a_file_and_a_bad_durability_variable_are_one_line(s1: Tape, tmp_path: Path) -> None:
    (tmp_path / "adir").mkdir()
    assert_one_line_error(s1("run", str(tmp_path / "adir")), 2, "is a directory", "tape run --help")
    assert_one_line_error(s1("sessions", extra_env={"TAPE_DURABILITY": "slow"}), 2, "'slow' is not one of")


def test_help_and_version_still_work(tape: Tape) -> None:
    r = tape("log", "--help")
    assert r.returncode == 0 and "Usage:" in r.stdout and r.stderr == ""
    for group in (("image",), ()):  # a group alone shows its help on stderr, exit 2, as click did
        r = tape(*group)
        assert r.returncode == 2 and r.stderr.startswith("Usage: tape") and "Commands:" in r.stderr, r.stderr
    r = tape("--version")
    assert r.returncode == 0 and "tape, version" in r.stdout


# -- B: arguments that are not UTF-8 ----------------------------------------------------------------
def _raw(*args: bytes, tmp_path: Path, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAPE_")}
    env["TAPE_HOME"] = str(tmp_path / "home")  # the tape fixture's home: the same default store
    assert TAPE
    return subprocess.run([TAPE.encode(), *args], input=input, capture_output=True, timeout=120, env=env,
                          cwd=tmp_path, check=False)


def _text(r: subprocess.CompletedProcess[bytes]) -> subprocess.CompletedProcess[str]:
    return subprocess.CompletedProcess(r.args, r.returncode, r.stdout.decode(errors="replace"),
                                       r.stderr.decode(errors="replace"))


@pytest.mark.parametrize("args", [
    (b"eval", b"\xff"),
    (b"eval", b"(+ 1 2)", b"-i", b"\xff"),
    (b"snapshot", b"\xff", b"-i", b"s1"),
    (b"snapshot", b"a", b"-i", b"s1", b"--description", b"\xff"),
    (b"fork", b"s1", b"\xff"),
    (b"sql", b'select "\xff"'),
    (b"image", b"verify", b"\xff.img"),
])
def test_arguments_that_are_not_utf8_are_refused(s1: Tape, tmp_path: Path, args: tuple[bytes, ...]) -> None:
    (tmp_path / "\udcff.img").write_bytes(b"junk")
    before = _head(s1)
    r = _text(_raw(*args, tmp_path=tmp_path))
    assert_one_line_error(r, 2, "is not valid UTF-8", "\\xff")
    assert "internal error" not in r.stderr
    assert _head(s1) == before


def test_a_store_variable_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAPE_")}
    env.update(TAPE_HOME=str(tmp_path / "home"))
    env_b = {k.encode(): v.encode(errors="surrogateescape") for k, v in env.items()}
    env_b[b"TAPE_STORE"] = str(tmp_path).encode() + b"/\xff.db"
    assert TAPE
    r = _text(subprocess.run([TAPE, "sessions"], capture_output=True, timeout=120, env=env_b,  # type: ignore[arg-type]
                             check=False))
    assert_one_line_error(r, 2, "TAPE_STORE is not valid UTF-8")


def test_repl_reports_a_line_that_is_not_utf8_and_goes_on(s1: Tape, tmp_path: Path) -> None:
    r = _raw(b"repl", b"-i", b"s1", tmp_path=tmp_path, input=b"(define y 2)\n\xff\n(+ y 3)\n")
    assert r.returncode == 1, r.stderr
    stderr = r.stderr.decode()
    assert "internal error" not in stderr and "Traceback" not in stderr
    assert stderr.strip().splitlines() == [("error: input is not valid UTF-8: line skipped "
                                            "(the form it was in is dropped)")]
    assert r.stdout.decode().split() == ["y", "5"]


# -- D: piped repl input that fails exits non-zero ------------------------------------------------------
def test_piped_repl_exits_1_when_its_input_failed(s1: Tape) -> None:
    r = s1("repl", "-i", "s1", input="(define")
    assert_one_line_error(r, 1, "incomplete form at end of input")
    r = s1("repl", "-i", "s1", input="(car 1)\n(+ 1 2)\n")
    assert r.returncode == 1 and r.stdout.split() == ["3"], (r.stdout, r.stderr)
    r = s1("repl", "-i", "s1", input="(+ 1 2)\n")
    assert r.returncode == 0 and r.stdout.split() == ["3"] and r.stderr == ""


# -- C: huge and non-finite numbers -------------------------------------------------------------------
@pytest.mark.parametrize(("args", "option"), [
    (("log", "-i", "s1", "--from", HUGE), "--from"),
    (("log", "-i", "s1", "--to", HUGE), "--to"),
    (("log", "-i", "s1", "--from", "-1"), "--from"),
    (("audit", "-i", "s1", "--to", HUGE), "--to"),
    (("state", "-i", "s1", "--at", HUGE), "--at"),
    (("delta", "0", HUGE, "-i", "s1"), "'B'"),
    (("snapshot", "a", "-i", "s1", "--at", HUGE), "--at"),
    (("follow", "--once", "--batch", HUGE), "--batch"),
    (("follow", "--once", "--batch", "0"), "--batch"),
    (("follow", "-p", "sql", "--poll", "inf"), "--poll"),
    (("follow", "-p", "sql", "--poll", "1e308"), "--poll"),
    (("follow", "-p", "sql", "--poll", "nan"), "--poll"),
    (("follow", "-p", "sql", "--poll", "0"), "--poll"),
    (("follow", "-p", "sql", "--poll", "1e-9"), "--poll"),  # was accepted: a follower polling in a busy loop
    (("follow", "--once", "--poll", "0.009"), "--poll"),
    (("checkpoints", "rebuild", "-i", "s1", "--interval", HUGE), "--interval"),
    (("checkpoints", "rebuild", "-i", "s1", "--interval", "0"), "--interval"),
    (("replay", "-i", "s1", "--to", "-1"), "--to"),
    (("replay", "-i", "s1", "--to", "0"), "--to"),
    (("replay", "-i", "s1", "--to", HUGE), "--to"),
    (("log", "-i", "s1", "--from", "5", "--to", "2"), "--from 5 is after --to 2"),  # printed '0 events', exit 0
])
def test_numbers_out_of_range_are_usage_errors(s1: Tape, args: tuple[str, ...], option: str) -> None:
    r = s1(*args)
    assert_one_line_error(r, 2, f"invalid value for {option}" if option.startswith("'") else option)
    assert "internal error" not in r.stderr


def test_a_huge_checkpoint_interval_is_not_stored(s1: Tape) -> None:
    s1("checkpoints", "rebuild", "-i", "s1", "--interval", HUGE)
    r = s1("checkpoints", "-i", "s1", "--json")
    assert r.returncode == 0, r.stderr
    assert HUGE not in r.stdout


def test_replay_to_past_the_head_is_refused(s1: Tape) -> None:
    head = _head(s1)
    assert_one_line_error(s1("replay", "-i", "s1", "--to", str(head + 1)), 2, f"events 1..{head}")
    assert s1("replay", "-i", "s1", "--to", str(head)).returncode == 0


# -- D: addresses past the head, empty ids, taking from itself ----------------------------------------
@pytest.mark.parametrize("at", ["99999", HUGE])
def test_info_refuses_an_event_number(s1: Tape, at: str) -> None:
    assert_one_line_error(s1("info", "-i", f"s1@{at}"), 2, "whole session")


@pytest.mark.parametrize("command", ["state", "log"])
def test_an_address_at_event_0_or_past_the_head_is_a_bad_address(s1: Tape, command: str) -> None:
    head = _head(s1)
    assert_one_line_error(s1(command, "-i", "s1@0"), 2, "bad address s1@0", f"events 1..{head}")
    for at in (str(head + 1), HUGE):
        assert_one_line_error(s1(command, "-i", f"s1@{at}"), 2, f"s1@{at}" if command == "log" else f"no event {at}",
                              f"events 1..{head}")
    assert s1(command, "-i", f"s1@{head}").returncode == 0


def test_clone_refuses_an_event_past_the_head_and_honours_one_before_it(s1: Tape) -> None:
    head = _head(s1)
    assert_one_line_error(s1("clone", "s1@99999", "c3"), 2, "bad address s1@99999", f"events 1..{head}")
    assert "c3" not in s1("sessions", "--json").stdout
    r = s1("clone", "s1@1", "c4", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["at"] == 1


@pytest.mark.parametrize("args", [
    ("state", "-i", ""),
    ("log", "-i", " "),
    ("image", "load", "a.img", "-i", ""),
    ("take", "s1", "x", "-i", ""),
    ("merge", "s1", "-i", ""),
    ("export", "-i", ""),
])
def test_empty_session_ids_are_usage_errors(s1: Tape, tmp_path: Path, args: tuple[str, ...]) -> None:
    assert s1("image", "save", str(tmp_path / "a.img"), "-i", "s1").returncode == 0
    assert_one_line_error(s1(*args), 2, "a session id cannot be empty")
    assert "a" not in json.loads(s1("sessions", "--json").stdout)


def test_take_or_merge_from_the_session_itself_is_refused(s1: Tape) -> None:
    before = _head(s1)
    assert_one_line_error(s1("take", "s1", "x", "-i", "s1"), 2, "into itself")
    assert_one_line_error(s1("merge", "s1", "-i", "s1"), 2, "cannot merge session 's1' into itself")
    assert_one_line_error(s1("merge", "s1@1", "-i", "s1"), 2, "into itself")
    assert _head(s1) == before


def test_a_syntax_error_in_a_file_names_the_file_line_and_column(s1: Tape, tmp_path: Path) -> None:
    program = tmp_path / "syn.lisp"
    program.write_text("(define x 1)\n(define y (\n")
    assert_one_line_error(s1("run", str(program), "-i", "s1"), 2,
                          f"syntax error: unterminated list at {program}, line 2, column 11")




@pytest.mark.parametrize("value", ["abc", "0", "-5", HUGE])
def test_a_bad_checkpoint_interval_variable_is_a_usage_error(s1: Tape, value: str) -> None:
    r = s1("state", "-i", "s1", extra_env={"TAPE_CHECKPOINT_INTERVAL": value})
    assert_one_line_error(r, 2, "TAPE_CHECKPOINT_INTERVAL", value)
    assert s1("state", "-i", "s1", extra_env={"TAPE_CHECKPOINT_INTERVAL": "50"}).returncode == 0


@pytest.mark.parametrize("value", ["abc", "0", "-5", "0.5", "inf", "nan", "1e400"])
def test_a_bad_lease_timeout_variable_is_a_usage_error(s1: Tape, value: str) -> None:
    # read at import, 'abc' failed every command with a traceback; 0 or less made every live writer's
    # lease look dead (a second writer took it over); inf broke the heartbeat thread
    before = _head(s1)
    for args in (("eval", "-i", "s1", "(define y 2)"), ("sessions",)):
        r = s1(*args, extra_env={"TAPE_LEASE_TIMEOUT": value})
        assert_one_line_error(r, 2, f"TAPE_LEASE_TIMEOUT={value!r}", "from 1 to 86,400")
    assert _head(s1) == before
    r = s1("eval", "-i", "s1", "(define y 2)", extra_env={"TAPE_LEASE_TIMEOUT": "5"})
    assert r.returncode == 0 and r.stderr == "", r.stderr


# -- F: PostgreSQL store URLs (refused before connecting: no server needed) ---------------------------
PG = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.mark.parametrize(("url", "texts"), [
    ("postgresql://u:secret@[::1/x", ("bad store URL", "Invalid IPv6 URL", "u:***@")),
    ("postgresql://u:secret@host:abc/x", ("bad store URL", "u:***@")),
    (PG + "?schema=bad;name", ("bad schema 'bad;name'",)),
    (PG + '?schema=x"y', ("bad schema",)),
    (PG + "?schema=1abc", ("bad schema",)),
    (PG + "?schema=" + "a" * 64, ("bad schema",)),
    (PG + "?pool_size=99999999999999999999", ("bad pool_size", "from 1 to 100")),
    (PG + "?pool_size=0", ("bad pool_size",)),
    (PG + "?max_overflow=x", ("bad max_overflow",)),
    (PG + "?connect_timeout=nan", ("bad connect_timeout",)),
    (PG + "?connect_timeout=inf", ("bad connect_timeout",)),
])
def test_bad_postgres_urls_are_one_line_usage_errors(tape: Tape, url: str, texts: tuple[str, ...]) -> None:
    r = tape("--store", url, "sessions")
    assert_one_line_error(r, 2, *texts)
    assert "secret" not in r.stderr and "internal error" not in r.stderr


# -- JSON lines ----------------------------------------------------------------------------------------
def test_json_lines_escape_the_line_breaks_json_keeps_so_splitlines_sees_one_line_per_document(s1: Tape) -> None:
    text = "a\u2028b\u2029c\x85d"
    r = s1("eval", "-i", "s1", f'(define t "{text}") (print t)')
    assert r.returncode == 0, r.stderr
    for args in (("log", "-i", "s1", "--json"), ("audit", "-i", "s1", "--json")):
        r = s1(*args)
        assert r.returncode == 0, r.stderr
        for ch in ("\u2028", "\u2029", "\x85"):
            assert ch not in r.stdout, (args, ch)  # escaped as \u2028...: a line splitter broke a line there
        lines = r.stdout.splitlines()
        docs = [json.loads(line) for line in lines]  # one whole document per line
        assert text in json.dumps(docs, ensure_ascii=False), args
    r = s1("sql", "select 'a' || char(8232) || 'b' as t", "--json")  # indented documents use the same helper
    assert r.returncode == 0 and "\u2028" not in r.stdout and json.loads(r.stdout) == [{"t": "a\u2028b"}]


# -- E: tape sql --------------------------------------------------------------------------------------
def test_sql_renders_blobs_as_hex(s1: Tape) -> None:
    r = s1("sql", "select zeroblob(2) as b, x'ff01' as c", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == [{"b": "0000", "c": "ff01"}]
    r = s1("sql", "select x'ff01' as c")
    assert r.returncode == 0 and "ff01" in r.stdout.splitlines()[-1], r.stdout


def test_sql_json_keeps_every_value_of_columns_with_the_same_name(s1: Tape) -> None:
    r = s1("sql", "select 'a' as x, 'b' as x", "--json")  # gave [{"x": "b"}]
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == [{"x": "a", "x:2": "b"}]
    r = s1("sql", "select 1 as x, 2 as x, 3 as \"x:2\", 4 as x, 5 as y", "--json")
    assert r.returncode == 0, r.stderr
    assert list(json.loads(r.stdout)[0].items()) == [("x", 1), ("x:3", 2), ("x:2", 3), ("x:4", 4), ("y", 5)]


@pytest.mark.parametrize("statement", ["", "   "])
def test_sql_refuses_an_empty_statement(s1: Tape, statement: str) -> None:
    assert_one_line_error(s1("sql", statement), 2, "the statement is empty")


def test_sql_allows_with_recursive_select_and_still_refuses_writes(s1: Tape) -> None:
    r = s1("sql", "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 3) "
                  "SELECT n FROM c", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == [{"n": 1}, {"n": 2}, {"n": 3}]
    assert_one_line_error(s1("sql", "WITH RECURSIVE c(n) AS (SELECT 1) DELETE FROM sessions"), 2, "read-only")


def test_a_damaged_read_model_says_so_and_sql_rebuild_recovers(s1: Tape, tmp_path: Path) -> None:
    model = tmp_path / "home" / "store.db.readmodel.db"
    assert s1("sql", "select 1").returncode == 0 and model.is_file()
    for suffix in ("-wal", "-shm"):
        Path(f"{model}{suffix}").unlink(missing_ok=True)
    model.write_bytes(b"junk")
    for args in (("sql", "select 1"), ("follow", "-p", "sql", "--once")):
        assert_one_line_error(s1(*args), 1, "read model", "is damaged", "tape sql --rebuild")
    r = s1("sql", "--rebuild", "select count(*) as n from sessions", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == [{"n": 1}]


def test_a_read_model_path_that_is_a_directory_is_named(s1: Tape, tmp_path: Path) -> None:
    (tmp_path / "home").mkdir(exist_ok=True)
    (tmp_path / "home" / "store.db.readmodel.db").mkdir()
    for args in (("gc",), ("sql", "--rebuild"), ("sql", "select 1")):
        r = s1(*args)
        assert_one_line_error(r, 1, "is a directory")
        assert "try again" not in r.stderr


# -- G: programs from pipes and devices ---------------------------------------------------------------------
@pytest.mark.parametrize("args", [("run", "/dev/zero"), ("replay", "-i", "s1", "--program", "/dev/zero")])
def test_an_endless_program_is_refused_after_its_limit(s1: Tape, args: tuple[str, ...]) -> None:
    before = _head(s1)
    assert_one_line_error(s1(*args), 2, "/dev/zero holds more than 64 MiB")
    assert _head(s1) == before


def test_a_program_runs_from_standard_input_and_from_a_pipe(s1: Tape, tmp_path: Path) -> None:
    r = s1("run", "-i", "piped", "-", input="(define from-stdin 6) (println (* from-stdin 7))")
    assert r.returncode == 0 and r.stdout == "42\n", r.stderr
    fifo = tmp_path / "program.fifo"
    os.mkfifo(fifo)
    assert TAPE
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAPE_")}
    env["TAPE_HOME"] = str(tmp_path / "home")
    proc = subprocess.Popen([TAPE, "run", "-i", "piped", "-u", str(fifo)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    with fifo.open("w") as writer:  # (as ``tape run <(generate)`` gives it)
        writer.write("(println (+ from-stdin 1))")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0 and out == "7\n", err
    r = _text(_raw(b"run", b"-i", b"piped", b"-u", b"-", tmp_path=tmp_path, input=b"(+ 1 \xff)"))
    assert_one_line_error(r, 2, "cannot read standard input")


def test_a_tape_home_that_names_a_file_says_so(tape: Tape, tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("not a directory")
    for home, says in ((afile, f"TAPE_HOME={str(afile)!r} names a file, not a directory"),
                       (afile / "sub", f"lies under {str(afile)!r}, a file, not a directory")):
        for args in (("sessions",), ("eval", "1"), ("image", "list")):
            r = tape(*args, extra_env={"TAPE_HOME": str(home)})  # said "cannot create the directory ...: File exists"
            assert_one_line_error(r, 2, says, "set TAPE_HOME to a directory")
    assert afile.read_text() == "not a directory"


@pytest.mark.parametrize("args", [("sessions",), ("info", "-i", "s1"), ("log", "-i", "s1"), ("diff", "s1", "s2"),
                                  ("sql", "SELECT 1"), ("gc",), ("run", "-u", "-i", "s1", "prog.lisp"),
                                  ("snapshot", "a", "-i", "s1")])
def test_a_command_that_only_reads_does_not_create_a_store_at_a_mistyped_path(
        tape: Tape, tmp_path: Path, args: tuple[str, ...]) -> None:
    # it made an empty store there and showed "0 sessions", as if the real store had lost everything
    (tmp_path / "prog.lisp").write_text("(define x 1)\n")
    missing = tmp_path / "stroe.db"
    r = tape("--store", str(missing), *args)
    assert_one_line_error(r, 2, f"no store at '{missing}'", "--store")
    assert not missing.exists()


def test_commands_that_write_still_create_the_store(tape: Tape, tmp_path: Path) -> None:
    (tmp_path / "prog.lisp").write_text("(define x 1)\n")
    for i, args in enumerate([("run", "prog.lisp"), ("eval", "(+ 1 2)"), ("follow", "--once")]):
        store = tmp_path / f"new{i}.db"
        assert tape("--store", str(store), *args).returncode == 0
        assert store.exists()
