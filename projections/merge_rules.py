"""The three-way merge of session states, pure.

For every item (binding, atom, fact, file) with base value B, destination
value D ("ours", kept) and source value S ("theirs", taken):

* S == B: the source did not touch it, keep D;
* D == B: only the source changed it, take S (set, or remove when S is absent);
* D == S: both made the same change, nothing to do;
* otherwise a conflict, resolved by ``resolve`` for the items it names (per name: "keep" or
  "take"), else by ``prefer``: "keep" D, "take" S, or "fail".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tapevm.domain.state import MISSING, State

PREFER = ("keep", "take", "fail")


@dataclass(frozen=True)
class MergeItem:
    kind: str               # "binding", "atom", "fact", "file"
    key: tuple[Any, ...]
    base: Any
    ours: Any
    theirs: Any


@dataclass
class MergePlan:
    """What to apply to the destination (``take``: items to set to ``theirs``) and what conflicted."""

    take: list[MergeItem] = field(default_factory=list)
    conflicts: list[MergeItem] = field(default_factory=list)
    # how each conflict was resolved ("keep", "take" or "fail"), by (kind, key), in ``conflicts``' order
    resolutions: dict[tuple[str, tuple[Any, ...]], str] = field(default_factory=dict)

    @property
    def unresolved(self) -> list[MergeItem]:
        """The conflicts neither a per-name resolution nor ``prefer`` resolved."""
        return [c for c in self.conflicts if self.resolutions[(c.kind, c.key)] == "fail"]


def _items(state: State) -> dict[tuple[str, tuple[Any, ...]], Any]:
    out: dict[tuple[str, tuple[Any, ...]], Any] = {}
    for ns, table in state.namespaces.items():
        for name, value in table.items():
            out[("binding", (ns, name))] = value
    for atom_id, value in state.atoms.items():
        out[("atom", (atom_id,))] = value
    for key, fact in state.facts.items():
        out[("fact", (key,))] = fact
    for path, blob in state.files.items():
        out[("file", (path,))] = blob
    return out


def three_way(base: State, ours: State, theirs: State, prefer: str = "fail",
              resolve: Mapping[tuple[str, tuple[Any, ...]], str] | None = None) -> MergePlan:
    """The changes that bring ``theirs``' work since ``base`` into ``ours``.

    ``resolve`` maps items (``(kind, key)``, e.g. ``("binding", ("user", "x"))``) to "keep" or
    "take": how a conflict on that item is resolved, before ``prefer``.  An item it names that is
    not in conflict is the caller's to report (``MergePlan.resolutions`` lists the conflicts).
    """
    resolve = resolve or {}
    if prefer not in PREFER or any(how not in ("keep", "take") for how in resolve.values()):
        raise ValueError(f"prefer must be one of {PREFER}, a per-item resolution keep or take")
    b, o, t = _items(base), _items(ours), _items(theirs)
    plan = MergePlan()
    for k in sorted(set(b) | set(o) | set(t), key=repr):
        vb, vo, vt = b.get(k, MISSING), o.get(k, MISSING), t.get(k, MISSING)
        if vt == vb or vo == vt:
            continue
        item = MergeItem(k[0], k[1], vb, vo, vt)
        if vo == vb:
            plan.take.append(item)
        else:
            plan.conflicts.append(item)
            how = plan.resolutions[k] = resolve.get(k, prefer)
            if how == "take":
                plan.take.append(item)
    return plan


def apply_plan(ours: State, plan: MergePlan) -> State:
    """``ours`` with the plan applied (a copy): what the destination's state becomes."""
    out = ours.copy()
    for item in plan.take:
        removed = item.theirs is MISSING
        if item.kind == "binding":
            ns, name = item.key
            if removed:
                out.namespaces.get(ns, {}).pop(name, None)
            else:
                out.namespaces.setdefault(ns, {})[name] = item.theirs
        else:
            tables: dict[str, dict[Any, Any]] = {"atom": out.atoms, "fact": out.facts, "file": out.files}
            table = tables[item.kind]
            if removed:
                table.pop(item.key[0], None)
            else:
                table[item.key[0]] = item.theirs
    return out
