"""Replay on real stores: verify, divergence reports, programs, forks with live effects."""

from __future__ import annotations

from typing import Any

import pytest

from tapevm.domain.errors import ReplayDivergence, SessionExists, SessionNotFound, UsageError
from tapevm.domain.events import Defined, EffectRequested
from tapevm.infrastructure.images.session_opener import open_session
from tapevm.infrastructure.session.llm_providers import ScriptedLLM
from tapevm.infrastructure.session.replay import replay
from tapevm.infrastructure.session.service import Session
from tapevm.infrastructure.stores.factory import open_store
from tapevm.vm.reader import read_forms

PROGRAM = """(define n 3)
(define a (ask (str "hi " n) :model "m"))
(define r (random 1000))
(define t (now))
(try (tool "nope") (catch e 'caught))
(define f (lambda (x) (+ x r)))
(print a)
(write-file! "out.txt" a)
"""


def program(text: str, file: str = "new.lisp") -> list[tuple[Any, int, int, str, str]]:
    return [(f, line, col, src, file) for f, line, col, src in read_forms(text, file)]


@pytest.fixture
def recorded(store_url: str) -> Any:
    with open_session("rec", store_url) as s:
        s.effects.providers.llm = ScriptedLLM(default="answer: {prompt}")
        assert all(o.ok for o in s.run(PROGRAM, "agent.lisp"))
        head = s.head
    store = open_store(store_url)
    yield store, head
    store.close()


