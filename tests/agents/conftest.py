"""Agents' tests: the real ``tape`` console script in a subprocess, with its own TAPE_HOME and no TAPE_*."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

TAPE = shutil.which("tape", path=str(Path(sys.executable).parent)) or shutil.which("tape")
HERE = Path(__file__).resolve().parent


@pytest.fixture
def tape(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    assert TAPE, "the 'tape' console script is not installed"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAPE_")}
    env["TAPE_HOME"] = str(tmp_path / "home")
    env["TAPE_STORE"] = str(tmp_path / "store.db")
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), str(tmp_path)])  # the tool modules the tests write

    def run(*args: str, input: str | None = None, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([TAPE, *args], input=input, capture_output=True, text=True, timeout=120, check=False,
                              env={**env, **extra}, cwd=tmp_path)

    return run
