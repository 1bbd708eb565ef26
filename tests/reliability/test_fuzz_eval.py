"""Fuzz what users type at a session: no input, however malformed, changes an event already stored.

A session holds some committed forms; then arbitrary text and Lisp-shaped
token soup (with the names of every mutating special form and primitive mixed
in) are run against it.  Each input either commits as one form or fails with a
TapeError; afterwards the rows stored before are byte-identical, the log is
gapless and whole, and the state folded from the log equals the live VM's.
"""

from __future__ import annotations

import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tapevm.domain.errors import TapeError
from tapevm.domain.fold import fold_fields
from tapevm.domain.state import State
from tapevm.infrastructure.session.service import open_session
from tests.cli.conftest import tape  # noqa: F401  (the fixture that runs the real command)

from ._checks import check_session_log
from ._fuzz import EXAMPLES_FOR_SLOW_TARGETS

TOKENS = st.sampled_from([
    "(", ")", "[", "]", "{", "}", "'", "`", ",", ",@", ".", '"', "\\", ";", " ", "\n", ":k", "1", "-7", "2.5",
    "nil", "#t", "x", "y", "define", "set!", "quote", "begin", "atom", "reset!", "swap!", "assert!", "retract!",
    "write-file!", "delete-file!", "read-file", '"f"', '"../etc/passwd"', "in-ns", "println", "raise", "try",
    "catch", "str", "list", "+", "car", "deref", "@",
])
SOUP = st.lists(st.one_of(TOKENS, st.text(max_size=2)), max_size=30).map(" ".join)


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    path = tmp_path_factory.mktemp("eval") / "store.db"
    s = open_session("fuzz", str(path), durability="fast")
    s.run('(define x 1) (define y (atom 2)) (assert! (quote (a b))) (write-file! "f" "data") (println "hi")')
    rows = s.store.recorder.select_rows("fuzz", 0, None, 10_000)  # type: ignore[attr-defined]
    yield s, rows
    s.close()


@settings(max_examples=EXAMPLES_FOR_SLOW_TARGETS, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.one_of(SOUP, st.text(max_size=80)))
def test_malformed_input_never_changes_stored_events(session, text: str) -> None:  # type: ignore[no-untyped-def]
    s, before = session
    try:
        s.run(text, "<fuzz>")
    except TapeError as e:
        assert str(e) and "\n" not in str(e).strip()
    after = s.store.recorder.select_rows("fuzz", 0, before[-1][0], 10_000)
    assert after == before, "a stored record changed"


def test_log_is_whole_after_the_fuzzing(session) -> None:  # type: ignore[no-untyped-def]
    s, _ = session
    check_session_log(s.store, "fuzz")
    folded = fold_fields(s.store.read_fields("fuzz"), State(session="fuzz"))
    assert folded.namespaces == s.state.namespaces and folded.seq == s.head


@pytest.mark.parametrize("text", ['(define', '"\\q"', "{:a}", "\x01"])
def test_tape_eval_of_malformed_input_is_one_line(tape, text: str) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    tape("eval", "(define keep 1)")
    before = tape("log", "--json").stdout
    done: subprocess.CompletedProcess[str] = tape("eval", text)
    assert done.returncode in (1, 2) and done.stderr.strip().count("\n") == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert tape("log", "--json").stdout.startswith(before)
