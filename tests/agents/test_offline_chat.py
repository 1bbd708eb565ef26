"""``chat`` with the offline providers (``echo``, ``script:``) from the real ``tape`` command: a whole agent
loop with scripted tool calls, recorded, audited, replayed offline and forked with another model's answer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tapevm import open_session
from tapevm.infrastructure.session.llm_providers import ScriptedLLM

SCRIPT = {"rules": [
    {"match": "weather", "tool_calls": [{"name": "weather", "arguments": {"city": "Paris"}}]},
    {"match": "sunny", "answer": "Take sunglasses."},
], "default": "I cannot help."}

OTHER_MODEL = {"rules": [
    {"match": "weather", "tool_calls": [{"name": "weather", "arguments": {"city": "Lima"}}]},
    {"match": "sunny", "answer": "Take a hat."},
]}

AGENT = """
(define question [{:role "user" :content "what is the weather in Paris?"}])
(define r1 (chat question :model "scripted" :tools ["weather"]))
(define call (first (get r1 :tool-calls)))
(define observation (tool (get call :name) (get call :arguments)))
(define r2 (chat (conj question (get r1 :message)
                       {:role "tool" :tool-call-id (get call :id) :content observation})))
(define advice (get r2 :content))
"""

TOOLS = '''import tapevm

@tapevm.tool
def weather(city: str) -> str:
    """Today's weather in a city."""
    return f"sunny in {city}"
'''


@pytest.fixture
def agent_dir(tmp_path: Path) -> Path:
    (tmp_path / "agent.lisp").write_text(AGENT)
    (tmp_path / "script.json").write_text(json.dumps(SCRIPT))
    (tmp_path / "other.json").write_text(json.dumps(OTHER_MODEL))
    (tmp_path / "weathertools.py").write_text(TOOLS)
    return tmp_path


def test_echo_answers_chat_with_word_counts(tape) -> None:
    done = tape("eval", '(chat [{:role "user" :content "hello there"}])', TAPE_LLM="echo")
    assert done.returncode == 0, done.stderr
    assert ':content "echo: hello there"' in done.stdout
    assert ":usage {:input-tokens 2 :output-tokens 3}" in done.stdout and ':model "echo"' in done.stdout


def test_an_agent_loop_runs_is_audited_replays_and_forks_with_another_answer(tape, agent_dir: Path) -> None:
    env = {"TAPE_LLM": f"script:{agent_dir / 'script.json'}", "TAPE_TOOLS": "weathertools:weather"}
    done = tape("run", "agent.lisp", "-i", "agent", **env)
    assert done.returncode == 0, done.stderr
    assert tape("eval", "-i", "agent", "advice").stdout.strip() == '"Take sunglasses."'
    assert tape("eval", "-i", "agent", "(get call :arguments)").stdout.strip() == '{"city" "Paris"}'
    audit = tape("audit", "-i", "agent", "--kind", "effect").stdout
    assert audit.count("(chat") == 2 and "(tool" in audit and "tokens 6 in, 0 out" in audit
    # offline: no provider, no tools; every answer comes from the log
    verify = tape("replay", "-i", "agent", "--verify")
    assert verify.returncode == 0 and "identical" in verify.stdout, verify.stderr
    # what if the model had answered otherwise: the same program, another model, a fork
    fork = tape("replay", "-i", "agent", "--fork", "what-if", "--live-effects",
                "--tools", "weathertools:weather", TAPE_LLM=f"script:{agent_dir / 'other.json'}")
    assert fork.returncode == 0, fork.stderr
    assert tape("eval", "-i", "what-if", "advice").stdout.strip() == '"Take a hat."'
    assert tape("eval", "-i", "what-if", "observation").stdout.strip() == '"sunny in Lima"'
    assert tape("eval", "-i", "agent", "advice").stdout.strip() == '"Take sunglasses."'


def test_the_python_api_with_a_scripted_provider(store_url: str) -> None:
    with open_session("py", store_url) as s:
        s.effects.providers.llm = ScriptedLLM([("weather", None, [{"name": "weather", "arguments": {"city": "Rome"}}]),
                                               ("sunny", "Enjoy.")])
        s.tool("weather")(lambda city: f"sunny in {city}")
        s.run(AGENT, "agent.lisp")
        assert s.eval("advice") == "Enjoy."
        assert s.eval("(get r1 :finish-reason)") == "tool_calls"
        assert s.eval("(get (get r1 :usage) :input-tokens)") == 6


@pytest.mark.parametrize(("form", "says"), [
    ('(chat "hi")', "expected a list or vector of messages"),
    ('(chat [{:role "user" :content "hi"}] :model)', "options come in pairs"),
    ('(chat [{:role "robot" :content "hi"}])', "use one of system, user, assistant, tool"),
    ('(chat ["hi"])', "message 1 is not a map"),
    ('(chat [{:role "user" :content "hi"}] :tools ["nope"])', "no tool named 'nope'"),
])
def test_a_bad_chat_call_is_a_one_line_error(tape, form: str, says: str) -> None:
    done = tape("eval", form, TAPE_LLM="echo")
    assert done.returncode == 1
    assert says in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_chat_without_a_provider_is_effect_unavailable(tape) -> None:
    done = tape("eval", '(try (chat [{:role "user" :content "hi"}]) (catch e (str (error-kind e))))')
    assert done.stdout.strip() == '"effect-unavailable"'


def test_a_script_with_malformed_tool_calls_is_refused(tape, tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text(json.dumps({"rules": [{"match": "x", "tool_calls": [{"arguments": 1}]}]}))
    done = tape("eval", '(chat [{:role "user" :content "x"}])', TAPE_LLM=f"script:{tmp_path / 'bad.json'}")
    assert done.returncode == 1 and '"tool_calls" is not a list of' in done.stderr
