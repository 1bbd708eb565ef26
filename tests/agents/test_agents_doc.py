"""docs/agents.md is true: its program, tool and script run from the real ``tape`` command, and what it
says of the run (recorded, audited, replayed offline, forked with another answer) holds."""

from __future__ import annotations

import json
from pathlib import Path

from tapevm import open_store

DOC = (Path(__file__).resolve().parents[2] / "docs" / "agents.md").read_text()


def block(opening: str) -> str:
    return DOC.split(opening, 1)[1].split("```", 1)[0]


def test_the_documented_agent_runs_replays_and_forks(tape, tmp_path: Path) -> None:
    (tmp_path / "agent.lisp").write_text(block("```\n;; agent.lisp\n"))
    (tmp_path / "weathertools.py").write_text(block("```python\n# weathertools.py\n"))
    script = block("```json\n")
    (tmp_path / "model.json").write_text(script)
    (tmp_path / "other-model.json").write_text(script.replace("Paris", "Lima").replace("sunglasses", "a hat"))
    done = tape("run", "agent.lisp", "-i", "agent", "--tools", "weathertools:weather",
                TAPE_LLM=f"script:{tmp_path / 'model.json'}")
    assert done.returncode == 0, done.stderr
    assert tape("replay", "-i", "agent", "--verify").returncode == 0
    fork = tape("replay", "-i", "agent", "--fork", "what-if", "--live-effects", "--tools", "weathertools:weather",
                TAPE_LLM=f"script:{tmp_path / 'other-model.json'}")
    assert fork.returncode == 0, fork.stderr
    diff = tape("diff", "agent", "what-if", "--json")
    assert "Take sunglasses." in diff.stdout and "Take a hat." in diff.stdout
    with open_store(str(tmp_path / "store.db")) as store:  # the Python API reads the same tokens
        info = store.info("agent")
        assert (info["input_tokens"], info["output_tokens"], info["model_calls"]) == (15, 2, 2)
        entries = store.audit("agent", kinds=("effect",))
        chats = [e.as_json() for e in entries if e.what.startswith("(chat")]
        assert [(c["input_tokens"], c["output_tokens"]) for c in chats] == [(6, 0), (9, 2)]
        results = [e for e in store.audit("agent", kinds=("result",)) if e.tokens is not None]
        assert [(e.tokens.input_tokens, e.tokens.calls) for e in results] == [(15, 2)]
    assert json.loads(tape("info", "-i", "what-if", "--json").stdout)["model_calls"] == 2
