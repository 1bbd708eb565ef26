"""A session's form limits through the Python API, on both backends: a runaway form is committed as a
``limit-exceeded`` error, nothing committed before it is lost, its replay reproduces it, and an
interrupted form can be abandoned on purpose."""

from __future__ import annotations

import subprocess
import sys

import pytest

import tapevm
from tapevm.domain.errors import UsageError
from tapevm.domain.events import EffectRequested, FormEvaluated
from tapevm.infrastructure.session.replay import replay
from tapevm.vm.limits import LIMIT_EXCEEDED, FormLimits

LOOP = "(define (f n) (f (+ n 1)))"
EFFECT_LOOP = "(define (g n) (begin (random 10) (g (+ n 1))))"


def test_a_runaway_form_is_committed_as_limit_exceeded_and_replays(store_url: str) -> None:
    with tapevm.open_session("w", store_url, limits=FormLimits(max_steps=50_000)) as s:
        s.eval("(define kept 1)")
        s.eval(LOOP)
        [outcome] = s.run("(begin (define lost 2) (f 0))")
        assert not outcome.ok and outcome.error_kind == LIMIT_EXCEEDED
        assert "--max-steps 50000" in (outcome.error_message or "")
        assert s.eval("kept") == 1
        assert "lost" not in s.state.namespaces["user"]
        s.limits = FormLimits(max_steps=None, max_time=0.2)  # settable between forms
        [timed] = s.run("(f 0)")
        assert timed.error_kind == LIMIT_EXCEEDED and "--max-time 0.2" in (timed.error_message or "")
        s.limits = FormLimits(max_effects=3)
        s.eval(EFFECT_LOOP)
        [effects] = s.run("(g 0)")
        assert "more than 3 effects" in (effects.error_message or "")
        head = s.head
    recorded = [e.event for e in tapevm.open_store(store_url).log("w")]
    assert sum(type(e) is EffectRequested for e in recorded) == 3  # nothing past the limit was recorded
    with tapevm.open_store(store_url) as store:
        result = replay(store.events, "w", verify=True)
    assert result.ok, result.divergence
    assert result.events == head


def test_limits_come_from_the_environment(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAPE_MAX_STEPS", "20000")
    monkeypatch.setenv("TAPE_MAX_OUTPUT", "0")
    with tapevm.open_session("env", store_url) as s:
        assert s.limits.max_steps == 20_000 and s.limits.max_output is None
        s.eval(LOOP)
        [outcome] = s.run("(f 0)")
        assert "--max-steps 20000" in (outcome.error_message or "")
    monkeypatch.setenv("TAPE_MAX_TIME", "soon")
    with tapevm.open_session("env", store_url, writable=False) as reader:  # a reader does not read them
        assert reader.head > 1
    with tapevm.open_session("env", store_url) as s, \
            pytest.raises(UsageError, match="TAPE_MAX_TIME='soon': give a number of seconds from 0"):
        s.eval("1")


# A loop with an effect inside, interrupted (as by Ctrl-C) once it has committed a few effects.
_INTERRUPTED = """
import sys, tapevm
s = tapevm.open_session("w", sys.argv[1])
s.eval("(define (t n) (begin (now) (t (+ n 1))))")
def clock():
    if s.head > 40:
        raise KeyboardInterrupt
    return 1.0
s.effects.providers.clock = clock
s.eval("(t 0)")
"""


def test_an_interrupted_runaway_is_abandoned_not_resumed(store_url: str) -> None:
    """Interrupted inside a loop with an effect, a session refused every form until 'resume', and
    resume ran the loop again for ever: abandoning ends it on purpose, as a recorded event."""
    proc = subprocess.run([sys.executable, "-c", _INTERRUPTED, store_url], capture_output=True, text=True,
                          check=False, timeout=120)
    assert "KeyboardInterrupt" in proc.stderr
    with tapevm.open_session("w", store_url) as s:
        form = s.unfinished
        assert form is not None
        with pytest.raises(UsageError, match="tape resume --abandon"):
            s.eval("1")
        end = s.abandon()
        assert s.unfinished is None and end == s.head
        assert s.eval("(+ 1 1)") == 2
        last = next(r.event for r in s.events(end, end))
        assert isinstance(last, FormEvaluated) and last.error_kind == "abandoned"
    with tapevm.open_session("w", store_url) as s:  # reopened: the form stays abandoned
        assert s.unfinished is None
    with tapevm.open_store(store_url) as store:
        assert replay(store.events, "w", verify=True).ok
