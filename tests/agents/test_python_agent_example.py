"""examples/python_agent.py runs end to end on a real store, and the tape command reads what it recorded."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
TAPE = shutil.which("tape", path=str(Path(sys.executable).parent)) or "tape"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), check=False, capture_output=True, text=True, timeout=120)


def test_the_python_agent_example_records_replays_and_forks(tmp_path: Path) -> None:
    db = str(tmp_path / "agent.db")
    r = run(sys.executable, str(ROOT / "examples" / "python_agent.py"), db)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "1. recorded: 'a session is replayed offline from its log' (tool calls: ['event sourcing'])"
    assert lines[1] == "2. audited: 3 effects:"
    assert lines[3].startswith('   (step "search" "event sourcing") -> ("every change is an event in a log"')
    assert "tools called 0 times; replay --verify: identical" in lines[5]
    assert lines[6] == "4. forked at event 4: 'nothing found about replay'; bindings that differ: " \
                       "['user/answer', 'user/observed']"

    verify = run(TAPE, "--store", db, "replay", "-i", "agent", "--verify")
    assert verify.returncode == 0 and "identical" in verify.stdout, verify.stdout + verify.stderr
    blame = run(TAPE, "--store", db, "blame", "-i", "agent", "observed")
    assert blame.returncode == 0, blame.stderr
    assert "(define observed" in blame.stdout and "state is a fold of the log" in blame.stdout
    audit = run(TAPE, "--store", db, "audit", "-i", "agent", "--kind", "effect")
    assert audit.returncode == 0 and audit.stdout.count("(step ") == 1 and audit.stdout.count("(ask ") == 2, audit.stdout
