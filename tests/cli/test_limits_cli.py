"""Runaway programs through the real ``tape`` command: each is stopped with one clear error line and
a non-zero exit, output streams as it is printed, an interrupted runaway can be abandoned, and
``tape world import`` reads only what ``tape run`` would.  Every process has a timeout: on code
without limits these runaways never end, and the test fails instead of hanging."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from tests.cli.conftest import TAPE

Tape = Callable[..., subprocess.CompletedProcess[str]]

LOOP = "(define (f n) (f (+ n 1)))"
EFFECT_LOOP = "(define (g n) (begin (random 10) (g (+ n 1))))"


def test_a_runaway_form_stops_with_limit_exceeded(tape: Tape) -> None:
    assert tape("eval", "(define kept 1)").returncode == 0
    proc = tape("eval", f"{LOOP} (f 0)", "--max-steps", "100000")
    assert proc.returncode == 1
    assert "limit-exceeded: the form made more than 100,000 function calls (--max-steps 100000)" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert tape("eval", "kept").stdout == "1\n"  # nothing committed before it is lost
    timed = tape("eval", "(f 0)", "--max-steps", "0", "--max-time", "0.5")
    assert timed.returncode == 1 and "the form ran for more than 0.5 s" in timed.stderr
    caught = tape("eval", "(try (f 0) (catch e (error-kind e)))", extra_env={"TAPE_MAX_STEPS": "20000"})
    assert caught.stdout == "limit-exceeded\n"
    printed = tape("eval", '(define (p) (begin (println "x") (p))) (p)', "--max-output", "100")
    assert printed.returncode == 1 and printed.stdout == "x\n" * 50
    assert "the form printed more than 100 bytes" in printed.stderr
    replayed = tape("replay", "--verify", "--max-steps", "20000")
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr


def test_bad_limits_are_one_line_errors(tape: Tape) -> None:
    proc = tape("eval", "1", "--max-steps", "many")
    assert proc.returncode == 2 and proc.stderr == "error: --max-steps='many': give a whole number from 0 (0: no limit)\n"
    proc = tape("eval", "1", extra_env={"TAPE_MAX_TIME": "-1"})
    assert proc.returncode == 2 and "TAPE_MAX_TIME='-1': give a number of seconds from 0" in proc.stderr


def _popen(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAPE_")}
    env["TAPE_HOME"] = str(tmp_path / "home")
    assert TAPE
    return subprocess.Popen([TAPE, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=tmp_path)


def test_output_streams_while_the_form_runs(tape: Tape, tmp_path: Path) -> None:
    """It was held until the form ended, so a runaway println loop died of memory having printed nothing."""
    assert tape("eval", LOOP).returncode == 0
    proc = _popen(tmp_path, "eval", '(begin (println "first") (f 0))', "--max-steps", "0", "--max-time", "20")
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 15)
        assert ready, "nothing printed while the form runs"
        assert proc.stdout.readline() == "first\n"
        assert proc.poll() is None  # still running: the line came as it was printed
    finally:
        proc.kill()
        proc.wait(timeout=30)


def test_a_reader_that_goes_away_does_not_fail_the_form(tape: Tape, tmp_path: Path) -> None:
    """Output is written as it is printed: a closed pipe (| head -1) stops the echo, not the form."""
    program = '(define (q n) (if (= n 0) "done" (begin (println n) (q (- n 1))))) (define last (q 100000))'
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAPE_")} | {"TAPE_HOME": str(tmp_path / "home")}
    done = subprocess.run(["bash", "-c", 'set -o pipefail; "$0" eval "$1" | head -1', str(TAPE), program],
                          env=env, capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path)
    assert done.returncode == 0 and done.stdout == "100000\n" and done.stderr == "", done.stderr
    assert tape("eval", "last").stdout == '"done"\n'


def _interrupt_effect_loop(tape: Tape, tmp_path: Path) -> None:
    """Ctrl-C a loop that commits an effect each time round, once it has committed some."""
    assert tape("eval", EFFECT_LOOP).returncode == 0
    proc = _popen(tmp_path, "eval", "(g 0)", "--max-effects", "0", "--max-steps", "0")
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            time.sleep(0.5)
            log = tape("log", "--json")
            if log.stdout.count("EffectCompleted") >= 20:
                break
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    refused = tape("eval", "1")
    assert refused.returncode != 0 and "tape resume --abandon" in refused.stderr


def test_an_interrupted_runaway_is_abandoned(tape: Tape, tmp_path: Path) -> None:
    """The session refused everything until 'tape resume', which ran the loop again for ever."""
    _interrupt_effect_loop(tape, tmp_path)
    abandoned = tape("resume", "--abandon")
    assert abandoned.returncode == 0 and abandoned.stdout.startswith("abandoned the form at event ")
    assert tape("eval", "(+ 1 1)").stdout == "2\n"
    assert tape("resume").stdout == "session default has no unfinished form\n"
    assert "abandoned" in tape("log").stdout
    replayed = tape("replay", "--verify")
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr


def test_resuming_an_interrupted_runaway_stops_at_its_limit(tape: Tape, tmp_path: Path) -> None:
    _interrupt_effect_loop(tape, tmp_path)
    resumed = tape("resume", "--max-effects", "10")
    assert resumed.returncode == 1
    assert "limit-exceeded: the form performed more than 10 effects (--max-effects 10)" in resumed.stderr
    assert tape("eval", "(+ 1 1)").stdout == "2\n"


def test_a_huge_integer_literal_is_a_quick_syntax_error(tape: Tape, tmp_path: Path) -> None:
    program = tmp_path / "big.lisp"
    program.write_text("(define big " + "7" * 5_000_000 + ")\n")
    for args, stdin in ((("run", str(program)), None), (("run", "-"), program.read_text()),
                        (("repl",), program.read_text())):
        proc = tape(*args, input=stdin)
        assert proc.returncode in (1, 2), args
        assert "an integer literal of 5,000,000 digits is longer than the 100,000 digits" in proc.stderr


def test_world_import_reads_regular_files_only_unless_asked(tape: Tape, tmp_path: Path) -> None:
    link = tmp_path / "environ"
    link.symlink_to("/proc/self/environ")
    proc = tape("world", "import", str(link))
    assert proc.returncode == 2
    assert proc.stderr == f"error: {link} is a symbolic link (to /proc/self/environ): give the file it points to, " \
                          "or --special to follow it\n"
    proc = tape("world", "import", "/dev/zero", "zero")
    assert proc.returncode == 2 and "is not a regular file" in proc.stderr
    proc = tape("world", "import", "--special", "/dev/zero", "zero")  # read 9 GB in 8 s, then died
    assert proc.returncode == 2 and proc.stderr == "error: /dev/zero is endless or more than 64 MiB; " \
                                                   "import a smaller file (split it first)\n"
    (tmp_path / "notes.txt").write_text("hello")
    assert tape("world", "import", str(tmp_path / "notes.txt")).returncode == 0
    assert tape("world", "import", "--special", str(link), "env").returncode == 0
    listed = tape("world", "ls").stdout.split()
    assert "env" in listed and "notes.txt" in listed
