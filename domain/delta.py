"""Deltas: the difference between two states of a session, as a plain value.

A :class:`Delta` says what changed from state ``a`` to state ``b``: bindings
added, changed and removed per namespace, atoms likewise, facts retracted and
asserted, files written and deleted, and the current namespace.  Values stay in
the value encoding (:mod:`tapevm.domain.content`); a delta never carries
content nodes, because the states of one session share one content table that
only grows (a restore goes back to content the head already holds).

Four laws hold (tests/properties/test_delta_laws.py)::

    apply_delta(state(a), diff(state(a), state(b))) ~ state(b)
    compose(diff(a, b), diff(b, c)) == diff(a, c)
    diff(a, a) is empty
    Delta.model_validate_json(d.model_dump_json()) == d

Facts keep their assertion order (it is observable: ``(facts)`` lists them in
that order), so the fact part is positional: ``facts_before`` is the number of
facts in ``a``, ``retracted`` maps a position in ``a``'s fact list to that
fact, and ``asserted`` is appended in order.  The survivors of ``a`` keep their
order; ``diff`` keeps the longest prefix of ``b`` that it can, so a fact that
was retracted and asserted again (and so moved to the end) is in both parts.
Positions are what let :func:`compose` produce exactly ``diff(a, c)`` without
seeing the states.

The fold applies the delta a :class:`~tapevm.domain.events.StateRestored`
carries (:func:`apply_delta_in_place`), so a restore folds like any event.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Container, Mapping
from itertools import compress, repeat
from operator import is_not
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from tapevm.domain.content import canonical_bytes
from tapevm.domain.state import MISSING, State, fact_key

# (the models build their validators on first use, not at import: ~25 ms of every tape command)
_CONFIG = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class _TableChange(BaseModel):
    """Changes to one key -> encoded value table: added, changed ``[old, new]``, removed (old value).

    Two concrete kinds, for their keys' types (a JSON round trip turns keys into text, and
    validation turns an atom's back into its number).  Not one generic model: parametrising
    it builds validators at import.
    """

    model_config = _CONFIG

    if TYPE_CHECKING:
        added: dict[Any, Any]
        changed: dict[Any, tuple[Any, Any]]
        removed: dict[Any, Any]

    def is_empty(self) -> bool:
        return not (self.added or self.changed or self.removed)

    def __len__(self) -> int:
        return len(self.added) + len(self.changed) + len(self.removed)


class MapChange(_TableChange):
    """Changes to a table with text keys: one namespace's bindings, the world's files."""

    added: dict[str, Any] = {}
    changed: dict[str, tuple[Any, Any]] = {}
    removed: dict[str, Any] = {}


class AtomChange(_TableChange):
    """Changes to the atoms (keys: atom ids)."""

    added: dict[int, Any] = {}
    changed: dict[int, tuple[Any, Any]] = {}
    removed: dict[int, Any] = {}


class FactChange(BaseModel):
    """Facts retracted (by position in the old list) and asserted (appended, in order)."""

    model_config = _CONFIG

    facts_before: int = 0
    retracted: dict[int, Any] = {}
    asserted: list[Any] = []

    def is_empty(self) -> bool:
        return not (self.retracted or self.asserted)


class Delta(BaseModel):
    """What changed from one state to another (see the module docstring for the laws)."""

    model_config = _CONFIG

    current_ns: tuple[str, str] | None = None
    bindings: dict[str, MapChange] = {}
    atoms: AtomChange = Field(default_factory=AtomChange)  # (a factory: an instance here would build now)
    facts: FactChange = Field(default_factory=FactChange)
    files: MapChange = Field(default_factory=MapChange)

    def is_empty(self) -> bool:
        return (self.current_ns is None and not self.bindings and self.atoms.is_empty()
                and self.facts.is_empty() and self.files.is_empty())

    def summary(self) -> dict[str, int]:
        """Counts of each kind of change (what ``tape delta`` prints first)."""
        return {
            "bindings_added": sum(len(c.added) for c in self.bindings.values()),
            "bindings_changed": sum(len(c.changed) for c in self.bindings.values()),
            "bindings_removed": sum(len(c.removed) for c in self.bindings.values()),
            "atoms_changed": len(self.atoms),
            "facts_asserted": len(self.facts.asserted),
            "facts_retracted": len(self.facts.retracted),
            "files_written": len(self.files.added) + len(self.files.changed),
            "files_deleted": len(self.files.removed),
        }


T = TypeVar("T", MapChange, AtomChange)


# -- diff ---------------------------------------------------------------------------------
def _same(x: Any, y: Any) -> bool:
    # Encodings compare by canonical bytes: in Python ``True == 1`` and ``1 == 1.0``.
    return x is y or canonical_bytes(x) == canonical_bytes(y)


def _diff_map(a: dict[Any, Any], b: dict[Any, Any], kind: type[T]) -> T:
    """The change from table ``a`` to table ``b``, each part in the order of its table.

    States of one session share the encodings of the values that did not change (the fold
    stores a new object only for what an event sets), so a key whose value in ``b`` is the very
    object it has in ``a`` needs no comparison: the scan for the others runs in C, and Python
    looks only at those.  A checkpoint diffs the head with its keyframe: at 100,000 bindings a
    comparison per key in Python took 60-75 ms of every checkpoint a writer stored, the scan in C
    15-25 ms.
    """
    candidates = list(compress(a, map(is_not, a.values(), map(b.get, a, repeat(MISSING)))))
    removed = {k: a[k] for k in candidates if k not in b}
    changed = {k: (a[k], b[k]) for k in candidates if k in b and not _same(a[k], b[k])}
    return kind(added=_added(a, b, len(b) - len(a) + len(removed)), changed=changed, removed=removed)


def _diff_names(a: dict[str, Any], b: dict[str, Any], names: Collection[str],
                position: Mapping[str, int] | None) -> MapChange:
    """``_diff_map(a, b)`` when only ``names`` may differ between the two tables: the same change,
    in the same order, looking at those names alone (``position``: ``a``'s names by position)."""
    if position is None:
        position = {k: i for i, k in enumerate(a)}
    old = sorted((k for k in names if k in a), key=position.__getitem__)
    removed = {k: a[k] for k in old if k not in b}
    changed = {k: (a[k], b[k]) for k in old if k in b and not _same(a[k], b[k])}
    new = {k for k in names if k in b and k not in a}
    return MapChange(added=_added(a, b, len(new), new), changed=changed, removed=removed)


def _added(a: dict[Any, Any], b: dict[Any, Any], count: int, among: Container[Any] | None = None) -> dict[Any, Any]:
    """The ``count`` entries of ``b`` whose keys ``a`` lacks (all of them ``among`` those keys, when
    given), in ``b``'s order: a table's new keys are usually its last, so the scan from the end
    usually stops early."""
    found = []
    if count:
        for k in reversed(b):
            if k not in a and (among is None or k in among):
                found.append(k)
                if len(found) == count:
                    break
    return {k: b[k] for k in reversed(found)}


def _diff_facts(a: dict[bytes, Any], b: dict[bytes, Any]) -> FactChange:
    position = {key: i for i, key in enumerate(a)}
    b_keys = list(b)
    kept = 0
    last = -1
    for key in b_keys:  # the longest prefix of b that is a's survivors in a's order
        i = position.get(key)
        if i is None or i < last or a[key] != b[key]:  # the same fact with other evidence is asserted again
            break
        last = i
        kept += 1
    survivors = set(b_keys[:kept])
    a_items = list(a.items())
    retracted = {i: enc for i, (key, enc) in enumerate(a_items) if key not in survivors}
    return FactChange(facts_before=len(a), retracted=retracted, asserted=[b[k] for k in b_keys[kept:]])


def diff(a: State, b: State, touched: Mapping[str, Collection[str]] | None = None,
         positions: Callable[[str], Mapping[str, int]] | None = None) -> Delta:
    """The delta that takes ``a`` to ``b`` (only what the VM can observe; content is shared).

    ``touched``: what the caller knows, per namespace the only names whose bindings may differ
    (the names the events from ``a`` to ``b`` set); no other binding is looked at, so the diff
    costs what changed, not the size of the state.  A checkpoint writer knows them from the
    commits it saw since its keyframe.  ``positions(ns)``: ``a``'s names in ``ns`` by position,
    when the caller has them (else they are counted), to order the changes as a whole diff does.
    """
    bindings: dict[str, MapChange] = {}
    for ns in sorted(set(a.namespaces) | set(b.namespaces)):
        old, new = a.namespaces.get(ns, {}), b.namespaces.get(ns, {})
        if touched is None:
            change = _diff_map(old, new, MapChange)
        elif names := touched.get(ns):
            change = _diff_names(old, new, names, positions(ns) if positions is not None else None)
        else:
            continue
        if not change.is_empty():
            bindings[ns] = change
    return Delta(
        current_ns=None if a.current_ns == b.current_ns else (a.current_ns, b.current_ns),
        bindings=bindings,
        atoms=_diff_map(a.atoms, b.atoms, AtomChange),
        facts=_diff_facts(a.facts, b.facts),
        files=_diff_map(a.files, b.files, MapChange),
    )


# -- apply --------------------------------------------------------------------------------
def _apply_map(table: dict[Any, Any], change: _TableChange) -> None:
    for k in change.removed:
        table.pop(k, None)
    for k, (_, new) in change.changed.items():
        table[k] = new
    table.update(change.added)


def apply_delta_in_place(state: State, delta: Delta) -> State:
    """Apply ``delta`` to ``state`` itself (the fold's handler; see :func:`apply_delta`)."""
    if delta.current_ns is not None:
        state.current_ns = delta.current_ns[1]
        state.namespaces.setdefault(state.current_ns, {})
    for ns, change in delta.bindings.items():
        _apply_map(state.namespaces.setdefault(ns, {}), change)
    _apply_map(state.atoms, delta.atoms)
    _apply_map(state.files, delta.files)
    if not delta.facts.is_empty():
        retracted = delta.facts.retracted
        items = [item for i, item in enumerate(state.facts.items()) if i not in retracted]
        state.facts = dict(items)
        for enc in delta.facts.asserted:
            state.facts[fact_key(enc)] = enc
    return state


def apply_delta(state: State, delta: Delta) -> State:
    """A new state: ``state`` with ``delta`` applied (``state`` is left alone).

    The result keeps ``state``'s content tables and ``seq``; a delta between
    two states of one session refers only to content the later state holds.
    """
    return apply_delta_in_place(state.copy(), delta)


# -- compose ------------------------------------------------------------------------------
def _compose_map(d1: T, d2: T, kind: type[T]) -> T:
    def before_after(c: _TableChange, k: Any) -> tuple[Any, Any]:
        if k in c.added:
            return MISSING, c.added[k]
        if k in c.changed:
            return c.changed[k]
        return c.removed[k], MISSING

    added: dict[Any, Any] = {}
    changed: dict[Any, tuple[Any, Any]] = {}
    removed: dict[Any, Any] = {}
    keys1 = set(d1.added) | set(d1.changed) | set(d1.removed)
    keys2 = set(d2.added) | set(d2.changed) | set(d2.removed)
    for k in keys1 | keys2:
        old = before_after(d1, k)[0] if k in keys1 else before_after(d2, k)[0]
        new = before_after(d2, k)[1] if k in keys2 else before_after(d1, k)[1]
        if old is MISSING and new is MISSING:
            continue
        if old is MISSING:
            added[k] = new
        elif new is MISSING:
            removed[k] = old
        elif not _same(old, new):
            changed[k] = (old, new)
    return kind(added=added, changed=changed, removed=removed)


def _compose_facts(f1: FactChange, f2: FactChange) -> FactChange:
    """Facts of ``a -> b -> c`` as one change from ``a``, in the canonical form ``diff`` gives."""
    n_a = f1.facts_before
    survivors1 = [i for i in range(n_a) if i not in f1.retracted]  # a-positions kept into b, in order
    n_kept1 = len(survivors1)
    # b = a's survivors (positions 0..n_kept1-1) + f1.asserted; f2 retracts by b-position.
    retracted: dict[int, Any] = dict(f1.retracted)
    for pos, enc in f2.retracted.items():
        if pos < n_kept1:
            retracted[survivors1[pos]] = enc
    asserted_from_b = [enc for j, enc in enumerate(f1.asserted) if (n_kept1 + j) not in f2.retracted]
    asserted = asserted_from_b + list(f2.asserted)
    # Canonical form: keep as much of c's prefix as a's order allows.  c = K + asserted, where K is
    # a's unretracted facts in a's order; a re-asserted fact of a may extend K if it comes after K.
    a_position = {canonical_bytes(enc): i for i, enc in retracted.items()}  # (an entry: fact and evidence)
    last = max((i for i in range(n_a) if i not in retracted), default=-1)
    n_moved = 0
    for enc in asserted:
        i = a_position.get(canonical_bytes(enc))
        if i is None or i < last:
            break
        last = i
        del retracted[i]
        n_moved += 1
    return FactChange(facts_before=n_a, retracted=retracted, asserted=asserted[n_moved:])


def compose(d1: Delta, d2: Delta) -> Delta:
    """The delta of applying ``d1`` then ``d2`` (``compose(diff(a, b), diff(b, c)) == diff(a, c)``)."""
    if d1.current_ns is None:
        current_ns = d2.current_ns
    elif d2.current_ns is None:
        current_ns = d1.current_ns
    else:
        current_ns = None if d1.current_ns[0] == d2.current_ns[1] else (d1.current_ns[0], d2.current_ns[1])
    bindings: dict[str, MapChange] = {}
    empty = MapChange()
    for ns in sorted(set(d1.bindings) | set(d2.bindings)):
        change = _compose_map(d1.bindings.get(ns, empty), d2.bindings.get(ns, empty), MapChange)
        if not change.is_empty():
            bindings[ns] = change
    return Delta(
        current_ns=current_ns,
        bindings=bindings,
        atoms=_compose_map(d1.atoms, d2.atoms, AtomChange),
        facts=_compose_facts(d1.facts, d2.facts),
        files=_compose_map(d1.files, d2.files, MapChange),
    )
