"""``(ask ...)`` from the ``tape`` command against a stub OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.cli._errors import assert_one_line_error


@pytest.fixture
def base_url() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            data = json.dumps({"choices": [{"message": {"content": f"stub says: {body['messages'][-1]['content']}"}}]})
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data.encode())

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_ask_through_the_cli_then_replay_offline(tape: Any, base_url: str) -> None:
    env = {"TAPE_LLM": "openai", "TAPE_LLM_BASE_URL": base_url, "TAPE_LLM_MODEL": "tiny"}
    r = tape("eval", '(define answer (ask "ping"))  answer', extra_env=env)
    assert r.returncode == 0 and r.stdout.splitlines()[-1] == '"stub says: ping"'
    r = tape("replay", "--verify")  # no provider configured: answered from the log
    assert r.returncode == 0 and "identical to the record" in r.stdout


def test_a_timeout_out_of_range_is_one_line_naming_the_variable(tape: Any, base_url: str) -> None:
    env = {"TAPE_LLM": "openai", "TAPE_LLM_BASE_URL": base_url, "TAPE_LLM_TIMEOUT": "inf"}
    r = tape("eval", '(ask "hi" :model "m")', extra_env=env)  # was recorded as an OverflowError
    assert_one_line_error(r, 1, "effect-unavailable", "TAPE_LLM_TIMEOUT='inf'", "more than 0 and at most 3,600")
    assert "OverflowError" not in r.stderr


def test_a_base_url_that_is_not_a_url_is_one_line_naming_the_variable(tape: Any) -> None:
    for value in ("notaurl", "http://[::1", "file:///etc/hosts"):
        r = tape("eval", '(ask "hi" :model "m")', extra_env={"TAPE_LLM": "openai", "TAPE_LLM_BASE_URL": value})
        assert_one_line_error(r, 1, "effect-unavailable", f"TAPE_LLM_BASE_URL={value!r}", "http:// or https:// URL")


def test_a_script_file_without_rules_or_default_is_one_line_saying_what_a_script_holds(
        tape: Any, tmp_path: Path) -> None:
    script = tmp_path / "s.json"
    script.write_text('{"x": 1}')  # was accepted, and answered "echo: hi"
    r = tape("eval", '(ask "hi")', extra_env={"TAPE_LLM": f"script:{script}"})
    assert_one_line_error(r, 1, "effect-unavailable", f"bad LLM script {script}: unknown key 'x'",
                          '{"rules": [{"match": REGEX, "answer": TEXT}, ...], "default": TEXT}')
    assert "echo" not in r.stdout
