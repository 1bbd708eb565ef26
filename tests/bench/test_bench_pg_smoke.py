"""The PostgreSQL benchmarks run with --quick against the test server and print their JSON result line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.mark.postgres
@pytest.mark.parametrize("name", ["pg_append", "pg_writers", "pg_follow", "fencing"])
def test_quick_pg_run_prints_a_json_result(name: str, postgres_url: str) -> None:
    run = subprocess.run([sys.executable, str(BENCH / f"bench_{name}.py"), "--quick"], capture_output=True,
                         text=True, cwd=BENCH.parent, timeout=300, env=os.environ | {"TAPE_BENCH_POSTGRES": postgres_url},
                         check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    (line,) = [json.loads(x) for x in run.stdout.splitlines() if x.startswith('{"bench"')]
    assert line["bench"] == name and line["quick"] is True
