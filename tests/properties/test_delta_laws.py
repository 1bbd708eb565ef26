"""The four laws of deltas, on states of real sessions (random forms, snapshots and restores).

* applying delta(a, b) to state(a) gives state(b);
* delta(a, b) composed with delta(b, c) equals delta(a, c);
* delta(a, a) is empty;
* a delta survives a JSON round trip.

Also: after a restore the state equals the snapshot's state, the live VM
agrees with the fold, and a restore inside a form takes effect at its commit.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from tapevm.domain.delta import Delta, apply_delta, compose, diff
from tapevm.domain.fold import fold_fields
from tapevm.domain.state import State
from tapevm.infrastructure.session.service import open_session
from tapevm.vm.world_state import capture_state

NAMES = ["v0", "v1", "v2"]
SNAPS = ["s0", "s1", "s2"]

scalar = st.one_of(st.integers(-3, 3).map(str), st.sampled_from(['"hi"', "'sym", ":kw", "#t", "nil", "1.0", "1"]))
value = st.one_of(
    scalar,
    st.lists(scalar, max_size=3).map(lambda xs: "(list " + " ".join(xs) + ")"),
    scalar.map(lambda x: f"(let ((k {x})) (lambda (y) (list k y)))"),
)


def form() -> st.SearchStrategy[str]:
    name = st.sampled_from(NAMES)
    fact = st.tuples(st.sampled_from(["likes", "owns"]), st.integers(0, 2))
    path = st.sampled_from(["a.txt", "d/b.txt"])
    snap = st.sampled_from(SNAPS)
    return st.one_of(
        st.tuples(name, value).map(lambda t: f"(define {t[0]} {t[1]})"),
        st.tuples(name, value).map(lambda t: f"(set! {t[0]} {t[1]})"),
        value.map(lambda v: f"(define a0 (atom {v}))"),
        value.map(lambda v: f"(reset! a0 {v})"),
        fact.map(lambda f: f"(assert! '({f[0]} {f[1]}))"),
        fact.map(lambda f: f"(retract! '({f[0]} {f[1]}))"),
        # evidence: asserting a fact again with other evidence moves it to the end (fold, VM and deltas agree)
        st.tuples(fact, st.sampled_from(["{:by 1}", "{:by 2}", '"seen"', "nil"])).map(
            lambda t: f"(assert! '({t[0][0]} {t[0][1]}) {t[1]})"),
        st.tuples(path, st.sampled_from(["x", "yy", ""])).map(lambda t: f'(write-file! "{t[0]}" "{t[1]}")'),
        path.map(lambda p: f'(delete-file! "{p}")'),
        st.tuples(path, st.integers(0, 700)).map(lambda t: f'(append-file! "{t[0]}" "{"z" * t[1]}")'),
        # a rewrite of one region (a splice once the file passes 1 KiB)
        path.map(lambda p: f'(write-file! "{p}" (string-replace (read-file "{p}") "zzzz" "ZZ"))'),
        st.sampled_from(["(in-ns 'tools)", "(in-ns 'user)", "(define tools/t 1)"]),
        snap.map(lambda n: f'(snapshot! "{n}")'),
        snap.map(lambda n: f'(restore! "{n}")'),
        st.tuples(name, snap).map(lambda t: f'(begin (define {t[0]} 99) (restore! "{t[1]}"))'),
    )


def canon(x: Any) -> bytes:
    return orjson.dumps(x, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)


def same_state(a: State, b: State) -> bool:
    return canon(a.semantic()) == canon(b.semantic())


def same_delta(a: Delta, b: Delta) -> bool:
    return canon(a.model_dump(mode="json")) == canon(b.model_dump(mode="json"))


def states_of(forms: list[str]) -> list[State]:
    """The state after every event of a session that ran ``forms`` (index = event number)."""
    return states_and_events(forms)[0]


def states_and_events(forms: list[str]) -> tuple[list[State], list[tuple[int, str, dict[str, Any]]]]:
    """``states_of``, and the session's events as ``(seq, type name, fields)`` (event n at index n - 1)."""
    with tempfile.TemporaryDirectory() as tmp, open_session("laws", str(Path(tmp) / "s.db")) as s:
        for text in forms:
            s.run(text)
            assert same_state(s.state, capture_state(s.world)), f"live VM != fold after {text!r}"
        states = [State(session="laws")]
        current = State(session="laws")
        events = list(s.store.read_fields("laws"))
        for record in events:
            fold_fields([record], current)
            states.append(current.copy())
        for n in (1, s.head // 2, s.head):
            assert same_state(s.state_at(n), states[n])
        return states, events



@given(st.lists(form(), min_size=1, max_size=20), st.data())
def test_delta_laws(forms: list[str], data: st.DataObject) -> None:
    states = states_of(forms)
    index = st.integers(0, len(states) - 1)
    for _ in range(8):
        a, b, c = data.draw(index), data.draw(index), data.draw(index)
        d_ab, d_bc, d_ac = diff(states[a], states[b]), diff(states[b], states[c]), diff(states[a], states[c])
        assert same_state(apply_delta(states[a], d_ab), states[b])
        assert same_delta(compose(d_ab, d_bc), d_ac), (a, b, c)
        assert diff(states[a], states[a]).is_empty()
        assert same_delta(Delta.model_validate_json(d_ab.model_dump_json()), d_ab)
        assert Delta.model_validate_json(d_ab.model_dump_json()) == d_ab



@given(st.lists(form(), min_size=1, max_size=15))
def test_restore_returns_to_the_snapshot_state(forms: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        with open_session("r", str(Path(tmp) / "s.db")) as s:
            for text in forms:
                s.run(text)
            s.snapshot("mark", description="end of the forms")
            marked = s.state
            s.run("(define v0 'later) (assert! '(later)) (in-ns 'other)")
            before_restore = s.head
            s.restore("mark")
            assert same_state(s.state, marked)
            assert same_state(capture_state(s.world), marked)
            # the history before the restore is still addressable
            assert canon(s.state_at(before_restore).semantic()["facts"]) != canon(marked.semantic()["facts"])
        with open_session("r", str(Path(tmp) / "s.db"), create=False) as again:
            assert same_state(again.state, marked)



# One step of a table's edit: delete a key, give it a copy of its value (equal, not the same
# object), set it to another value (1, #t and 1.0 are equal to Python, not here), or add a key
# (perhaps one deleted just before, which then comes last).
_edit = st.tuples(st.sampled_from(["del", "copy", "set", "add"]), st.integers(0, 7), st.sampled_from([1, True, 1.0, "x"]))


@given(st.dictionaries(st.integers(0, 7).map(lambda i: f"k{i}"), st.sampled_from([1, True, 1.0, "x"]), max_size=8),
       st.lists(_edit, max_size=10))
def test_a_table_diff_is_the_plain_definition_in_the_order_of_its_tables(
        scalars: dict[str, Any], edits: list[tuple[str, int, Any]]) -> None:
    """``diff``'s scan of a table (identity first, in C) gives what the definition says, in the same
    order: added in the order of the new table, changed and removed in the order of the old."""
    from tapevm.domain.delta import MapChange, _diff_map

    a = {k: ["v", x] for k, x in scalars.items()}  # encodings that are lists: a copy is another object
    b = dict(a)
    for op, i, x in edits:
        key = f"k{i}"
        if op == "del":
            b.pop(key, None)
        elif op == "copy" and key in b:
            b[key] = list(b[key])
        elif op == "set" and key in b or op == "add":
            b[key] = ["v", x]
    change = _diff_map(a, b, MapChange)
    assert list(change.added.items()) == [(k, v) for k, v in b.items() if k not in a]
    assert list(change.removed.items()) == [(k, v) for k, v in a.items() if k not in b]
    assert list(change.changed.items()) == [(k, (v, b[k])) for k, v in a.items()
                                            if k in b and orjson.dumps(v) != orjson.dumps(b[k])]


@given(st.lists(form(), min_size=1, max_size=20), st.data())
def test_a_diff_told_the_names_the_events_set_is_the_whole_diff(forms: list[str], data: st.DataObject) -> None:
    """What a checkpoint writer does: between two states with no restore, merge or image between them,
    the diff of just the names the events set (by the fold's own word on which events set bindings
    and which leave them alone) is the whole diff, in the same order."""
    from tapevm.domain.fold import SETS_ONE_BINDING, leaves_bindings

    states, events = states_and_events(forms)
    index = st.integers(0, len(states) - 1)
    for _ in range(8):
        a, b = sorted((data.draw(index), data.draw(index)))
        between = events[a:b]
        if any(t not in SETS_ONE_BINDING and not leaves_bindings(t) for _, t, _ in between):
            continue
        touched: dict[str, set[str]] = {}
        for _, t, fields in between:
            if t in SETS_ONE_BINDING:
                touched.setdefault(fields["ns"], set()).add(fields["name"])
        whole, told = diff(states[a], states[b]), diff(states[a], states[b], touched)
        assert orjson.dumps(told.model_dump(mode="json")) == orjson.dumps(whole.model_dump(mode="json")), (a, b)
