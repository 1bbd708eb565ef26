"""Crashes: ``kill -9`` a running ``tape run`` at random moments; nothing committed is lost, nothing partial shows.

Each trial runs a program of FORMS top-level forms (each one commit of
several events: a definition, a fact, a line of output, a file write) in a
fresh session, kills the process with SIGKILL after a random delay (fixed
seed, so a failure reproduces), and then checks that

* the store opens, and every record decodes and passes its checksum;
* the session's events are numbered 1..head with no gap, and every form in
  the log is complete (FormSubmitted .. FormEvaluated, nothing half-written);
* the committed forms are exactly the program's first C forms, in order;
* running the program's remaining forms continues the session, and the
  result is the same as one uninterrupted run (each form once, in order).

50 trials per backend under ``-m slow``; a few in the default suite.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tapevm.infrastructure.session.service import open_session
from tapevm.infrastructure.stores.factory import open_store

from ._checks import check_session_log

FORMS = 60
SEED = 6


def program_forms(n: int = FORMS) -> list[str]:
    return [
        f'(begin (define v{k} (list {k} "{"p" * 300}{k}")) (assert! (quote (step {k}))) '
        f'(println "step {k}") (write-file! "steps/{k}.txt" (str "step " {k})))'
        for k in range(n)
    ]


def tape_cmd(store_url: str, *args: str) -> list[str]:
    from tests.cli.conftest import TAPE

    assert TAPE, "the 'tape' console script is not installed"
    return [TAPE, "--store", store_url, *args]


def committed_prefix(store_url: str, session: str, forms: list[str]) -> int:
    """Check the killed session's log; the number of program forms it committed (a prefix)."""
    with open_store(store_url) as store:
        if store.last_seq(session) == 0:
            return 0  # killed before the session's first commit
        sources = check_session_log(store, session)
        ordered = [e.event.source for e in store.read(session) if e.type_name == "FormSubmitted"]
    assert all(n == 1 for n in sources.values()), "a form was committed twice"
    assert ordered == forms[: len(ordered)], "the committed forms are not a prefix of the program"
    return len(ordered)


def check_complete(store_url: str, session: str, forms: list[str]) -> None:
    with open_store(store_url) as store:
        check_session_log(store, session)
        ordered = [e.event.source for e in store.read(session) if e.type_name == "FormSubmitted"]
        assert ordered == forms, "after continuing, the log is not the program run once"
        with open_session(session, store, create=False) as s:
            state = s.state
            assert {f"v{k}" for k in range(len(forms))} <= set(state.namespaces["user"])
            assert len(state.facts) == len(forms) and len(state.files) == len(forms)


def crash_trials(store_url: str, tmp_path: Path, trials: int) -> dict[str, int]:
    rng = random.Random(SEED)
    forms = program_forms()
    prog = tmp_path / "prog.lisp"
    prog.write_text("\n".join(forms) + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAPE_")} | {"TAPE_HOME": str(tmp_path / "home")}

    # Clean runs tell how long a whole run takes here: the median of three after a warm-up run (one
    # run, timed cold or on a busy machine, could be the slowest by far and aim most kills past the end).
    subprocess.run(tape_cmd(store_url, "run", str(prog), "-i", "warm"), env=env, check=True, capture_output=True)
    durations = []
    for k in range(3):
        t0 = time.perf_counter()
        subprocess.run(tape_cmd(store_url, "run", str(prog), "-i", f"clean{k}"), env=env, check=True,
                       capture_output=True)
        durations.append(time.perf_counter() - t0)
    duration = sorted(durations)[1]
    check_complete(store_url, "clean0", forms)

    outcomes = {"killed_mid_run": 0, "finished_before_kill": 0, "killed_before_first_commit": 0}
    for trial in range(trials):
        session = f"crash{trial}"
        # most of a short run is interpreter start-up: aim the kills at the part where forms commit
        delay = rng.uniform(duration * 0.55, duration * 1.05)
        proc = subprocess.Popen(tape_cmd(store_url, "run", str(prog), "-i", session), env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        done = committed_prefix(store_url, session, forms)
        if proc.returncode == 0:
            outcomes["finished_before_kill"] += 1
            assert done == len(forms)
        elif done == 0:
            outcomes["killed_before_first_commit"] += 1
        else:
            outcomes["killed_mid_run"] += 1
        rest = tmp_path / f"rest{trial}.lisp"
        rest.write_text("\n".join(forms[done:]) + "\n")
        subprocess.run(tape_cmd(store_url, "run", str(rest), "-i", session), env=env, check=True,
                       capture_output=True)
        check_complete(store_url, session, forms)
    return outcomes


def test_kill_9_small(store_url: str, tmp_path: Path) -> None:
    crash_trials(store_url, tmp_path, trials=2)


@pytest.mark.slow
def test_kill_9_during_tape_run_50_trials(store_url: str, tmp_path: Path, record_property) -> None:
    outcomes = crash_trials(store_url, tmp_path, trials=50)
    assert outcomes["killed_mid_run"] >= 10, f"too few kills landed mid-run to mean anything: {outcomes}"
    record_property("trials", 50)
    record_property("detail", ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in outcomes.items()))


def session_exists(store_url: str, session: str) -> bool:
    with open_store(store_url) as store:
        return store.last_seq(session) > 0


def test_tape_run_continue_after_kill_9(store_url: str, tmp_path: Path) -> None:
    """``tape run -u FILE`` after a crash runs exactly the forms of FILE not yet committed."""
    rng = random.Random(SEED)
    forms = program_forms()
    prog = tmp_path / "prog.lisp"
    prog.write_text("\n".join(forms) + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAPE_")} | {"TAPE_HOME": str(tmp_path / "home")}
    for trial in range(5):
        session = f"cont{trial}"
        proc = subprocess.Popen(tape_cmd(store_url, "run", str(prog), "-i", session), env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.3, 1.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        done = committed_prefix(store_url, session, forms)
        # killed before the session's first commit: there is nothing to continue (-u would refuse)
        continue_flag = ["-u"] if session_exists(store_url, session) else []
        subprocess.run(tape_cmd(store_url, "run", *continue_flag, str(prog), "-i", session), env=env, check=True,
                       capture_output=True)
        assert done <= len(forms)
        check_complete(store_url, session, forms)
