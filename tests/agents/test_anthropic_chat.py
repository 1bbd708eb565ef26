"""``chat`` and ``ask`` through the official anthropic SDK against a local fake messages-API server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tapevm import open_store
from tapevm.infrastructure.session.llm_providers import llm_from_environment
from tapevm.infrastructure.session.service import open_session
from tests.agents.fake_models import anthropic_error, anthropic_text, anthropic_tool_use, fake_model

KEY = "sk-ant-secret-key-98765"


def env_for(url: str, **extra: str) -> dict[str, str]:
    return {"TAPE_LLM": "anthropic", "TAPE_LLM_BASE_URL": url, "TAPE_LLM_API_KEY": KEY,
            "TAPE_LLM_MODEL": "claude-fake", "TAPE_LLM_BACKOFF": "0", **extra}


def replay(store_url: str, name: str) -> Any:
    with open_store(store_url) as store:
        return store.replay(name, verify=True)


AGENT = """
(define msgs [{:role "system" :content "be brief"} {:role "user" :content "weather in Oslo?"}])
(define r1 (chat msgs :tools ["weather"] :max_tokens 200))
(define call (first (get r1 :tool-calls)))
(define r2 (chat (conj msgs (get r1 :message)
                       {:role "tool" :tool-call-id (get call :id) :content (tool (get call :name) (get call :arguments))})))
(get r2 :content)
"""


def weather(city: str, unit: str = "C") -> str:
    """The weather in a city."""
    return f"-3{unit} in {city}"


def test_a_tool_use_round_speaks_the_messages_api_and_replays(store_url: str) -> None:
    with fake_model("anthropic") as server:
        server.then(anthropic_tool_use("weather", {"city": "Oslo"}, call_id="toolu_7"))
        server.then(anthropic_text("Cold: -3C.", input_tokens=50, output_tokens=6))
        with open_session("agent", store_url) as s:
            s.effects.providers.llm = llm_from_environment(env_for(server.url))
            s.tool("weather")(weather)
            assert s.run(AGENT, "agent.lisp")[-1].ok
            assert s.eval("(get r2 :content)") == "Cold: -3C."
            assert s.eval("(get r1 :content)") == "Let me look."
            assert s.eval("(get r1 :finish-reason)") == "tool_use"
            assert s.eval("(get (get r2 :usage) :output-tokens)") == 6
            assert s.eval("(get r1 :model)") == "claude-fake"
        first, second = (r["body"] for r in server.requests)
        assert server.requests[0]["path"] == "/v1/messages"
        headers = server.requests[0]["headers"]  # (this SDK sends the key as a Bearer token)
        assert KEY in headers.get("x-api-key", headers.get("authorization", "")) and "anthropic-version" in headers
        assert first["system"] == "be brief" and first["max_tokens"] == 200
        assert first["messages"] == [{"role": "user", "content": "weather in Oslo?"}]
        assert first["tools"][0]["name"] == "weather"
        assert first["tools"][0]["input_schema"]["required"] == ["city"]
        assert second["messages"][1] == {"role": "assistant", "content": [
            {"type": "text", "text": "Let me look."},
            {"type": "tool_use", "id": "toolu_7", "name": "weather", "input": {"city": "Oslo"}}]}
        assert second["messages"][2] == {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_7", "content": "-3C in Oslo"}]}
    assert replay(store_url, "agent").ok


def test_ask_goes_through_the_messages_api(store_url: str) -> None:
    with fake_model("anthropic") as server:
        with open_session("ask", store_url) as s:
            s.effects.providers.llm = llm_from_environment(env_for(server.url))
            assert s.eval('(ask "hello" :system "terse")') == "fake says: hello"
        assert server.requests[0]["body"]["system"] == "terse"


def test_overloaded_is_retried_then_a_401_fails_masked(store_url: str) -> None:
    with fake_model("anthropic") as server:
        server.then(anthropic_error("overloaded"), 529).then(anthropic_text("ok"))
        server.then(anthropic_error(f"invalid x-api-key {KEY}", "authentication_error"), 401)
        with open_session("e", store_url) as s:
            s.effects.providers.llm = llm_from_environment(env_for(server.url))
            assert s.eval('(get (chat [{:role "user" :content "a"}]) :attempts)') == 2
            message = s.eval('(try (chat [{:role "user" :content "b"}]) (catch e (error-message e)))')
        assert len(server.requests) == 3
    assert "HTTP 401 from" in message and "[secret TAPE_LLM_API_KEY]" in message and KEY not in message
    with open_session("e", store_url, create=False) as s:
        assert KEY not in json.dumps([r.event.__dict__ for r in s.events()], default=str)


def test_the_cli_with_anthropic_counts_tokens(tape, tmp_path: Path) -> None:
    (tmp_path / "agent.lisp").write_text(AGENT)
    (tmp_path / "wtools.py").write_text(
        "import tapevm\n\n@tapevm.tool\ndef weather(city: str, unit: str = 'C') -> str:\n"
        "    return f'-3{unit} in {city}'\n")
    with fake_model("anthropic") as server:
        server.then(anthropic_tool_use("weather", {"city": "Oslo"}, input_tokens=30, output_tokens=9))
        server.then(anthropic_text("Cold.", input_tokens=50, output_tokens=2))
        done = tape("run", "agent.lisp", "-i", "a", "--tools", "wtools", **env_for(server.url))
    assert done.returncode == 0, done.stderr
    data = json.loads(tape("info", "-i", "a", "--json").stdout)
    assert (data["input_tokens"], data["output_tokens"], data["model_calls"]) == (80, 11, 2)
    audit = tape("audit", "-i", "a", "--kind", "effect").stdout
    assert "tokens 30 in, 9 out" in audit and "tokens 50 in, 2 out" in audit
    assert tape("replay", "-i", "a", "--verify").returncode == 0
