"""Recorded effects on real stores: what is committed, when, and how it survives failures."""

from __future__ import annotations

from typing import Any

import pytest

from tapevm.domain.content import TEXT
from tapevm.domain.events import ContentStored, EffectCompleted, EffectRequested, FormEvaluated, FormSubmitted
from tapevm.infrastructure.session.llm_providers import ScriptedLLM
from tapevm.infrastructure.session.service import Session, open_session
from tapevm.vm.interpreter import Interpreter
from tapevm.vm.world import World


def types(s: Session, start: int = 1) -> list[str]:
    return [r.event.type_name for r in s.events(start)]


@pytest.fixture
def session(store_url: str) -> Any:
    s = open_session("fx", store_url)
    s.effects.providers.llm = ScriptedLLM([("weather", "sunny")], default="echo {prompt}")
    yield s
    s.close()


def test_each_primitive_records_request_and_result(session: Session) -> None:
    session.tool("add")(lambda a, b: a + b)
    out = session.run('(now) (random 6) (uuid) (ask "weather?" :model "m") (tool "add" 2 3) (tool :add 1 1)')
    assert all(o.ok for o in out)
    assert 0 <= out[1].value < 6 and len(out[2].value) == 36 and out[3].value == "sunny" and out[4].value == 5
    req = [r.event for r in session.events() if isinstance(r.event, EffectRequested)]
    assert [e.kind for e in req] == ["now", "random", "uuid", "ask", "tool", "tool"]
    assert req[3].args == ["weather?", ["k", "model"], "m"] and req[5].args == ["add", 1, 1]
    done = [r.event for r in session.events() if isinstance(r.event, EffectCompleted)]
    assert [d.key for d in done] == [e.key for e in req]
    assert done[3].result == "sunny" and done[3].size == 5 and done[3].duration_ms >= 0


def test_effects_commit_before_the_form_goes_on(session: Session) -> None:
    seen: list[list[str]] = []

    @session.tool("peek")
    def peek() -> int:
        seen.append([r.event.type_name for r in session.store.read(session.id, 2)])
        return 1

    session.run('(+ (tool "peek") (tool "peek"))')
    assert seen == [["FormSubmitted"], ["FormSubmitted", "EffectRequested", "EffectCompleted"]]
    events = list(session.events(2))
    assert {r.cause for r in events} == {2}  # every event of the form points at its input


def test_effect_free_form_is_one_commit_and_keys_are_stable(session: Session) -> None:
    session.run("(define x 1)")
    assert types(session, 2) == ["FormSubmitted", "Defined", "FormEvaluated"]
    session.run('(list (random 2) (random 2))')
    keys = [r.event.key for r in session.events() if isinstance(r.event, EffectRequested)]
    assert keys[0].startswith("5.1:") and keys[1].startswith("5.2:") and keys[0][4:] == keys[1][4:]


def test_failed_form_keeps_paid_results_but_drops_mutations(session: Session) -> None:
    out = session.run('(begin (define a (ask "weather")) (raise "boom"))')
    assert not out[0].ok
    assert types(session, 2) == ["FormSubmitted", "EffectRequested", "EffectCompleted", "FormEvaluated"]
    assert "a" not in session.state.namespaces["user"]


def test_provider_and_tool_failures_are_recorded_and_catchable(session: Session) -> None:
    @session.tool("bad")
    def bad() -> None:
        raise RuntimeError("quota exceeded")

    out = session.run('(try (tool "bad") (catch e (list (error-kind e) (error-message e)))) '
                      '(try (tool "nope") (catch e (error-kind e)))')
    assert out[0].printed == '(effect-error "tool bad: RuntimeError: quota exceeded")'
    assert out[1].printed == "effect-unavailable"
    done = [r.event for r in session.events() if isinstance(r.event, EffectCompleted)]
    assert [d.ok for d in done] == [False, False] and done[0].error_message.endswith("quota exceeded")


