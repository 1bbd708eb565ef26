"""Every benchmark runs with --quick (tiny sizes) and prints its JSON result line.

The benchmarks start together (each in its own process) so the whole module
takes a few seconds; the figures of a quick run mean nothing and are not checked.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
NAMES = ["append", "fold", "size", "growth", "world_files", "vm", "state_at", "image", "fork", "diff", "readmodel", "replay", "verify", "effects",
         "follow", "cli_start", "checkpoint_write", "log", "agent_history", "large_session", "ui"]


@pytest.fixture(scope="module")
def quick_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, subprocess.CompletedProcess[str]]:
    tmp = tmp_path_factory.mktemp("bench")
    procs = {
        name: subprocess.Popen(
            [sys.executable, str(BENCH / f"bench_{name}.py"), "--quick", "--tmpdir", str(tmp)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=BENCH.parent,
        )
        for name in NAMES
    }
    done = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        done[name] = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    return done


@pytest.mark.parametrize("name", NAMES)
def test_quick_run_prints_a_json_result(name: str, quick_runs: dict[str, subprocess.CompletedProcess[str]]) -> None:
    run = quick_runs[name]
    assert run.returncode == 0, f"bench_{name}.py --quick failed:\n{run.stdout[-2000:]}\n{run.stderr[-4000:]}"
    lines = [json.loads(x) for x in run.stdout.splitlines() if x.startswith('{"bench"')]
    assert len(lines) == 1, run.stdout
    assert lines[0]["bench"] == name
    assert lines[0]["quick"] is True


def test_run_all_renders_saved_results(tmp_path: Path, quick_runs: dict[str, subprocess.CompletedProcess[str]]) -> None:
    saved = tmp_path / "results.jsonl"
    saved.write_text("".join(
        x + "\n" for run in quick_runs.values() for x in run.stdout.splitlines() if x.startswith('{"bench"')
    ))
    out = subprocess.run(
        [sys.executable, str(BENCH / "run_all.py"), "--from", str(saved), "--markdown"],
        capture_output=True, text=True, check=True,
    ).stdout
    assert out.startswith("| benchmark |")


def test_append_runs_the_closure_payload(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, str(BENCH / "bench_append.py"), "--quick", "--payload", "closure", "--tmpdir", str(tmp_path)],
        capture_output=True, text=True, cwd=BENCH.parent, timeout=120, check=False,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    (line,) = [json.loads(x) for x in run.stdout.splitlines() if x.startswith('{"bench"')]
    assert line["payload"] == "closure" and line["target_ratio_es"] == 2
    assert line["events"] >= 1_000 and line["es_events"] >= 1_000
