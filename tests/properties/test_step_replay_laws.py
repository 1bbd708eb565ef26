"""Laws of Python agents recorded with steps, on random agent programs and a real SQLite store.

* A program of steps, calls and definitions replays to identical: re-run against its recording
  (``replay_agent``) it returns what it returned live without calling one step function, and
  ``replay --verify`` of its recorded forms agrees.
* A program changed in one step's arguments diverges exactly at that step's event, naming it.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tapevm

data = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=12)),
    lambda inner: st.one_of(st.lists(inner, min_size=1, max_size=3), st.dictionaries(st.text(max_size=4), inner,
                                                                                      max_size=3)),
    max_leaves=6,
)
# One operation of an agent: ("step", argument, result, fails), ("define", value), ("call", value)
operation = st.one_of(
    st.tuples(st.just("step"), data, data, st.booleans()),
    st.tuples(st.just("define"), data),
    st.tuples(st.just("call"), data),
)
programs = st.lists(operation, min_size=1, max_size=6)


def run(s: tapevm.Session, ops: list[tuple[Any, ...]], calls: list[Any], heads: list[int] | None = None) -> list[Any]:
    seen: list[Any] = []
    for i, op in enumerate(ops):
        if heads is not None:
            heads.append(s.head)  # the event before each operation's form
        if op[0] == "step":
            _, arg, result, fails = op

            def fn(a: Any, result: Any = result, fails: bool = fails) -> Any:
                calls.append(a)
                if fails:
                    raise RuntimeError(f"no luck with {a!r}")
                return result
            try:
                seen.append(s.step(f"s{i}", fn, arg))
            except tapevm.StepFailed as e:
                seen.append(("failed", e.error_message))
        elif op[0] == "define":
            s.define(f"v{i}", op[1])
        else:
            seen.append(s.call("list", op[1]))
    return seen


@settings(max_examples=10, deadline=None)
@given(programs)
def test_a_step_recorded_agent_replays_to_identical(ops: list[tuple[Any, ...]]) -> None:
    with tempfile.TemporaryDirectory() as d:
        db = str(Path(d) / "s.db")
        calls: list[Any] = []
        with tapevm.open_session("agent", store=db) as s:
            live = run(s, ops, calls)
        made = len(calls)
        again = tapevm.replay_agent(lambda r: run(r, ops, calls), "agent", db)
        assert again.value == live
        assert len(calls) == made  # every step answered from the log
        with tapevm.open_store(db) as store:
            assert store.replay("agent", verify=True).ok


@settings(max_examples=8, deadline=None)
@given(programs.filter(lambda ops: any(op[0] == "step" for op in ops)), st.data())
def test_a_changed_step_diverges_at_its_own_event(ops: list[tuple[Any, ...]], pick: st.DataObject) -> None:
    steps = [i for i, op in enumerate(ops) if op[0] == "step"]
    k = pick.draw(st.sampled_from(steps))
    changed = list(ops)
    changed[k] = ("step", ["changed", ops[k][1]], ops[k][2], ops[k][3])
    with tempfile.TemporaryDirectory() as d:
        db = str(Path(d) / "s.db")
        heads: list[int] = []
        with tapevm.open_session("agent", store=db) as s:
            run(s, ops, [], heads)
        with pytest.raises(tapevm.ProgramDiverged) as e:
            tapevm.replay_agent(lambda r: run(r, changed, []), "agent", db)
        assert e.value.seq == heads[k] + 1
        assert f'where the program now runs (step "s{k}" \'("changed"' in str(e.value)