def test_ask_without_a_provider_and_a_bare_vm_fail_catchably(store_url: str) -> None:
    with open_session("np", store_url) as s:
        s.effects.providers._llm_loaded = True  # as if TAPE_LLM were unset
        s.effects.providers.llm = None
        out = s.run('(try (ask "hi") (catch e (error-message e)))')
        assert "no language model configured" in out[0].value
    interp = Interpreter(World())
    assert interp.eval_string('(try (uuid) (catch e (error-kind e)))').name == "effect-unavailable"


def test_bad_effect_arguments_are_type_errors_not_effects(session: Session) -> None:
    out = session.run('(random 0) (ask "x" :model) (ask "x" "model" "m") (tool 5)')
    assert [o.error_kind for o in out] == ["value-error", "type-error", "type-error", "type-error"]
    assert not any(isinstance(r.event, EffectRequested) for r in session.events())


def test_redaction_keeps_secrets_out_of_the_log(session: Session) -> None:
    session.redact(lambda t: t.replace("sk-SECRET", "[redacted]"))
    got: list[str] = []
    session.tool("call")(lambda key: got.append(key) or "token for sk-SECRET: ok")
    out = session.run('(define r (tool "call" "sk-SECRET"))  r')
    assert got == ["sk-SECRET"]  # the tool gets the real argument
    assert out[1].value == "token for [redacted]: ok"  # the program sees the redacted answer
    log_text = str([r.event.__dict__ for r in session.events()])
    assert "sk-SECRET" not in log_text.replace('(tool \\"call\\" \\"sk-SECRET\\")', "").replace(
        '(define r (tool "call" "sk-SECRET"))', "")


def test_large_answers_are_stored_once(session: Session) -> None:
    answer = "lorem ipsum " * 1000  # 12 KB
    session.effects.providers.llm = ScriptedLLM(rule=lambda p, o: answer if p != "other" else answer + "!")
    session.run('(ask "a") (ask "b") (ask "other") (define kept (ask "c"))')
    nodes = [n for r in session.events() if isinstance(r.event, ContentStored) for n in r.event.nodes]
    texts = [n for n in nodes if n[1][0] == TEXT]
    assert len(texts) == 2  # two distinct answers, each stored once
    assert session.eval("(= kept (ask \"d\"))") is True


def test_interrupted_form_is_refused_until_resumed(store_url: str) -> None:
    s = open_session("crash", store_url)
    calls: list[int] = []

    @s.tool("t")
    def t(x: int) -> int:
        calls.append(x)
        if x == 2:
            raise KeyboardInterrupt
        return x * 10

    with pytest.raises(KeyboardInterrupt):
        s.run('(define y (+ (tool "t" 1) (tool "t" 2)))')
    s.close()
    s = open_session("crash", store_url)
    assert s.unfinished == 2
    with pytest.raises(Exception, match="unfinished form at event 2"):
        s.run("1")
    s.tool("t")(lambda x: calls.append(x) or x * 100)
    outcome = s.resume()
    assert outcome is not None and outcome.ok and s.eval("y") == 210
    assert calls == [1, 2, 2]  # the paid-for first call was answered from the log
    t_ = types(s, 2)
    assert t_[:6] == ["FormSubmitted", "EffectRequested", "EffectCompleted", "EffectRequested", "EffectCompleted",
                      "Defined"] and t_[6] == FormEvaluated.type_name
    assert s.resume() is None
    s.close()


def test_submitted_form_is_in_the_log_once(session: Session) -> None:
    session.run('(define z (random 3))')
    assert sum(isinstance(r.event, FormSubmitted) for r in session.events()) == 1


def test_read_line_reads_recorded_standard_input(session: Session) -> None:
    import io

    session.effects.providers.stdin = io.StringIO("first line\r\nsecond\n")
    out = session.run('(read-line "name? ") (read-line) (read-line)')
    assert [o.value for o in out[:2]] == ["first line", "second"] and out[2].printed == "nil"
    req = [r.event for r in session.events() if isinstance(r.event, EffectRequested)]
    assert [e.args for e in req] == [["name? "], [""], [""]]
