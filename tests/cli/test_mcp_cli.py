"""`tape mcp` driven by the official MCP SDK's own client over stdio, in a subprocess, on real stores."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.cli._errors import assert_one_line_error
from tests.cli.conftest import TAPE

mcp_client = pytest.importorskip("mcp.client.client", reason="the mcp extra is not installed")
from mcp.client.stdio import StdioServerParameters

Tape = Callable[..., subprocess.CompletedProcess[str]]


def serve(store: str, session: str, tmp_path: Path) -> StdioServerParameters:
    assert TAPE
    return StdioServerParameters(command=TAPE, args=["mcp", "-i", session, "--store", store],
                                 env={"TAPE_HOME": str(tmp_path / "home")})


async def call(client: Any, tool: str, **args: Any) -> Any:
    result = await client.call_tool(tool, args)
    assert not result.is_error, result.content
    return result.structured_content


async def session_over_mcp(params: StdioServerParameters) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    async with mcp_client.Client(params) as c:
        seen["tools"] = sorted(t.name for t in (await c.list_tools()).tools)
        seen["eval"] = await call(c, "eval", source='(define x 41) (print "to stdout?") (+ x 1)')
        seen["error"] = await call(c, "eval", source="(car 1)")
        seen["read_line"] = await call(c, "eval", source="(read-line)")  # stdin is the protocol's
        bad = await c.call_tool("eval", {"source": "(car"})
        seen["syntax"] = (bad.is_error, bad.content[0].text)
        seen["state"] = await call(c, "state")
        seen["state_at"] = await call(c, "state_at", at=1)
        seen["log"] = await call(c, "log", start=2, limit=2)
        seen["snapshot"] = await call(c, "snapshot", name="before")
        await call(c, "eval", source="(set! x 0)")
        seen["blame"] = await call(c, "blame", name="x")
        seen["fork"] = await call(c, "fork", new="branch", at=seen["snapshot"]["at"])
        seen["diff"] = await call(c, "diff", a="box", b="branch")
        seen["restore"] = await call(c, "restore", name="before")
        seen["restored"] = (await call(c, "state"))["namespaces"]["user"]
        seen["replay"] = await call(c, "replay_verify")
        out_of_range = await c.call_tool("state_at", {"at": 10_000})
        seen["out_of_range"] = (out_of_range.is_error, out_of_range.content[0].text)
        seen["sessions"] = json.loads((await c.read_resource("tape://sessions")).contents[0].text)
        timeline = await c.read_resource("tape://sessions/box/timeline")
        seen["timeline"] = json.loads(timeline.contents[0].text)
    return seen


def test_a_session_served_over_mcp_is_audited_rewindable_and_replays(store_url: str, tmp_path: Path,
                                                                     tape: Tape) -> None:
    seen = asyncio.run(session_over_mcp(serve(store_url, "box", tmp_path)))
    assert seen["tools"] == sorted(["eval", "state", "state_at", "log", "blame", "snapshot", "restore", "fork",
                                    "diff", "replay_verify"])
    forms = seen["eval"]["forms"]
    assert [(f["ok"], f["value"], f["output"]) for f in forms] == [(True, "x", ""), (True, "nil", "to stdout?"),
                                                                  (True, "42", "")]
    assert seen["error"]["forms"][0]["error"] == "type-error: car: expected a non-empty list, got integer 1"
    assert seen["syntax"][0] and "unterminated list" in seen["syntax"][1]
    assert seen["read_line"]["forms"][0]["value"] == "nil"
    assert seen["state"]["namespaces"]["user"] == {"x": "41"}
    assert seen["state_at"]["namespaces"] == {"user": {}}
    assert [e["seq"] for e in seen["log"]["events"]] == [2, 3] and seen["log"]["more_from"] == 4
    history = seen["blame"]["history"]
    assert [(h["op"], h["value"], h["source"], h["form"]) for h in history] == [
        ("define", "41", "(define x 41)", "<mcp>:1"), ("set!", "0", "(set! x 0)", "<mcp>:1")]
    assert seen["fork"] == {"session": "branch", "source": "box", "at": seen["snapshot"]["at"]}
    assert seen["diff"]["changes"] == [{"kind": "binding", "key": "user/x", "a": "0", "b": "41"}]
    assert seen["restored"] == {"x": "41"}
    assert seen["replay"]["identical"] and seen["replay"]["divergence"] is None
    assert seen["out_of_range"][0] and "there is no event 10000" in seen["out_of_range"][1]
    assert {s["id"] for s in seen["sessions"]} == {"box", "branch"}
    assert any(e["kind"] == "input" and e["what"] == "(set! x 0)" for e in seen["timeline"])

    # every call was recorded: the CLI reads the same log, and the session replays identical
    log = tape("--store", store_url, "log", "-i", "box", "--json")
    assert log.returncode == 0, log.stderr
    sources = [e["data"]["source"] for e in map(json.loads, log.stdout.splitlines()) if e["type"] == "FormSubmitted"]
    assert sources == ["(define x 41)", '(print "to stdout?")', "(+ x 1)", "(car 1)", "(read-line)", "(set! x 0)"]
    replay = tape("--store", store_url, "replay", "-i", "box", "--verify")
    assert replay.returncode == 0 and "identical" in replay.stdout, replay.stdout + replay.stderr


def test_tape_mcp_without_the_extra_says_what_to_install(tmp_path: Path, tape: Tape) -> None:
    # an `mcp` that cannot be imported, first on the path: as if the extra were not installed
    fake = tmp_path / "no-mcp" / "mcp"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'mcp'\", name='mcp')\n")
    r = tape("--store", str(tmp_path / "s.db"), "mcp", "-i", "box",
             extra_env={"PYTHONPATH": os.pathsep.join([str(fake.parent), os.environ.get("PYTHONPATH", "")])})
    assert_one_line_error(r, 2, "pip install 'tapevm[mcp]'")
    assert not (tmp_path / "s.db").exists()
