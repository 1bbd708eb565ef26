"""A pure difference of two States: what a divergence report shows.

Compares what the VM can observe (:meth:`State.semantic`): bindings,
namespace, atoms, facts and files.  Values stay encoded; the caller decides
how to print them.  (Issue 3 brings a full delta projection; this is the small
diff a person reads next to two diverging events.)
"""

from __future__ import annotations

from typing import Any, NamedTuple

from tapevm.domain.state import State, fact_key


class StateChange(NamedTuple):
    """One difference: ``what`` names the place (``user/x``, ``atom #2``, ``fact``, ``file a.txt``, ``namespace``);
    ``expected``/``actual`` are encodings (None when absent on that side)."""

    what: str
    expected: Any
    actual: Any


_ABSENT = object()


def diff_states(expected: State, actual: State) -> list[StateChange]:
    """Every observable difference between two states, in a stable order."""
    changes: list[StateChange] = []
    if expected.current_ns != actual.current_ns:
        changes.append(StateChange("namespace", expected.current_ns, actual.current_ns))
    for ns in sorted(set(expected.namespaces) | set(actual.namespaces)):
        a = expected.namespaces.get(ns, {})
        b = actual.namespaces.get(ns, {})
        for name in sorted(set(a) | set(b)):
            va, vb = a.get(name, _ABSENT), b.get(name, _ABSENT)
            if va != vb:
                changes.append(StateChange(f"{ns}/{name}", _none(va), _none(vb)))
    for atom in sorted(set(expected.atoms) | set(actual.atoms)):
        va, vb = expected.atoms.get(atom, _ABSENT), actual.atoms.get(atom, _ABSENT)
        if va != vb:
            changes.append(StateChange(f"atom #{atom}", _none(va), _none(vb)))
    for key in list(expected.facts) + [k for k in actual.facts if k not in expected.facts]:
        if (key in expected.facts) != (key in actual.facts):
            changes.append(StateChange("fact", expected.facts.get(key), actual.facts.get(key)))
    for path in sorted(set(expected.files) | set(actual.files)):
        va, vb = expected.files.get(path), actual.files.get(path)
        if va != vb:
            changes.append(StateChange(f"file {path}", va, vb))
    return changes


def _none(value: Any) -> Any:
    return None if value is _ABSENT else value


__all__ = ["StateChange", "diff_states", "fact_key"]
