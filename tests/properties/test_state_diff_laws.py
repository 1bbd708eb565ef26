"""The one state diff, in the divergence report's shape, is the plain definition of that report.

A replay's report lists every observable difference of two states: the current
namespace, then bindings (by namespace, then name), atoms (by id), facts (those
only the expected state holds, then those only the actual one holds, each in
its log order) and files (by path), None on the side that lacks the item.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tapevm.domain.state import State, fact_key
from tapevm.projections.state_diff import StateChange, diff_states, state_changes

encoding = st.one_of(st.integers(-2, 2), st.booleans(), st.sampled_from(["s", "t"]),
                     st.lists(st.integers(0, 2), max_size=2))


@st.composite
def states(draw: st.DrawFn) -> State:
    state = State(current_ns=draw(st.sampled_from(["user", "lib"])))
    state.namespaces = draw(st.dictionaries(st.sampled_from(["user", "lib", "x"]),
                                            st.dictionaries(st.sampled_from(["a", "b", "c"]), encoding)))
    state.atoms = draw(st.dictionaries(st.integers(1, 4), encoding))
    state.facts = {fact_key(f): f for f in draw(st.lists(st.lists(st.integers(0, 3), max_size=2), max_size=4))}
    state.files = draw(st.dictionaries(st.sampled_from(["a.txt", "b.txt"]), st.sampled_from(["k1", "k2"])))
    return state


def report(expected: State, actual: State) -> list[StateChange]:
    """The definition, written out."""
    def side(table: dict[Any, Any], key: Any) -> Any:
        return table.get(key)

    out = []
    if expected.current_ns != actual.current_ns:
        out.append(StateChange("namespace", expected.current_ns, actual.current_ns))
    for ns in sorted(set(expected.namespaces) | set(actual.namespaces)):
        a, b = expected.namespaces.get(ns, {}), actual.namespaces.get(ns, {})
        for name in sorted(set(a) | set(b)):
            if name not in a or name not in b or a[name] != b[name]:
                out.append(StateChange(f"{ns}/{name}", side(a, name), side(b, name)))
    for atom in sorted(set(expected.atoms) | set(actual.atoms)):
        if atom not in expected.atoms or atom not in actual.atoms or expected.atoms[atom] != actual.atoms[atom]:
            out.append(StateChange(f"atom #{atom}", side(expected.atoms, atom), side(actual.atoms, atom)))
    out += [StateChange("fact", f, None) for k, f in expected.facts.items() if k not in actual.facts]
    out += [StateChange("fact", None, f) for k, f in actual.facts.items() if k not in expected.facts]
    for path in sorted(set(expected.files) | set(actual.files)):
        if expected.files.get(path) != actual.files.get(path):
            out.append(StateChange(f"file {path}", side(expected.files, path), side(actual.files, path)))
    return out


@given(states(), states())
def test_the_report_is_the_diff_in_its_own_shape(expected: State, actual: State) -> None:
    assert state_changes(diff_states(expected, actual), expected, actual) == report(expected, actual)


@given(states())
def test_a_state_has_no_difference_with_itself(state: State) -> None:
    assert not diff_states(state, state)
    assert state_changes(diff_states(state, state), state, state) == []
