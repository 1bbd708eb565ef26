"""Every tool of an MCP server callable as ``(tool "name" ...)``: the official ``mcp`` client against a
server made with the same SDK (tests/agents/mcp_server.py), run over stdio in a subprocess."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.agents.conftest import HERE

SERVER = f"{sys.executable} {HERE / 'mcp_server.py'}"


def test_mcp_tools_are_called_recorded_and_replayed_without_the_server(tape, tmp_path: Path) -> None:
    calls = tmp_path / "calls.log"
    program = '(define sum (tool "add" 2 3)) (define facts (tool "lookup" {"city" "Paris"})) (get facts "population")'
    done = tape("eval", "-i", "m", program, "--mcp-server", f"{SERVER} {calls}")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "2100000"
    assert tape("eval", "-i", "m", "sum").stdout.strip() == "5"
    started, add = calls.read_text().splitlines()
    assert started.startswith("started ") and add == "add 2 3"  # one server for the listing and both calls
    audit = tape("audit", "-i", "m", "--kind", "effect").stdout
    assert '(tool "add" 2 3) -> 5' in audit
    verify = tape("replay", "-i", "m", "--verify")  # no --mcp-server: every answer from the log
    assert verify.returncode == 0 and "identical" in verify.stdout, verify.stderr
    assert calls.read_text().splitlines()[1:] == ["add 2 3"]  # the replay started no server
    pid = int(started.split()[1])
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.2)
    assert not _alive(pid), "the server tape started outlived it"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_tool_error_is_a_catchable_effect_error(tape) -> None:
    done = tape("eval", '(try (tool "fail" "x") (catch e (str (error-kind e) ": " (error-message e))))',
                "--mcp-server", SERVER)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith('"effect-error: tool fail: McpToolFailed:') and "cannot: x" in done.stdout


def test_a_model_is_offered_the_servers_tools(tape, tmp_path: Path) -> None:
    script = {"rules": [{"match": "sum", "tool_calls": [{"name": "add", "arguments": {"a": 40, "b": 2}}]}]}
    (tmp_path / "s.json").write_text(json.dumps(script))
    program = """(define r (chat [{:role "user" :content "the sum please"}] :tools ["add" "lookup"]))
                 (define c (first (get r :tool-calls)))
                 (tool (get c :name) (get c :arguments))"""
    done = tape("eval", "-i", "c", program, "--mcp-server", SERVER, TAPE_LLM=f"script:{tmp_path / 's.json'}")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "42"


def test_a_server_that_does_not_start_is_a_usage_error(tape, tmp_path: Path) -> None:
    done = tape("eval", "(+ 1 2)", "--mcp-server", str(tmp_path / "no-such-server"))
    assert done.returncode == 2
    assert "MCP server" in done.stderr and "could not be listed" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_an_mcp_server_over_streamable_http(tape) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([sys.executable, str(HERE / "mcp_server.py"), "--http", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        done = tape("eval", "-i", "h", '(tool "add" 20 22)', "--mcp-server", f"http://127.0.0.1:{port}/mcp")
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "42"
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert tape("replay", "-i", "h", "--verify").returncode == 0  # the server is gone


def test_a_server_that_dies_is_started_again_by_the_next_call(tape) -> None:
    program = '(list (try (tool "crash") (catch e (str (error-kind e) ": " (error-message e)))) (tool "add" 1 2))'
    done = tape("eval", "-i", "d", program, "--mcp-server", SERVER)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith('("effect-error: tool crash: McpServerFailed:') and done.stdout.strip().endswith(" 3)")
    assert tape("replay", "-i", "d", "--verify").returncode == 0
