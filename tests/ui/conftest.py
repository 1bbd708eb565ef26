"""``tape ui`` tests: a real store with sessions worth looking at, the real ``tape`` command, a browser.

``populate`` writes, through the library the CLI uses: ``work`` (definitions, a fact, a world
file, a snapshot, an effect answered by the offline echo model, a form that fails, hostile
values), ``feat`` (a fork of ``work`` at its snapshot that changes a binding and the file) and
``work.1`` (``work`` archived by a ``-f`` run).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import tapevm

TAPE = shutil.which("tape", path=str(Path(sys.executable).parent)) or shutil.which("tape")
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "ui"

HOSTILE_SCRIPT = "<script>alert('xss')</script>"
HOSTILE_IMG = '"><img src=x onerror=alert(1)>'
HOSTILE_URL = "javascript:alert(document.cookie)"
RTL = "abc\u202eexe.txt"
HUGE = "x" * 300_000
HOSTILE_NAME = "<img src=x onerror=alert(2)>"  # a session id may hold markup (not '/', '@' or hidden characters)

WORK = [
    '(define x 1)',
    '(define greeting "hello")',
    "(assert! '(likes ann tea))",
    '(write-file! "notes.txt" "line one\\nline two\\nline three\\n")',
    '(snapshot! "before-change")',
    '(set! x 2)',
    '(define total (+ x 40))',
    '(define plan (ask "plan the day" :model "m"))',
    f'(define evil "{HOSTILE_SCRIPT}")',
    f"(define evil-attr \"{HOSTILE_IMG.replace(chr(34), chr(92) + chr(34))}\")",
    f'(define link "{HOSTILE_URL}")',
    f'(define rtl "{RTL}")',
    f'(define huge "{HUGE}")',
    "(assert! '(note \"<b>bold</b>\"))",
    '(car 1)',
]
FEAT = ['(set! x 10)', '(write-file! "notes.txt" "line one\\nline 2\\nline three\\n")', '(define only-feat #t)']


def populate(location: str) -> None:
    """(Effects are answered by the echo model: callers set TAPE_LLM=echo.)"""
    with tapevm.open_store(location) as store:
        with store.session("work") as s:
            s.run("(define old 0)", "old.lisp")
        with store.session("work", fresh=True) as s:  # the first 'work' is kept as work.1
            for line, form in enumerate(WORK, 1):
                s.run(form, "work.lisp")
        snapshot = next(i for i in store.session("work", create=False, writable=False).snapshots())
        store.fork(f"work@{snapshot.at + 1}", "feat")  # (the end of the form that took the snapshot)
        with store.session("feat") as s:
            s.run("\n".join(FEAT), "feat.lisp")
        store.merge("feat", "work.1", prefer="take")  # drawn in the tree as a merge into work.1
        with store.session(HOSTILE_NAME) as s:
            s.run(f'(snapshot! "{HOSTILE_SCRIPT}")\n(define later 1)\n(restore! "{HOSTILE_SCRIPT}")', "<script>.lisp")


@pytest.fixture
def populated(store_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("TAPE_LLM", "echo")
    populate(store_url)
    return store_url


@pytest.fixture
def tape_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAPE_")}
    env["TAPE_HOME"] = str(tmp_path / "home")
    env["TAPE_LLM"] = "echo"
    return env


@pytest.fixture
def tape(tape_env: dict[str, str]) -> Callable[..., subprocess.CompletedProcess[str]]:
    assert TAPE, "the 'tape' console script is not installed"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([TAPE, *args], check=False, capture_output=True, text=True, timeout=120, env=tape_env)

    return run


class Served:
    """A running ``tape ui`` process and the address it printed."""

    def __init__(self, process: subprocess.Popen[str], url: str) -> None:
        self.process = process
        self.url = url
        self.base = url.split("?")[0].rstrip("/")


@pytest.fixture
def serve(tape_env: dict[str, str]) -> Iterator[Callable[..., Served]]:
    """Start ``tape --store S ui --port 0 [args]`` and wait for its address."""
    started: list[subprocess.Popen[str]] = []

    def start(store: str, *args: str, env: dict[str, str] | None = None) -> Served:
        assert TAPE, "the 'tape' console script is not installed"
        p = subprocess.Popen([TAPE, "--store", store, "ui", "--port", "0", *args], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env={**tape_env, **(env or {})})
        started.append(p)
        assert p.stdout is not None
        line = p.stdout.readline()
        assert "serving http://" in line, (line, p.stderr.read() if p.poll() is not None else "")
        return Served(p, line.split("serving ", 1)[1].split()[0])

    yield start
    for p in started:
        p.terminate()
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
