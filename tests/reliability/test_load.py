"""Load: many processes appending at once lose and duplicate nothing, on every backend.

8 processes each append forms to their own session while 4 more contend for
one shared session (retrying conflicts with ``run_retrying``).  Afterwards
every session's events are numbered 1..head without gaps, every form that a
process reports committed is in the log exactly once, nothing else is, and
the folded state holds every definition.  The full size (2,000 forms per own
session) runs under ``-m slow``; the default suite runs a small one.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tapevm.infrastructure.session.service import open_session
from tapevm.infrastructure.stores.factory import open_store

from ._checks import check_session_log

WORKER = Path(__file__).with_name("load_worker.py")
OWN_WRITERS = 8
CONTENDERS = 4


def run_load(store_url: str, own_forms: int, contend_forms: int) -> dict[str, int]:
    open_store(store_url).close()  # create the tables before the race (creation itself is tested elsewhere)
    procs = [
        subprocess.Popen([sys.executable, str(WORKER), "own", store_url, f"own{i}", str(own_forms), f"o{i}"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(OWN_WRITERS)
    ] + [
        subprocess.Popen([sys.executable, str(WORKER), "contend", store_url, "shared", str(contend_forms), f"c{i}"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(CONTENDERS)
    ]
    reports = []
    for p in procs:
        out, err = p.communicate(timeout=1500)
        assert p.returncode == 0, f"a writer failed (exit {p.returncode}):\n{err[-3000:]}"
        reports.append(json.loads(out.strip().splitlines()[-1]))
    assert all(r["committed"] == own_forms for r in reports[:OWN_WRITERS])
    assert all(r["committed"] == contend_forms for r in reports[OWN_WRITERS:])

    with open_store(store_url) as store:
        for i in range(OWN_WRITERS):
            sources = check_session_log(store, f"own{i}")
            assert sources == {f"(define o{i}_{k} {k})": 1 for k in range(own_forms)}
        sources = check_session_log(store, "shared")
        expected = {f"(define c{w}_{k} {k})": 1 for w in range(CONTENDERS) for k in range(contend_forms)}
        assert sources == expected, "the shared session lost or duplicated forms"
        with open_session("shared", store, create=False) as s:
            user = s.state.namespaces["user"]
            assert all(user[f"c{w}_{k}"] == k for w in range(CONTENDERS) for k in range(contend_forms))
    conflicts = sum(r["conflicts"] for r in reports)
    return {"forms": OWN_WRITERS * own_forms + CONTENDERS * contend_forms, "conflicts": conflicts}


def test_load_small(store_url: str) -> None:
    run_load(store_url, own_forms=25, contend_forms=15)


@pytest.mark.slow
def test_load_8_writers_x_2000_forms_plus_4_contending(store_url: str, record_property) -> None:
    result = run_load(store_url, own_forms=2000, contend_forms=250)
    record_property("trials", result["forms"])
    record_property("detail", f"{result['forms']} forms committed by 12 processes, "
                              f"{result['conflicts']} conflicts retried cleanly")
