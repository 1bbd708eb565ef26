"""Python steps recorded as effects, on real stores; the program replayed against its recording; the CLI's replay."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tapevm
from tapevm.domain.events import EffectCompleted, EffectRequested, FormSubmitted

TAPE = shutil.which("tape", path=str(Path(sys.executable).parent)) or "tape"

HOSTILE = ['he said "hi"', "back\\slash", "(quote x)", ")) (define pwned 1) ((", "new\nline\ttab", "nul\x00",
           "ünïcödé ✓ \u2028", "|bar|", ";comment", "#t", ":kw", "'q", "`(a ,b)", ""]


class Tools:
    """Step functions that count their calls (a replay must make none)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def search(self, query: str, limit: int = 2) -> list[str]:
        self.calls.append(("search", query))
        return [f"{query} #{i}" for i in range(limit)]

    def fail(self, why: str) -> None:
        self.calls.append(("fail", why))
        raise ValueError(why)


def agent(s: tapevm.Session, tools: Tools) -> dict[str, Any]:
    """A small agent loop: steps, a definition of what they returned, a Lisp function called with data."""
    hits = s.step("search", tools.search, "weather in Paris", 3)
    s.define("hits", hits)
    try:
        s.step("fail", tools.fail, 'disk "full"')
        failed = ""
    except tapevm.StepFailed as e:
        failed = e.error_message
    s.eval("(define (tag xs t) (map (lambda (x) (str t x)) xs))")
    return {"tagged": s.call("tag", hits, "> "), "failed": failed}


def test_a_step_is_recorded_as_an_effect_and_answered_from_the_log_on_replay(store_url: str) -> None:
    tools = Tools()
    with tapevm.open_session("agent", store=store_url) as s:
        first = agent(s, tools)
    assert first["tagged"] == ["> weather in Paris #0", "> weather in Paris #1", "> weather in Paris #2"]
    assert first["failed"] == "step fail: ValueError: disk \"full\""
    assert len(tools.calls) == 2
    with tapevm.open_session("agent", store=store_url, writable=False) as s:
        events = list(s.events())
    requests = [e.event for e in events if type(e.event) is EffectRequested]
    assert [r.kind for r in requests] == ["step", "step"]
    completed = [e.event for e in events if type(e.event) is EffectCompleted]
    assert [c.ok for c in completed] == [True, False] and completed[1].error_kind == "effect-error"
    sources = [e.event.source for e in events if type(e.event) is FormSubmitted]
    assert sources[0] == '(step "search" "weather in Paris" 3)'

    again = tapevm.replay_agent(lambda r: agent(r, tools), "agent", store_url)
    assert again.value == first and len(tools.calls) == 2  # answered from the log: nothing called
    with tapevm.open_store(store_url) as store:
        verified = store.replay("agent", verify=True)
        assert verified.ok and verified.events == len(events)
        effects = [e.what for e in store.audit("agent") if e.kind == "effect"]
        assert effects[0].startswith('(step "search" "weather in Paris" 3) -> ("weather in Paris #0"')
        assert effects[1].startswith('(step "fail" "disk \\"full\\"")')
        blame = store.blame("agent", "hits")
        assert [e.form_source[:12] for e in blame.history] == ["(define hits"]


def test_a_changed_program_is_a_divergence_naming_both_steps(tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    tools = Tools()
    with tapevm.open_session("agent", store=db) as s:
        agent(s, tools)

    def changed(s: tapevm.Session) -> None:
        s.step("search", tools.search, "weather in Rome", 3)

    with pytest.raises(tapevm.ProgramDiverged) as e:
        tapevm.replay_agent(changed, "agent", db)
    assert str(e.value) == ('divergence at event 2: the recording ran (step "search" "weather in Paris" 3) '
                            '(<step>:1) where the program now runs (step "search" "weather in Rome" 3)')

    def shorter(s: tapevm.Session) -> None:
        s.step("search", tools.search, "weather in Paris", 3)

    with pytest.raises(tapevm.ProgramDiverged, match="the program does less than recorded"):
        tapevm.replay_agent(shorter, "agent", db)

    def longer(s: tapevm.Session) -> None:
        agent(s, tools)
        s.step("search", tools.search, "more")

    with pytest.raises(tapevm.ProgramDiverged, match="the program does more than recorded"):
        tapevm.replay_agent(longer, "agent", db)
    assert len(tools.calls) == 2  # no replay called a step function


def test_decorated_and_async_steps(tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    calls: list[int] = []

    def program(s: tapevm.Session) -> tuple[int, int]:
        @s.step
        def double(n: int) -> int:
            calls.append(n)
            return 2 * n

        @s.step("halve")
        async def halve(n: int) -> int:
            calls.append(n)
            return n // 2

        return double(21), asyncio.run(halve(84))

    with tapevm.open_session("a", store=db) as s:
        assert program(s) == (42, 42)
    assert tapevm.replay_agent(program, "a", db).value == (42, 42)
    assert calls == [21, 84]
    with tapevm.open_session("a", store=db, writable=False) as s:
        assert [e.event.source for e in s.events() if type(e.event) is FormSubmitted] == [
            '(step "double" 21)', '(step "halve" 84)']


def test_bad_input_is_refused_before_anything_is_recorded(tmp_path: Path) -> None:
    with tapevm.open_session("a", store=str(tmp_path / "s.db")) as s:
        head = s.head
        with pytest.raises(tapevm.UsageError, match="set is not data"):
            s.step("x", lambda v: v, {1})
        with pytest.raises(tapevm.UsageError, match="non-empty string"):
            s.step("", lambda: 1)
        assert s.head == head
        with pytest.raises(tapevm.StepFailed, match="the step returned what is not data"):
            s.step("obj", lambda: object())  # recorded as the step's failure
        assert s.unfinished is None
        assert s.step("ok", lambda: [1, (2, None)]) == [1, (2, None)]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.sampled_from(HOSTILE), st.text(max_size=30)), min_size=1, max_size=4))
def test_hostile_strings_pass_as_data_and_replay_identical(tmp_path: Path, texts: list[str]) -> None:
    # a store of its own per example: hypothesis may run one example twice (shrinking), and a store
    # named by the texts then held the first run's steps too (the replay saw a longer recording)
    db = str(Path(tempfile.mkdtemp(dir=tmp_path)) / "h.db")

    def program(s: tapevm.Session) -> Any:
        got = s.step("echo", lambda *a: list(a), *texts)
        s.define("got", got)
        return s.call("list", *texts), s.call("str", *texts), tapevm.to_python(s.eval("got"))

    expected = (texts, "".join(texts), texts)
    with tapevm.open_session("h", store=db) as s:
        assert program(s) == expected
        assert "pwned" not in s.state.namespaces.get("user", {})
    assert tapevm.replay_agent(program, "h", db).value == expected
    with tapevm.open_store(db) as store:
        assert store.replay("h", verify=True).ok


def test_tape_replay_verify_of_a_session_with_steps_is_identical(tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    with tapevm.open_session("agent", store=db) as s:
        agent(s, Tools())
    r = subprocess.run([TAPE, "--store", db, "replay", "-i", "agent", "--verify"], check=False, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert "identical" in r.stdout
