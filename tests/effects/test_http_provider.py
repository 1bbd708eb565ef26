"""The OpenAI-compatible provider against a stub HTTP server on 127.0.0.1 (never a real service)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from tapevm.domain.errors import EffectProviderError
from tapevm.infrastructure.session.llm_providers import OpenAICompatibleLLM, ScriptedLLM, llm_from_environment
from tapevm.infrastructure.session.replay import replay
from tapevm.infrastructure.session.service import open_session


class Stub:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status = 200
        self.reply: Any = None


@pytest.fixture
def stub() -> Iterator[tuple[Stub, str]]:
    state = Stub()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
            reply = state.reply if state.reply is not None else {
                "choices": [{"message": {"role": "assistant", "content": f"stub says: {body['messages'][-1]['content']}"}}]}
            data = json.dumps(reply).encode()
            self.send_response(state.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_ask_goes_to_the_endpoint_and_is_recorded(stub: tuple[Stub, str], store_url: str) -> None:
    state, base = stub
    env = {"TAPE_LLM": "openai", "TAPE_LLM_BASE_URL": base, "TAPE_LLM_API_KEY": "sk-test", "TAPE_LLM_MODEL": "tiny"}
    with open_session("h", store_url) as s:
        s.effects.providers.llm = llm_from_environment(env)
        s.redact(lambda t: t.replace("sk-test", "***"))
        out = s.run('(ask "hello" :system "be brief" :temperature 0)')
        assert out[0].value == "stub says: hello"
    assert state.requests == [{"path": "/v1/chat/completions", "auth": "Bearer sk-test", "body": {
        "model": "tiny", "temperature": 0,
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"}]}}]
    from tapevm.infrastructure.stores.factory import open_store

    with open_store(store_url) as store:
        assert replay(store, "h", verify=True).ok
    assert len(state.requests) == 1  # the replay did not call the server


def test_http_errors_are_recorded_effect_errors(stub: tuple[Stub, str], store_url: str) -> None:
    state, base = stub
    state.status = 500
    state.reply = {"error": "overloaded"}
    with open_session("e", store_url) as s:
        s.effects.providers.llm = OpenAICompatibleLLM(base, model="m")
        out = s.run('(try (ask "x") (catch e (list (error-kind e) (error-message e))))')
        assert out[0].printed.startswith('(effect-error "ask: HTTP 500 from http://127.0.0.1:')
        state.status, state.reply = 200, {"unexpected": True}
        out = s.run('(try (ask "x") (catch e (error-message e)))')
        assert "unexpected answer" in out[0].value
        s.effects.providers.llm = OpenAICompatibleLLM("http://127.0.0.1:9/v1", model="m", timeout=2)
        out = s.run('(try (ask "x") (catch e (error-message e)))')
        assert out[0].value.startswith("ask: cannot reach http://127.0.0.1:9/v1")


def test_configuration_errors() -> None:
    with pytest.raises(EffectProviderError, match="needs TAPE_LLM_BASE_URL"):
        llm_from_environment({"TAPE_LLM": "openai"})
    assert llm_from_environment({}) is None


@pytest.mark.parametrize("value", ["soon", "-1", "0", "nan", "inf", "-inf", "3600.5", "1e400"])
def test_timeout_out_of_range_is_refused_naming_the_variable_and_range(value: str) -> None:
    # -1, 0, nan and inf were accepted: urllib then failed each call (inf as an OverflowError)
    with pytest.raises(EffectProviderError, match=r"TAPE_LLM_TIMEOUT=.*more than 0 and at most 3,600"):
        llm_from_environment({"TAPE_LLM": "openai", "TAPE_LLM_BASE_URL": "http://x", "TAPE_LLM_TIMEOUT": value})


@pytest.mark.parametrize(("value", "seconds"), [("0.5", 0.5), ("3600", 3600.0), ("", 60.0), (None, 60.0)])
def test_timeout_in_range_is_used(value: str | None, seconds: float) -> None:
    env = {"TAPE_LLM": "openai", "TAPE_LLM_BASE_URL": "http://x"} | ({} if value is None else {"TAPE_LLM_TIMEOUT": value})
    llm = llm_from_environment(env)
    assert isinstance(llm, OpenAICompatibleLLM) and llm.timeout == seconds


@pytest.mark.parametrize("value", ["notaurl", "http://[::1", "file:///etc/passwd", "ftp://host/v1", "http://",
                                   "https:///v1", "http://host:port/v1", "127.0.0.1:8000/v1"])
def test_a_base_url_that_is_not_http_with_a_host_is_refused_naming_the_variable(value: str) -> None:
    # notaurl and file:/// were accepted; http://[::1 was recorded as urllib's raw ValueError text
    with pytest.raises(EffectProviderError, match=r"TAPE_LLM_BASE_URL=.*give an http:// or https:// URL with a host"):
        llm_from_environment({"TAPE_LLM": "openai", "TAPE_LLM_BASE_URL": value})


@pytest.mark.parametrize("value", ["http://127.0.0.1:8000/v1", "https://api.openai.com/v1/", "http://[::1]:8080"])
def test_http_base_urls_are_accepted(value: str) -> None:
    llm = llm_from_environment({"TAPE_LLM": "openai", "TAPE_LLM_BASE_URL": value})
    assert isinstance(llm, OpenAICompatibleLLM) and llm.base_url == value.rstrip("/")


@pytest.mark.parametrize(("content", "says"), [
    ('{"x": 1}', "unknown key 'x'"),                     # was accepted, and answered "echo: ..."
    ('{}', "no rules and no default"),
    ('{"rules": []}', "no rules and no default"),
    ('{"default": "d", "defualt": "e"}', "unknown key 'defualt'"),
    ('[]', "a JSON list, not an object"),
    ('{"rules": {"match": "a", "answer": "b"}}', '"rules" is not a list'),
    ('{"rules": [{"match": "a", "answer": 1}]}', "rule 1 is not"),
    ('{"rules": [{"match": "a", "anwser": "b"}]}', "rule 1 is not"),
    ('{"rules": [{"match": "(", "answer": "b"}]}', "rule 1: '(' is not a regular expression"),
    ('{"default": 3}', '"default" is not a string'),
    ('nope', "not JSON"),
])
def test_a_script_file_that_is_not_a_script_is_refused_saying_what_a_script_holds(
        tmp_path: Path, content: str, says: str) -> None:
    script = tmp_path / "s.json"
    script.write_text(content)
    with pytest.raises(EffectProviderError) as e:
        llm_from_environment({"TAPE_LLM": f"script:{script}"})
    assert says in str(e.value) and '{"rules": [{"match": REGEX, "answer": TEXT}, ...], "default": TEXT}' in str(e.value)


def test_a_script_file_with_rules_or_a_default_answers(tmp_path: Path) -> None:
    script = tmp_path / "s.json"
    script.write_text('{"default": "no idea: {prompt}"}')
    assert ScriptedLLM.from_file(script).complete("hi", {}) == "no idea: hi"
    script.write_text('{"rules": [{"match": "^h", "answer": "hello"}]}')
    llm = ScriptedLLM.from_file(script)
    assert llm.complete("hi", {}) == "hello" and llm.complete("yo", {}) == "echo: yo"
