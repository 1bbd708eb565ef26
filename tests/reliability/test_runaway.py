"""Runaway programs: each kind, through the real ``tape eval``, is stopped by its limit.

A runaway ran until it was killed (or died of memory having printed nothing): endless recursion,
a ``set!`` loop (the form's journal grew ~95 MB/s), a ``println`` loop, a macro that expands for
ever, a loop committing an effect each time round.  Each now ends, under a 1.5 GB address-space
limit and a timeout (so that code without limits fails here rather than hanging), with one
``limit-exceeded`` line naming the limit and exit 1; what was committed before it is kept, and
``tape replay --verify`` reproduces the stopped form.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tapevm.infrastructure.stores.factory import open_store
from tests.cli.conftest import TAPE

from ._checks import check_session_log

SETUP = """(define kept 1) (define (f n) (f (+ n 1))) (define x 0) (define (h) (begin (set! x (+ x 1)) (h)))
(define (p) (begin (println "0123456789") (p))) (define (g n) (begin (random 10) (g (+ n 1))))
(define-macro (m y) (list 'm y))"""

# limit -> (the runaway form, its options, what the error line says)
RUNAWAYS = {
    "steps": ("(f 0)", ["--max-steps", "300000"], "made more than 300,000 function calls (--max-steps 300000)"),
    "time": ("(f 0)", ["--max-steps", "0", "--max-time", "1"], "ran for more than 1 s, stopped after"),
    "journal": ("(h)", ["--max-steps", "0", "--max-journal", "300000"],
                "made more than 300,000 changes and outputs (held in memory until it ends) (--max-journal 300000)"),
    "output": ("(p)", ["--max-steps", "0", "--max-output", "1000000"], "printed more than 1,000,000 bytes"),
    "effects": ("(g 0)", ["--max-steps", "0", "--max-effects", "300"], "performed more than 300 effects"),
    "macro": ("(m 1)", ["--max-steps", "20000"], "made more than 20,000 function calls"),
}


def _tape(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert TAPE
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAPE_")} | {"TAPE_HOME": str(tmp_path)}
    return subprocess.run(["bash", "-c", 'ulimit -v 1500000; exec "$@"', "tape", TAPE,
                           "--store", str(tmp_path / "store.db"), *args],
                          env=env, capture_output=True, text=True, timeout=300, check=False)


@pytest.mark.parametrize("limit", list(RUNAWAYS))
def test_runaway_form_is_stopped(tmp_path: Path, limit: str) -> None:
    form, options, says = RUNAWAYS[limit]
    assert _tape(tmp_path, "eval", SETUP).returncode == 0
    done = _tape(tmp_path, "eval", form, *options)
    assert done.returncode == 1, (done.returncode, done.stderr[-2000:])
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert ": limit-exceeded: the form " in done.stderr and says in done.stderr, done.stderr
    if limit == "output":  # streamed as printed, up to the limit
        assert len(done.stdout) == 1_000_000 - 1_000_000 % 11
    assert _tape(tmp_path, "eval", "(list kept x)").stdout == "(1 0)\n"  # committed before: kept; the form: nothing
    replayed = _tape(tmp_path, "replay", "--verify")
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    with open_store(str(tmp_path / "store.db")) as store:
        check_session_log(store, "default")
