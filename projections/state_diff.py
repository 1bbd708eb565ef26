"""The differences between two States: the one diff ``tape diff`` prints and a replay reports.

Pure: two States in, a :class:`StateDiff` out.  It compares what the VM can
observe: bindings, atoms, facts, files and the current namespace.  Values are
compared by their encodings, which is exact for compound values too because
those are content-addressed references (equal key <=> equal structure); the
side that lacks an item holds :data:`~tapevm.domain.state.MISSING`.

A replay's divergence report lists the same diff in its own shape
(:func:`state_changes`).  (:func:`tapevm.domain.delta.diff` is another
product: a delta to apply, not a list for a person to read.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import compress
from operator import ne
from typing import Any, NamedTuple

from tapevm.domain.state import MISSING, State


@dataclass(frozen=True)
class Change:
    """One difference: ``key`` identifies the item; ``a``/``b`` the encodings (MISSING when absent)."""

    kind: str          # "binding", "atom", "fact", "file", "namespace"
    key: tuple[Any, ...]
    a: Any
    b: Any

    @property
    def status(self) -> str:
        if self.a is MISSING:
            return "added"
        if self.b is MISSING:
            return "removed"
        return "changed"


@dataclass(frozen=True)
class StateDiff:
    """The changes from one state to another: bindings by namespace then name, atoms by id, facts by
    key, files by path (each kind in that order), the current namespace last."""

    changes: list[Change] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.changes)

    def of_kind(self, kind: str) -> list[Change]:
        return [c for c in self.changes if c.kind == kind]


def _diff_maps(kind: str, a: dict[Any, Any], b: dict[Any, Any], key: Any, out: list[Change]) -> None:
    """Append the changes from ``a`` to ``b``; the comparisons run in C (map/compress), not a Python loop."""
    if a == b:
        return
    found: list[Change] = []
    ga, gb = a.__getitem__, b.__getitem__
    common = [k for k in a if k in b] if len(a) < 64 else list(a.keys() & b.keys())
    for k in compress(common, map(ne, map(ga, common), map(gb, common))):
        found.append(Change(kind, key(k), a[k], b[k]))
    for k in a.keys() - b.keys():
        found.append(Change(kind, key(k), a[k], MISSING))
    for k in b.keys() - a.keys():
        found.append(Change(kind, key(k), MISSING, b[k]))
    found.sort(key=lambda c: c.key)  # set order is arbitrary; the output is not
    out.extend(found)


def diff_states(a: State, b: State) -> StateDiff:
    """What changes from ``a`` to ``b``: bindings, atoms, facts, files and the current namespace."""
    out: list[Change] = []
    for ns in sorted(set(a.namespaces) | set(b.namespaces)):
        _diff_maps("binding", a.namespaces.get(ns, {}), b.namespaces.get(ns, {}), lambda n, ns=ns: (ns, n), out)
    _diff_maps("atom", a.atoms, b.atoms, lambda k: (k,), out)
    _diff_maps("fact", a.facts, b.facts, lambda k: (k,), out)
    _diff_maps("file", a.files, b.files, lambda p: (p,), out)
    if a.current_ns != b.current_ns:
        out.append(Change("namespace", ("current",), a.current_ns, b.current_ns))
    return StateDiff(out)


# -- the divergence report's shape ------------------------------------------------------------
class StateChange(NamedTuple):
    """One difference as a divergence report shows it: ``what`` names the place (``user/x``,
    ``atom #2``, ``fact``, ``file a.txt``, ``namespace``); ``expected``/``actual`` are encodings
    (None when absent on that side)."""

    what: str
    expected: Any
    actual: Any


def state_changes(diff: StateDiff, expected: State, actual: State) -> list[StateChange]:
    """``diff`` (= ``diff_states(expected, actual)``) as a divergence report lists it.

    The current namespace first, then bindings, atoms, facts and files.  Facts
    in log order, those only ``expected`` holds then those only ``actual``
    holds (the states give the order); a fact is there or not, its key being
    its canonical encoding.
    """
    def place(c: Change) -> str:
        if c.kind == "binding":
            return f"{c.key[0]}/{c.key[1]}"
        return {"atom": f"atom #{c.key[0]}", "file": f"file {c.key[0]}"}.get(c.kind, c.kind)

    def shown(c: Change) -> StateChange:
        return StateChange(place(c), None if c.a is MISSING else c.a, None if c.b is MISSING else c.b)

    facts = [c for c in diff.of_kind("fact") if c.a is MISSING or c.b is MISSING]
    if facts:
        position = {k: i for i, k in enumerate(expected.facts)}
        position.update({k: len(position) + i for i, k in enumerate(actual.facts) if k not in position})
        facts.sort(key=lambda c: position[c.key[0]])
    return [shown(c) for c in (*diff.of_kind("namespace"), *diff.of_kind("binding"), *diff.of_kind("atom"),
                               *facts, *diff.of_kind("file"))]
