"""``chat`` through the official openai SDK against a local fake chat-completions server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tapevm import open_store
from tapevm.infrastructure.session.llm_providers import llm_from_environment
from tapevm.infrastructure.session.service import open_session
from tests.agents.fake_models import fake_model, openai_error, openai_text, openai_tool_call


def replay(store_url: str, name: str, verify: bool = True) -> Any:
    with open_store(store_url) as store:
        return store.replay(name, verify=verify)


KEY = "sk-openai-secret-key-1234"


def env_for(url: str, **extra: str) -> dict[str, str]:
    return {"TAPE_LLM": "openai", "TAPE_LLM_BASE_URL": url, "TAPE_LLM_API_KEY": KEY, "TAPE_LLM_MODEL": "gpt-fake",
            "TAPE_LLM_BACKOFF": "0", **extra}


AGENT = """
(define msgs [{:role "system" :content "be brief"} {:role "user" :content "weather in Paris?"}])
(define r1 (chat msgs :tools ["weather"] :temperature 0))
(define call (first (get r1 :tool-calls)))
(define answer (tool (get call :name) (get call :arguments)))
(define r2 (chat (conj msgs (get r1 :message) {:role "tool" :tool-call-id (get call :id) :content answer})))
(get r2 :content)
"""


def weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def test_a_tool_call_round_is_sent_in_the_wire_format_recorded_and_replayed(store_url: str) -> None:
    with fake_model("openai") as server:
        server.then(openai_tool_call("weather", {"city": "Paris"}, call_id="call_9"))
        server.then(openai_text("It is sunny.", prompt_tokens=40, completion_tokens=4))
        with open_session("agent", store_url) as s:
            s.effects.providers.llm = llm_from_environment(env_for(server.url))
            s.tool("weather")(weather)
            outcomes = s.run(AGENT, "agent.lisp")
            assert outcomes[-1].ok, outcomes[-1]
            assert s.eval("(get r2 :content)") == "It is sunny."
            assert s.eval("(get r1 :finish-reason)") == "tool_calls"
            assert s.eval("(get (get r1 :usage) :input-tokens)") == 20
            assert s.eval("(get (get call :arguments) \"city\")") == "Paris"
        first, second = (r["body"] for r in server.requests)
        assert server.requests[0]["path"] == "/v1/chat/completions"
        assert server.requests[0]["headers"]["authorization"] == f"Bearer {KEY}"
        assert first["messages"][0] == {"role": "system", "content": "be brief"}
        assert first["temperature"] == 0
        assert first["tools"][0]["function"]["name"] == "weather"
        assert first["tools"][0]["function"]["parameters"]["properties"]["city"]["type"] == "string"
        assert second["messages"][2]["tool_calls"][0]["function"] == {"name": "weather",
                                                                       "arguments": json.dumps({"city": "Paris"},
                                                                                               separators=(",", ":"))}
        assert second["messages"][3] == {"role": "tool", "tool_call_id": "call_9", "content": "sunny in Paris"}
        assert second["messages"][2]["content"] is None  # the assistant only called a tool
    result = replay(store_url, "agent", verify=True)  # the server is gone: answers come from the log
    assert result.ok and result.divergence is None


def test_429_and_503_are_retried_and_the_attempts_recorded(store_url: str) -> None:
    with fake_model("openai") as server:
        server.then(openai_error("slow down"), 429, retry_after_ms="1").then(openai_error("busy"), 503)
        server.then(openai_text("finally"))
        with open_session("r", store_url) as s:
            s.effects.providers.llm = llm_from_environment(env_for(server.url))
            assert s.eval('(get (chat [{:role "user" :content "hi"}]) :content)') == "finally"
            assert s.eval('(get (chat [{:role "user" :content "again"}]) :attempts)') == 1
            s.eval('(define r (chat [{:role "user" :content "x"}]))')
        assert len(server.requests) == 5
    with open_session("r", store_url, create=False) as s:
        completed = [r.event for r in s.events() if r.event.type_name == "EffectCompleted"]
        assert len(completed) == 3
    assert replay(store_url, "r", verify=True).ok


def test_a_final_failure_is_a_catchable_effect_error_naming_the_attempts_and_masking_the_key(store_url: str) -> None:
    with fake_model("openai") as server:
        for _ in range(3):
            server.then(openai_error(f"overloaded, your key {KEY} is fine"), 500)
        with open_session("f", store_url) as s:
            s.effects.providers.llm = llm_from_environment(env_for(server.url, TAPE_LLM_RETRIES="2"))
            message = s.eval('(try (chat [{:role "user" :content "hi"}]) (catch e (error-message e)))')
        assert len(server.requests) == 3
    assert "HTTP 500 from http://127.0.0.1" in message
    assert "after 3 attempts: HTTP 500, HTTP 500, HTTP 500" in message
    assert KEY not in message and "[secret TAPE_LLM_API_KEY]" in message
    with open_session("f", store_url, create=False) as s:
        texts = json.dumps([r.event.__dict__ for r in s.events()], default=str)
    assert KEY not in texts


def test_a_time_out_is_retried(store_url: str) -> None:
    with fake_model("openai") as server:
        server.then(openai_text("too late"), delay=1.5).then(openai_text("in time"))
        with open_session("t", store_url) as s:
            s.effects.providers.llm = llm_from_environment(env_for(server.url, TAPE_LLM_TIMEOUT="0.5"))
            s.eval('(define r (chat [{:role "user" :content "hi"}]))')
            assert s.eval("(get r :content)") == "in time"
            assert s.eval("(get r :retried)") is not None and s.eval("(first (get r :retried))") == "timed out"
            assert s.eval("(get r :attempts)") == 2


def test_a_400_is_not_retried(store_url: str) -> None:
    with fake_model("openai") as server:
        server.then(openai_error("bad request", "invalid_request_error"), 400)
        with open_session("b", store_url) as s:
            s.effects.providers.llm = llm_from_environment(env_for(server.url))
            kind = s.eval('(try (chat [{:role "user" :content "hi"}]) (catch e (error-kind e)))')
        assert len(server.requests) == 1
    assert str(kind) == "effect-error"


def test_a_server_that_is_gone_is_retried_then_fails(store_url: str) -> None:
    with fake_model("openai") as server:
        url = server.url
    with open_session("g", store_url) as s:
        s.effects.providers.llm = llm_from_environment(env_for(url, TAPE_LLM_RETRIES="1"))
        message = s.eval('(try (chat [{:role "user" :content "hi"}]) (catch e (error-message e)))')
    assert "cannot connect" in message and "after 2 attempts" in message


def test_the_cli_runs_an_agent_records_tokens_and_replays_offline(tape, tmp_path: Path) -> None:
    (tmp_path / "agent.lisp").write_text(AGENT)
    (tmp_path / "weathertools.py").write_text(
        "import tapevm\n\n@tapevm.tool\ndef weather(city: str) -> str:\n    \"\"\"The weather.\"\"\"\n"
        "    return f'sunny in {city}'\n")
    with fake_model("openai") as server:
        server.then(openai_tool_call("weather", {"city": "Paris"}, prompt_tokens=20, completion_tokens=5))
        server.then(openai_text("It is sunny.", prompt_tokens=40, completion_tokens=4))
        done = tape("run", "agent.lisp", "-i", "a", "--tools", "weathertools:weather", **env_for(server.url))
    assert done.returncode == 0, done.stderr
    info = tape("info", "-i", "a", "--json")
    data = json.loads(info.stdout)
    assert (data["input_tokens"], data["output_tokens"], data["model_calls"]) == (60, 9, 2)
    audit = [json.loads(line) for line in tape("audit", "-i", "a", "--json").stdout.splitlines()]
    chats = [e for e in audit if e["kind"] == "effect" and e["what"].startswith("(chat")]
    assert [(e["input_tokens"], e["output_tokens"]) for e in chats] == [(20, 5), (40, 4)]
    verify = tape("replay", "-i", "a", "--verify")
    assert verify.returncode == 0 and "identical" in verify.stdout, verify.stdout + verify.stderr


@pytest.mark.parametrize("bad", ["notaurl", "ftp://x/v1"])
def test_a_bad_base_url_is_effect_unavailable_from_the_cli(tape, bad: str) -> None:
    done = tape("eval", '(chat [{:role "user" :content "hi"}])', **env_for(bad))
    assert done.returncode == 1
    assert "effect-unavailable" in done.stderr and "TAPE_LLM_BASE_URL" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_missing_extra_is_effect_unavailable_naming_it(tape, tmp_path: Path) -> None:
    blocked = tmp_path / "blocked"
    blocked.mkdir()
    (blocked / "openai.py").write_text('raise ModuleNotFoundError("No module named \'openai\'", name="openai")\n')
    done = tape("eval", '(try (chat [{:role "user" :content "hi"}]) (catch e (str (error-kind e) ": " (error-message e))))',
                PYTHONPATH=str(blocked), **env_for("http://127.0.0.1:9/v1"))
    assert done.returncode == 0, done.stderr
    assert "effect-unavailable" in done.stdout and "pip install 'tapevm[openai]'" in done.stdout
