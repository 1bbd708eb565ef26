"""CLI conventions: the postgres extra named when missing, NO_COLOR, --no-pager and LESS=FRX, TAPE_LOG_FORMAT=json.

The terminal cases run the real `tape` on a pseudo-terminal (what a person sees), with a pager
that records what it was given.
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.cli._errors import assert_one_line_error
from tests.cli.conftest import TAPE

Tape = Callable[..., subprocess.CompletedProcess[str]]
ESC = "\x1b["


def on_terminal(args: list[str], env: dict[str, str]) -> str:
    """What `tape ARGS` writes to a terminal (stdin and stdout a pty)."""
    assert TAPE
    master, slave = pty.openpty()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TAPE_", "LESS", "PAGER", "NO_COLOR"))}
    proc = subprocess.Popen([TAPE, *args], stdin=slave, stdout=slave, stderr=subprocess.PIPE,
                            env={**base, "TERM": "xterm-256color", "COLUMNS": "120", **env})
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the terminal's other side closed
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.wait(timeout=60) == 0, proc.stderr.read() if proc.stderr else ""
    return b"".join(chunks).decode(errors="replace")


def recording_pager(tmp_path: Path) -> tuple[str, Path, Path]:
    """A PAGER that writes its LESS variable and its input to files (and shows nothing)."""
    less, text = tmp_path / "pager-less", tmp_path / "pager-text"
    script = tmp_path / "pager.sh"
    script.write_text(f'#!/bin/sh\nprintf "%s" "$LESS" > {less}\ncat > {text}\n')
    script.chmod(0o755)
    return str(script), less, text


def test_a_postgresql_store_without_the_extra_says_what_to_install(tmp_path: Path, tape: Tape) -> None:
    fake = tmp_path / "no-psycopg" / "psycopg"  # a psycopg that cannot be imported, first on the path
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'psycopg'\", name='psycopg')\n")
    r = tape("--store", "postgresql://postgres@127.0.0.1:5432/test", "sessions",
             extra_env={"PYTHONPATH": str(fake.parent)})
    assert_one_line_error(r, 2, "a postgresql:// store needs the PostgreSQL driver", "pip install 'tapevm[postgres]'")


def test_log_pages_through_less_with_frx_unless_told_otherwise(tmp_path: Path, tape: Tape) -> None:
    db = str(tmp_path / "s.db")
    assert tape("--store", db, "eval", "-i", "w", "(define x 1)").returncode == 0
    pager, less, text = recording_pager(tmp_path)
    on_terminal(["--store", db, "log", "-i", "w"], {"PAGER": pager})
    assert less.read_text() == "FRX"
    assert "Defined" in text.read_text() and ESC in text.read_text()  # coloured for a pager that keeps colours

    less.unlink()
    on_terminal(["--store", db, "log", "-i", "w"], {"PAGER": pager, "LESS": "-S"})
    assert less.read_text() == "-S"  # the user's LESS stays as it is

    less.unlink()
    shown = on_terminal(["--store", db, "--no-pager", "audit", "-i", "w"], {"PAGER": pager})
    assert not less.exists() and "(define x 1)" in shown


def test_no_color_is_honoured_by_log_and_state(tmp_path: Path, tape: Tape) -> None:
    db = str(tmp_path / "s.db")
    assert tape("--store", db, "eval", "-i", "w", "(define x 1) (car 1)").returncode == 1
    for command in (["log", "-i", "w"], ["state", "-i", "w"]):
        coloured = on_terminal(["--store", db, "--no-pager", *command], {})
        plain = on_terminal(["--store", db, "--no-pager", *command], {"NO_COLOR": "1"})
        assert ESC in coloured, command
        assert ESC not in plain and "x" in plain, (command, plain)


def test_tape_log_format_json_writes_json_lines(tmp_path: Path, tape: Tape) -> None:
    r = tape("--debug", "--store", str(tmp_path / "s.db"), "eval", "(+ 1 2)", extra_env={"TAPE_LOG_FORMAT": "json"})
    assert r.returncode == 0 and r.stdout.strip() == "3"
    lines = [json.loads(line) for line in r.stderr.splitlines()]
    assert lines and all({"event", "level", "timestamp"} <= set(line) for line in lines)
    assert any(line["event"] == "session_opened" for line in lines)
    bad = tape("sessions", extra_env={"TAPE_LOG_FORMAT": "yaml"})
    assert_one_line_error(bad, 2, "TAPE_LOG_FORMAT='yaml': give text")
