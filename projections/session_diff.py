"""State-level differences between two sessions (or one session at two points).

Pure: two States in, a SessionDiff out.  Values are compared by their
encodings, which is exact for compound values too because those are
content-addressed references (equal key <=> equal structure).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import compress
from operator import ne
from typing import Any

from tapevm.domain.state import State


class _Missing:
    """The side of a change where the item is absent (one instance; it prints as ``MISSING``, so a
    change shown in a REPL or a log reads ``b=MISSING``, not an object address)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __reduce__(self) -> str:  # copies (and pickles) are the one instance: changes test it with ``is``
        return "MISSING"


MISSING: Any = _Missing()


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
class SessionDiff:
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


def diff_states(a: State, b: State) -> SessionDiff:
    """What changes from ``a`` to ``b``: bindings, atoms, facts, files and the current namespace."""
    out: list[Change] = []
    for ns in sorted(set(a.namespaces) | set(b.namespaces)):
        _diff_maps("binding", a.namespaces.get(ns, {}), b.namespaces.get(ns, {}), lambda n, ns=ns: (ns, n), out)
    _diff_maps("atom", a.atoms, b.atoms, lambda k: (k,), out)
    _diff_maps("fact", a.facts, b.facts, lambda k: (k,), out)
    _diff_maps("file", a.files, b.files, lambda p: (p,), out)
    if a.current_ns != b.current_ns:
        out.append(Change("namespace", ("current",), a.current_ns, b.current_ns))
    return SessionDiff(out)
