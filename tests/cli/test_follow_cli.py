"""``tape follow``: the real command in a subprocess; kill -9 mid-catch-up and restart applies each commit once."""

from __future__ import annotations

import itertools
import json
import os
import random
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tapevm.infrastructure.followers.read_model import read_model_path
from tapevm.infrastructure.session.service import open_session
from tapevm.infrastructure.stores.factory import open_store
from tapevm.infrastructure.stores.log_tail import LogTail
from tests.cli.conftest import TAPE
from tests.infrastructure._follow_checks import assert_checkpoints_valid, dump, fill, rebuilt

SEED = 6


@pytest.fixture(autouse=True)
def _env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAPE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TAPE_CHECKPOINT_INTERVAL", "10")
    monkeypatch.setenv("TAPE_INLINE_CHECKPOINTS", "0")


def _env_for_child() -> dict[str, str]:
    return dict(os.environ)


def test_follow_once_prints_a_summary_and_json(store_url: str, tape: Callable[..., subprocess.CompletedProcess[str]],
                                               tmp_path: Path) -> None:
    with open_store(store_url) as store:
        fill(store, forms=6)
    env = {k: v for k, v in os.environ.items() if k.startswith("TAPE_")}
    done = tape("--store", store_url, "follow", "--once", extra_env=env)
    assert done.returncode == 0, done.stderr
    assert "caught up" in done.stdout and "sql" in done.stdout and "checkpoints" in done.stdout
    again = tape("--store", store_url, "follow", "--once", "--json", "-p", "sql", extra_env=env)
    assert again.returncode == 0, again.stderr
    [status] = json.loads(again.stdout)
    assert status["projection"] == "sql" and status["caught_up"] and status["events"] == 0
    assert status["records_behind"] == 0 and status["lag_seconds"] == 0
    bad = tape("--store", store_url, "follow", "--batch", "0", extra_env=env)
    assert bad.returncode == 2 and "--batch" in bad.stderr and "Traceback" not in bad.stderr


def _start(store_url: str, *args: str) -> subprocess.Popen[str]:
    assert TAPE
    return subprocess.Popen([TAPE, "--store", store_url, "follow", "--json", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_env_for_child())


def _positions(store_url: str) -> dict[str, int]:
    with open_store(store_url) as store:
        from tapevm.infrastructure.followers.catalog import open_projection

        result = {}
        for name in ("sql", "checkpoints"):
            p = open_projection(store, name)
            result[name] = p.position()
            p.close()
        return result


def _kill_and_restart(store_url: str, tmp_path: Path, kills: int, forms: int) -> None:
    """Kill -9 a follower as its positions pass random points of the log (fixed seed), restart, and so on."""
    with open_store(store_url) as store:
        fill(store, forms=forms)
        positions = [r.position for r in LogTail(store).read_after(0, 100_000)]  # type: ignore[arg-type]
    last = positions[-1]
    rng = random.Random(SEED)
    marks = sorted(positions[int(rng.uniform(0.05, 0.9) * len(positions))] for _ in range(kills))
    seen: list[dict[str, int]] = []
    for mark in marks:
        proc = _start(store_url, "--batch", "1", "--poll", "0.05")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and min(_positions(store_url).values()) < mark and proc.poll() is None:
            time.sleep(rng.uniform(0.0, 0.02))
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
        seen.append(_positions(store_url))
    # positions only move forward, and the kills came in the middle of the catch-up
    assert all(a[k] <= b[k] for a, b in itertools.pairwise(seen) for k in a)
    assert any(0 < p[k] < last for p in seen for k in p), (seen, last)
    done = subprocess.run([TAPE, "--store", store_url, "follow", "--once", "--json"], check=False,
                          capture_output=True, text=True, timeout=300, env=_env_for_child())
    assert done.returncode == 0, done.stderr
    assert all(s["position"] == last for s in json.loads(done.stdout))
    with open_store(store_url) as store:
        assert dump(read_model_path(store)) == rebuilt(store, tmp_path)  # no duplicate rows, nothing missing
        assert_checkpoints_valid(store)


def test_kill_9_mid_catch_up_then_restart_applies_every_commit_once(store_url: str, tmp_path: Path) -> None:
    _kill_and_restart(store_url, tmp_path, kills=2, forms=100)


@pytest.mark.slow
def test_kill_9_many_times(store_url: str, tmp_path: Path) -> None:
    _kill_and_restart(store_url, tmp_path, kills=10, forms=300)


def test_sigterm_stops_gracefully_and_two_followers_run_at_once(store_url: str, tmp_path: Path) -> None:
    with open_store(store_url) as store:
        fill(store, forms=30)
    # two followers of the same projections, started together, and a writer adding commits meanwhile
    procs = [_start(store_url, "--batch", "3") for _ in range(2)]
    with open_store(store_url) as store, open_session("w", store) as writer:
        for i in range(20):
            writer.eval(f"(define w{i} {i})")
        last = LogTail(store).last_position()  # type: ignore[arg-type]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and set(_positions(store_url).values()) != {last}:
        time.sleep(0.1)
    time.sleep(2.0)  # the slower of the two has started too (a signal before Python runs kills it outright)
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert {s["projection"] for s in json.loads(out)} == {"sql", "checkpoints"}
    assert set(_positions(store_url).values()) == {last}
    with open_store(store_url) as store:
        assert dump(read_model_path(store)) == rebuilt(store, tmp_path)
        assert_checkpoints_valid(store, ("a", "b", "w"))


def test_status_lines_when_not_a_terminal_and_an_empty_store(sqlite_path: str) -> None:
    assert TAPE
    proc = subprocess.Popen([TAPE, "--store", sqlite_path, "follow"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=_env_for_child())
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not Path(sqlite_path).exists():
        time.sleep(0.05)
    time.sleep(1.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "sql: position 0 of 0" in err and "checkpoints: position 0 of 0" in err and "lag 0 records" in err
    assert "stopped" in out and "Traceback" not in err


def test_ctrl_c_stops_a_once_catch_up_between_batches(sqlite_path: str, tmp_path: Path) -> None:
    assert TAPE
    with open_store(sqlite_path) as store:
        fill(store, forms=100)
        last = LogTail(store).last_position()  # type: ignore[arg-type]
    proc = subprocess.Popen([TAPE, "--store", sqlite_path, "follow", "--once", "--batch", "1", "-p", "sql", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env_for_child())
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and _positions(sqlite_path)["sql"] == 0 and proc.poll() is None:
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    [status] = json.loads(out)
    assert 0 < status["position"] < last and not status["caught_up"]
    assert _positions(sqlite_path)["sql"] == status["position"]
    with open_store(sqlite_path) as store:
        from tapevm.infrastructure.followers.catalog import follow

        follow(store, ["sql"], once=True)
        assert dump(read_model_path(store)) == rebuilt(store, tmp_path)
