"""Run the real ``tape`` console script in a subprocess, with its own TAPE_HOME."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

TAPE = shutil.which("tape", path=str(Path(sys.executable).parent)) or shutil.which("tape")


@pytest.fixture
def tape(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    assert TAPE, "the 'tape' console script is not installed"
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAPE_")}
    env["TAPE_HOME"] = str(home)

    def run(*args: str, input: str | None = None, extra_env: dict[str, str] | None = None,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([TAPE, *args], input=input, capture_output=True, text=True, timeout=120,
                              env={**env, **(extra_env or {})}, cwd=cwd or tmp_path)

    return run
