"""Law: a program with awaits and effects at random points, suspended and answered from other Session objects,
ends in the same state with the same events (bar timestamps) as answered at hand in one object, and in the
same state as the program with each answer written in place of its await."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tapevm import open_session
from tapevm.domain.errors import FormPending
from tapevm.infrastructure.session.service import Session

PRELUDE = "(define (work n) (if (= n 0) 0 (+ 1 (work (- n 1)))))"


def _answer(tag: str) -> int:
    return int(tag[1:]) * 10 + 1


@st.composite
def expr(draw: st.DrawFn, k: int, tags: list[int], depth: int = 0) -> str:
    leaf = [st.integers(-5, 5).map(str)] + ([st.integers(0, k - 1).map(lambda j: f"v{j}")] if k else [])
    if depth >= 3:
        return draw(st.one_of(*leaf))
    choice = draw(st.integers(0, 8))
    sub = lambda: draw(expr(k, tags, depth + 1))
    if choice == 0:
        return f"(+ {sub()} {sub()})"
    if choice == 1:
        return f"(let ((x {sub()})) (* x {sub()}))"
    if choice == 2:
        tags.append(len(tags))
        return f"(await 't{tags[-1]} :payload {sub()})"
    if choice == 3:
        return f"(tool 'twice {sub()})"
    if choice == 4:
        return f"(apply + (map (lambda (i) (+ i {sub()})) (list 1 2)))"
    if choice == 5:
        return f"(+ (work {draw(st.integers(0, 30))}) {sub()})"
    if choice == 6:
        return f"(try (car {sub()}) (catch e 0))"
    return draw(st.one_of(*leaf))


@st.composite
def programs(draw: st.DrawFn) -> list[str]:
    tags: list[int] = []
    n = draw(st.integers(1, 4))
    return [f"(define v{k} {draw(expr(k, tags))})" for k in range(n)]


def _open(path: Path) -> Session:
    s = open_session("w", str(path))
    s.tool("twice")(lambda x: 2 * x)
    return s


def _run(path: Path, forms: list[str], fresh_objects: bool) -> tuple[dict[str, Any], list[Any]]:
    s = _open(path)
    try:
        for text in forms:
            try:
                s.eval(text)
            except FormPending as pending:
                tag = pending.tag
                while True:
                    if fresh_objects:  # answered from another Session object: a fresh VM from the log
                        s.close()
                        s = _open(path)
                    try:
                        s.answer(tag, _answer(tag))
                        break
                    except FormPending as again:
                        tag = again.tag
        # bar timestamps: when each commit was made, how long a tool took
        events = [(r.seq, r.cause, r.event.type_name, r.event.model_dump(exclude={"duration_ms"})) for r in s.events()]
        return dict(s.state.namespaces["user"]), events
    finally:
        s.close()


def _without_awaits(forms: list[str]) -> list[str]:
    import re

    return [re.sub(r"\(await 't(\d+) :payload ", lambda m: f"((lambda (p) {_answer('t' + m.group(1))}) ", f)
            for f in forms]


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(forms=programs())
def test_answers_from_other_objects_equal_answers_at_hand(tmp_path_factory: Any, forms: list[str]) -> None:
    base = tmp_path_factory.mktemp("await")
    for name in ("a.db", "b.db", "c.db"):
        with _open(base / name) as s:
            s.eval(PRELUDE)
    state_a, events_a = _run(base / "a.db", forms, fresh_objects=False)
    state_b, events_b = _run(base / "b.db", forms, fresh_objects=True)
    assert state_a == state_b
    assert events_a == events_b
    # ((lambda (p) ANSWER) PAYLOAD): the payload evaluated for its effects, as the await did, then the answer
    state_c, _ = _run(base / "c.db", _without_awaits(forms), fresh_objects=False)
    assert state_a == state_c