def test_replay_verify_agrees_and_calls_nothing(recorded: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    store, head = recorded
    from tapevm.infrastructure.session import effects
    monkeypatch.setattr(effects.EffectProviders, "call", lambda *a: pytest.fail("a provider was called"))
    result = replay(store, "rec", verify=True)
    assert result.ok and result.events == head and result.forms == 8
    assert store.last_seq("rec") == head  # the original is untouched


def test_changed_program_is_caught_at_the_changed_event(recorded: Any) -> None:
    store, _ = recorded
    result = replay(store, "rec", verify=True, program=program(PROGRAM.replace("(define n 3)", "(define n 4)")))
    d = result.divergence
    assert d is not None and d.seq == 3 and d.form_file == "new.lisp" and d.form_line == 1
    assert isinstance(d.expected.event, Defined) and d.expected.event.value == 3 and d.actual.event.value == 4
    assert "Defined differs in value" in d.cause and "program changed" in d.cause
    assert [(c.what, c.expected, c.actual) for c in d.state_diff] == [("user/n", 3, 4)]


def test_changed_effect_arguments_name_the_effect(recorded: Any) -> None:
    store, _ = recorded
    result = replay(store, "rec", verify=True, program=program(PROGRAM.replace('"hi "', '"hello "')))
    d = result.divergence
    assert d is not None and d.seq == 6 and d.form_line == 2
    assert isinstance(d.expected.event, EffectRequested) and d.expected.event.args[0] == "hi 3"
    assert d.actual.event.args[0] == "hello 3"
    assert "effect #1" in d.cause and "recorded as (ask \"hi 3\"" in d.cause


def test_more_effects_and_program_length_are_divergences(recorded: Any) -> None:
    store, _ = recorded
    d = replay(store, "rec", verify=True, program=program(PROGRAM.replace("(define n 3)", "(define n (now))"))).divergence
    assert d is not None and d.seq == 3 and "more effects" in d.cause
    d = replay(store, "rec", verify=True, program=program(PROGRAM + "(+ 1 2)\n")).divergence
    assert d is not None and "more forms" in d.cause
    d = replay(store, "rec", verify=True, program=program("(define n 3)")).divergence
    assert d is not None and "fewer forms" in d.cause


def test_changed_code_is_caught_and_named(recorded: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    store, _ = recorded
    from tapevm.vm.primitives import registry

    assert replay(store, "rec", verify=True).ok
    monkeypatch.setattr(registry.PRIMITIVES["str"], "fn", lambda *xs: "changed")  # a "new tapevm version"
    from tapevm.vm.primitives.registry import all_primitives

    assert all_primitives()["str"].fn("x") == "changed"
    d = replay(store, "rec", verify=True).divergence
    assert d is not None and d.seq == 6 and d.form_file == "agent.lisp" and d.form_line == 2
    assert "now asks (ask \"changed\"" in d.cause


def test_replay_to_and_unknown_session(recorded: Any) -> None:
    store, _ = recorded
    assert replay(store, "rec", verify=True, to=4).forms == 1
    assert replay(store, "rec", verify=True, to=5).forms == 2
    with pytest.raises(SessionNotFound):
        replay(store, "nobody")
    with pytest.raises(UsageError, match="needs --fork"):
        replay(store, "rec", live_from=1)
    head = store.last_seq("rec")
    assert replay(store, "rec", verify=True, to=head).forms >= 2
    with pytest.raises(UsageError, match=f"has events 1..{head}; there is no event {head + 1}"):
        replay(store, "rec", to=head + 1)  # the library refuses it too (only the CLI did)


def test_fork_with_live_effects_from_an_event(recorded: Any) -> None:
    store, _ = recorded
    made: list[Session] = []

    def factory(st: Any, sid: str) -> Session:
        s = Session(st, sid)
        s.effects.providers.llm = ScriptedLLM(default="other answer")
        made.append(s)
        return s

    result = replay(store, "rec", fork="whatif", live_from=5, session_factory=factory)
    assert result.ok and result.target == "whatif"
    with open_session("whatif", store, create=False) as w, open_session("rec", store, create=False) as orig:
        assert w.eval("a") == "other answer" and orig.eval("a") == "answer: hi 3"
        assert w.eval("n") == 3
    with pytest.raises(SessionExists):
        replay(store, "rec", fork="whatif")
    # a fork with recorded effects only is identical to the original
    replay(store, "rec", fork="copy")
    with open_session("copy", store, create=False) as c:
        assert c.eval("(list a r t)") == orig_values(store)


def orig_values(store: Any) -> Any:
    with open_session("rec", store, create=False) as s:
        return s.eval("(list a r t)")


def test_session_actions_are_reapplied(store_url: str, tmp_path: Any) -> None:
    host = tmp_path / "in.txt"
    host.write_text("hello")
    with open_session("imp", store_url) as s:
        s.import_file(str(host))
        assert s.eval('(read-file "in.txt")') == "hello"
        s.import_file(str(host), "again/in.txt")  # same bytes: no second blob
        assert [r.event.type_name for r in s.events(2)].count("ContentStored") == 1
    with open_store(store_url) as store:
        assert replay(store, "imp", verify=True).ok


def test_divergence_without_verify_raises(recorded: Any) -> None:
    store, _ = recorded
    with pytest.raises(ReplayDivergence):
        replay(store, "rec", program=program("(define n 5)"))


def test_replay_stops_at_an_interrupted_form(store_url: str) -> None:
    s = open_session("cut", store_url)

    @s.tool("die")
    def die() -> None:
        raise KeyboardInterrupt

    s.run("(define a 1)")
    with pytest.raises(KeyboardInterrupt):
        s.run('(define b (list (random 5) (tool "die")))')
    s.close()
    with open_store(store_url) as store:
        result = replay(store, "cut", verify=True)
        # it checked events 1..4 of 6: a verify that did not cover the whole record is not ok
        assert not result.ok and not result.verified and result.forms == 1 and result.divergence is None
        assert (result.events, result.recorded, result.complete) == (4, 7, False)
        assert result.note.startswith("stopped at event 5: this form has no recorded end")


def test_changed_behaviour_names_the_tapevm_versions(recorded: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    store, _ = recorded
    from tapevm.projections import divergence as divergence_module
    from tapevm.vm.primitives import registry

    monkeypatch.setattr(registry.PRIMITIVES["write-file!"], "fn", lambda m, path, text: None)
    d = replay(store, "rec", verify=True).divergence
    assert d is not None and "same tapevm" in d.cause and "nondeterminism that bypassed the effect port" in d.cause
    monkeypatch.setattr(divergence_module, "tapevm_version", lambda: "9.9.9")
    d = replay(store, "rec", verify=True).divergence
    assert d is not None and d.cause.endswith("replayed with 9.9.9)") and "recorded with tapevm" in d.cause


def test_forms_with_session_requests_replay_identically_and_write_no_image(
        store_url: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # snapshot!/restore! append their events after the form's FormEvaluated, in its commit: replay
    # once appended them a second time (a divergence at the next form); save-image failed the replay
    monkeypatch.setenv("TAPE_HOME", str(tmp_path / "home"))
    images = tmp_path / "home" / "images"
    with open_session("req", store_url) as s:
        outcomes = s.run('(define x 1)\n(snapshot! "s1")\n(define x 2)\n(restore! "s1")\n'
                         '(save-image "req-img")\n(define y x)\n')
        assert all(o.ok for o in outcomes) and s.eval("y") == 1
        head = s.head
    (images / "req-img").unlink()
    with open_store(store_url) as store:
        result = replay(store, "req", verify=True)
        assert result.ok and result.forms == 7 and result.events == head, result.divergence
        assert not (images / "req-img").exists()  # a verifying replay writes nothing outside the record
        (images / "req-img").write_bytes(b"the user's own file")
        assert replay(store, "req", fork="req2").ok
        # a fork wrote the image again, over whatever the path held by then (with --program, other content)
        assert (images / "req-img").read_bytes() == b"the user's own file"
