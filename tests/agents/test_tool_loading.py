"""Tools from outside Python: ``--tools MODULE:ATTR``, ``TAPE_TOOLS``, the ``tapevm.tools`` entry points,
and ``@tapevm.tool``'s schema, through the real ``tape`` command."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytest

import tapevm
from tapevm.domain.errors import UsageError
from tapevm.infrastructure.tools.declaration import parameters_schema
from tapevm.infrastructure.tools.loading import load_spec

TOOLS = '''import tapevm

@tapevm.tool(name="shout", description="Upper-case a text.")
def shout(text: str, times: int = 1) -> str:
    return text.upper() * times

def plain(a, b):
    return [a, b]

REGISTRY = {"join": lambda *parts: "-".join(parts)}
'''


@pytest.fixture
def tools_dir(tmp_path: Path) -> Path:
    (tmp_path / "mytools.py").write_text(TOOLS)
    return tmp_path


def test_tools_given_on_the_command_line_are_callable(tape, tools_dir: Path) -> None:
    done = tape("eval", '(list (tool "shout" "hi" 2) (tool "plain" 1 2) (tool "join" "a" "b"))',
                "--tools", "mytools:shout", "--tools", "mytools:plain", "--tools", "mytools:REGISTRY")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == '("HIHI" (1 2) "a-b")'


def test_a_model_style_call_passes_arguments_by_name(tape, tools_dir: Path) -> None:
    done = tape("eval", '(tool "shout" {"text" "x" "times" 3})', "--tools", "mytools")
    assert done.stdout.strip() == '"XXX"', done.stderr


def test_tape_tools_and_entry_points_load_too(tape, tools_dir: Path) -> None:
    assert tape("eval", '(tool "shout" "env")', TAPE_TOOLS="mytools:shout").stdout.strip() == '"ENV"'
    dist = tools_dir / "site"
    (dist / "plugin_tools-1.0.dist-info").mkdir(parents=True)
    (dist / "plugin_tools-1.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: plugin-tools\n"
                                                                 "Version: 1.0\n")
    (dist / "plugin_tools-1.0.dist-info" / "entry_points.txt").write_text("[tapevm.tools]\nmine = plugin_mod:tools\n")
    (dist / "plugin_mod.py").write_text("def whisper(t):\n    return t.lower()\n\ntools = [whisper]\n")
    done = tape("eval", '(tool "whisper" "LOUD")', PYTHONPATH=str(dist))
    assert done.stdout.strip() == '"loud"', done.stderr


@pytest.mark.parametrize(("spec", "says"), [
    ("nosuchmodule:x", "cannot import nosuchmodule"),
    ("mytools:missing", "mytools has no missing"),
    (":x", "give MODULE:ATTR"),
    ("json", "declares no @tapevm.tool"),
])
def test_a_bad_tools_spec_is_a_usage_error_before_anything_runs(tape, tools_dir: Path, spec: str, says: str) -> None:
    done = tape("eval", "(define x 1)", "-i", "s", "--tools", spec)
    assert done.returncode == 2
    assert says in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tools_dir / "store.db").exists()  # nothing was written, not even a store


def test_a_bad_tape_tools_is_effect_unavailable(tape, tools_dir: Path) -> None:
    done = tape("eval", '(try (tool "x") (catch e (str (error-kind e) " " (error-message e))))',
                TAPE_TOOLS="nosuchmodule:x")
    assert "effect-unavailable" in done.stdout and "TAPE_TOOLS" in done.stdout, done.stderr


def test_the_schema_comes_from_the_type_hints() -> None:
    def search(query: str, tags: list[str], mode: Literal["fast", "deep"] = "fast", limit: int | None = None) -> str:
        return query

    schema = parameters_schema(search)
    assert schema["type"] == "object" and schema["required"] == ["query", "tags"]
    props = schema["properties"]
    assert props["query"] == {"type": "string"}
    assert props["tags"] == {"type": "array", "items": {"type": "string"}}
    assert props["mode"]["enum"] == ["fast", "deep"] and props["mode"]["default"] == "fast"
    declared = tapevm.tool(search)
    assert declared.spec.name == "search" and declared({"query": "q", "tags": []}) == "q"


def test_a_tool_with_star_args_cannot_be_described() -> None:
    with pytest.raises(UsageError, match=r"\*rest cannot be described"):
        tapevm.tool(lambda *rest: rest)
    with pytest.raises(UsageError):
        load_spec("nosuchmodule_either")


def test_resume_finishes_an_interrupted_form_with_a_tool_from_the_command_line(tape, tools_dir: Path) -> None:
    from tapevm.infrastructure.session.service import open_session

    (tools_dir / "finisher.py").write_text("def die():\n    return 'finished by the CLI'\n")
    with open_session("r", str(tools_dir / "store.db")) as s:
        @s.tool("die")
        def die() -> None:
            raise KeyboardInterrupt  # the process "dies" inside the tool: the form stays unfinished

        try:
            s.run('(define b (list (random 5) (tool "die")))')
        except KeyboardInterrupt:
            pass
    done = tape("resume", "-i", "r", "--tools", "finisher:die")
    assert done.returncode == 0, done.stderr
    assert tape("eval", "-i", "r", "(second b)").stdout.strip() == '"finished by the CLI"'
    assert tape("replay", "-i", "r", "--verify").returncode == 0
