"""Replay laws on random programs with random effects, on a real SQLite store.

* replay --verify of a recorded session always agrees with the record;
* a program changed in one form is caught exactly at the first event that form changes.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from tapevm.domain.events import Defined
from tapevm.infrastructure.session.llm_providers import ScriptedLLM
from tapevm.infrastructure.session.replay import replay
from tapevm.infrastructure.session.service import open_session
from tapevm.infrastructure.stores.factory import open_store
from tapevm.vm.reader import read_forms

V = [f"v{i}" for i in range(4)]
name = st.sampled_from(V)

form = st.one_of(
    st.tuples(name, st.integers(-50, 50)).map(lambda t: f"(define {t[0]} {t[1]})"),
    st.tuples(name, st.integers(1, 1000)).map(lambda t: f"(define {t[0]} (random {t[1]}))"),
    st.tuples(name, name).map(lambda t: f'(define {t[0]} (ask (str "q " {t[1]}) :model "m"))'),
    st.tuples(name, name, name).map(lambda t: f'(define {t[0]} (+ {t[1]} (tool "inc" {t[2]})))'),
    st.just("(print (now))"),
    st.just('(try (tool "fail") (catch e (error-kind e)))'),
    st.tuples(name, name).map(lambda t: f"(define {t[0]} (list (uuid) {t[1]}))"),
    st.tuples(name, name).map(lambda t: f"(set! {t[0]} {t[1]})"),
)


def record(path: str, source: str) -> None:
    with open_session("p", path) as s:
        s.effects.providers.llm = ScriptedLLM(rule=lambda p, o: f"answer {len(p) * 7 % 13}")
        s.tool("inc")(lambda x: x + 1 if isinstance(x, int) else 0)

        @s.tool("fail")
        def fail() -> None:
            raise ValueError("no")

        s.run(source, "prog.lisp")


@given(st.lists(form, min_size=1, max_size=12), st.data())
def test_replay_verify_agrees_and_a_change_is_caught_where_it_happens(forms: list[str], data: st.DataObject) -> None:
    k = data.draw(st.integers(0, len(forms)), label="changed form")
    c = data.draw(st.integers(-50, 50), label="constant")
    forms = [*forms[:k], f"(define v0 {c})", *forms[k:]]
    with tempfile.TemporaryDirectory() as d:
        path = str(Path(d) / "s.db")
        record(path, "\n".join(forms))
        with open_store(path) as store:
            result = replay(store, "p", verify=True)
            assert result.ok, result.divergence
            assert result.events == store.last_seq("p")
            submitted = [r.seq for r in store.read("p") if r.event.type_name == "FormSubmitted"]
            target = next(r.seq for r in store.read("p", submitted[k]) if isinstance(r.event, Defined))
            changed = [*forms[:k], f"(define v0 {c + 1})", *forms[k + 1:]]
            prog = [(f, line, col, src, "new.lisp") for f, line, col, src in read_forms("\n".join(changed), "new.lisp")]
            d_ = replay(store, "p", verify=True, program=prog).divergence
            assert d_ is not None and d_.seq == target and d_.form_line == k + 1
            assert d_.actual.event.value == c + 1


@given(st.lists(form, min_size=0, max_size=8), st.data())
def test_changed_effect_arguments_are_caught_at_the_request(forms: list[str], data: st.DataObject) -> None:
    k = data.draw(st.integers(0, len(forms)), label="changed form")
    c = data.draw(st.integers(0, 50), label="prompt")
    forms = [*forms[:k], f'(define v1 (ask "prompt {c}"))', *forms[k:]]
    with tempfile.TemporaryDirectory() as d:
        path = str(Path(d) / "s.db")
        record(path, "\n".join(forms))
        with open_store(path) as store:
            submitted = [r.seq for r in store.read("p") if r.event.type_name == "FormSubmitted"]
            target = next(r.seq for r in store.read("p", submitted[k]) if r.event.type_name == "EffectRequested")
            changed = [*forms[:k], f'(define v1 (ask "prompt {c + 1}"))', *forms[k + 1:]]
            prog = [(f, line, col, src, "new.lisp") for f, line, col, src in read_forms("\n".join(changed), "new.lisp")]
            d_ = replay(store, "p", verify=True, program=prog).divergence
            assert d_ is not None and d_.seq == target and d_.form_line == k + 1
            assert "effect #1" in d_.cause and f'"prompt {c}"' in d_.cause
