"""Bringing work from one session into another: ``merge`` (three-way) and ``take`` (one binding).

Both commit ONE transaction in the destination: a ContentStored with the
value nodes and blobs the destination lacks (values move between sessions of
one store by content key), then a MergeApplied naming the source and its event
number, which the fold applies purely.  The destination's writer lease is
taken for the duration, like any writer.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tapevm.domain import lineage
from tapevm.domain.addresses import parse_address
from tapevm.domain.errors import MergeConflict, UsageError
from tapevm.domain.events import ContentStored, Event, MergeApplied
from tapevm.domain.ports import EventStore
from tapevm.domain.state import MISSING, State, encode_blob, reached_nodes
from tapevm.infrastructure.branches.forks import resolve_address
from tapevm.infrastructure.logs import get_logger
from tapevm.infrastructure.session.service import Session
from tapevm.infrastructure.session.time_travel import state_of
from tapevm.projections.merge_rules import MergeItem, MergePlan, three_way
from tapevm.vm.value_codec import atoms_named

log = get_logger("tapevm.merging")


@dataclass
class MergeResult:
    source: str
    destination: str
    source_seq: int
    ancestor: int
    applied: list[MergeItem] = field(default_factory=list)
    conflicts: list[MergeItem] = field(default_factory=list)
    seq: int = 0  # event number of the MergeApplied in the destination (0: nothing to merge)
    resolved: list[str] = field(default_factory=list)  # per conflict, in order: "keep" or "take"


def item_label(item: MergeItem) -> str:
    if item.kind == "binding":
        return f"{item.key[0]}/{item.key[1]}"
    if item.kind == "atom":
        return f"atom #{item.key[0]}"
    if item.kind == "file":
        return f"file {item.key[0]}"
    return "a fact"


def missing_content(source: State, dest: State, values: Iterable[Any], blob_keys: Iterable[str]) -> ContentStored | None:
    """The nodes and blobs of ``values`` (and files) that ``dest`` lacks, as one ContentStored."""
    nodes = [[key, node] for key, node in reached_nodes(source.nodes, values, dest.nodes).items()]
    blobs = []
    for key in blob_keys:
        if key not in dest.blobs and key in source.blobs:
            encoding, data = encode_blob(source.blobs.get(key))
            blobs.append([key, encoding, data])
    if not nodes and not blobs:
        return None
    nodes.reverse()  # children before parents, as forms store them
    return ContentStored(nodes=nodes, blobs=blobs)


def _merge_event(kind: str, source_stream: str, source_name: str, source_seq: int, ancestor: int,
                 items: list[MergeItem]) -> MergeApplied:
    fields: dict[str, list[Any]] = {"bindings": [], "removed": [], "atoms": [], "facts_added": [],
                                    "facts_removed": [], "files": []}
    for it in items:
        gone = it.theirs is MISSING
        if it.kind == "binding":
            if gone:
                fields["removed"].append(list(it.key))
            else:
                fields["bindings"].append([it.key[0], it.key[1], it.theirs])
        elif it.kind == "atom":
            if not gone:
                fields["atoms"].append([it.key[0], it.theirs])
        elif it.kind == "fact":
            if gone:
                fields["facts_removed"].append(it.ours)
            else:
                fields["facts_added"].append(it.theirs)
        elif it.kind == "file":
            fields["files"].append([it.key[0], None if gone else it.theirs])
    return MergeApplied(kind=kind, source=source_stream, source_name=source_name, source_seq=source_seq,
                        ancestor=ancestor, **fields)


def _commit(dest: Session, ours: State, source: State, items: list[MergeItem], event: MergeApplied) -> int:
    """Append ``event`` to ``dest`` (whose state is ``ours``), after the content of ``source`` it lacks."""
    values = [it.theirs for it in items if it.theirs is not MISSING and it.kind != "file"]
    blob_keys = [it.theirs for it in items if it.kind == "file" and it.theirs is not MISSING]
    content = missing_content(source, ours, values, blob_keys)
    events: list[Event] = ([content] if content else []) + [event]
    recorded = dest.record(events)
    return int(recorded[-1].seq)


def merge(store: EventStore, source: str, destination: str, prefer: str = "fail", *,
          keep: Sequence[str] = (), take: Sequence[str] = ()) -> MergeResult:
    """Three-way merge of ``source`` (``ID`` or ``ID@N``) into ``destination``; see session_merge.py.

    Base: the common ancestor by lineage (the fork point), moved forward to the source's event
    last merged into the destination (:func:`_merged_through`).  Unrelated sessions merge against
    an empty base, so every name both define differently conflicts.  ``keep`` and ``take`` name
    bindings (``name`` in the destination's current namespace, or ``ns/name``) whose conflict is
    resolved that way whatever ``prefer`` says; a name given that is not in conflict, or given to
    both, is a UsageError and nothing is written (a typo must not merge silently the other way).
    """
    if prefer not in ("keep", "take", "fail"):
        raise UsageError(f"unknown --prefer {prefer!r}: use keep, take or fail")
    src_addr = parse_address(source)
    src_stream, src_seq = resolve_address(store, src_addr)
    with Session(store, destination, create=False) as dest:
        if dest.stream == src_stream:  # its own state, now or earlier: a merge would find nothing to take
            raise UsageError(f"cannot merge session {src_addr.session!r} into itself (to go back to an earlier "
                             "state, use 'tape snapshot' and 'tape restore')")
        ancestor = lineage.common_ancestor(store, src_stream, dest.stream)
        ancestor = min(ancestor, src_seq)
        ours = dest.state
        base_seq = max(ancestor, _merged_through(store, ours, src_stream, src_seq))
        theirs = state_of(store, src_stream, src_seq)
        base = state_of(store, src_stream, base_seq) if base_seq else State()
        resolve = _per_name(ours.current_ns, keep, take)
        plan = three_way(base, ours, theirs, prefer, resolve)
        _check_named_conflicts(plan, resolve, f"{src_addr} into {destination!r}")
        result = MergeResult(src_addr.session, destination, src_seq, base_seq, plan.take, plan.conflicts,
                             resolved=[plan.resolutions[(c.kind, c.key)] for c in plan.conflicts])
        unresolved = plan.unresolved
        if unresolved:
            names = ", ".join(item_label(c) for c in unresolved[:8])
            more = f" and {len(unresolved) - 8} more" if len(unresolved) > 8 else ""
            raise MergeConflict(
                f"merge of {src_addr} into {destination!r}: {len(unresolved)} conflicts ({names}{more}); "
                "nothing written; use --prefer keep or --prefer take, or --keep/--take NAME"
            )
        if plan.take or plan.conflicts:  # a resolved conflict is recorded too, so the next merge's base moves on
            event = _merge_event("merge", src_stream, src_addr.session, src_seq, base_seq, plan.take)
            result.seq = _commit(dest, ours, theirs, plan.take, event)
        log.info("merged", source=str(src_addr), destination=destination, applied=len(plan.take),
                 conflicts=len(plan.conflicts))
        return result


def _per_name(current_ns: str, keep: Sequence[str], take: Sequence[str]) -> dict[tuple[str, tuple[Any, ...]], str]:
    """``--keep``/``--take`` names as merge items (``name`` is in ``current_ns``); a name given to
    both, or an empty one, is a UsageError."""
    out: dict[tuple[str, tuple[Any, ...]], str] = {}
    for how, names in (("keep", keep), ("take", take)):
        for name in names:
            ns, sep, short = name.rpartition("/")
            if not sep:
                ns = current_ns
            if not short or (sep and not ns):
                raise UsageError(f"--{how} {name!r}: give a binding's name, NAME or NS/NAME")
            k = ("binding", (ns, short))
            if out.get(k, how) != how:
                raise UsageError(f"{ns}/{short} is given to both --keep and --take: give it to one")
            out[k] = how
    return out


def _check_named_conflicts(plan: MergePlan, resolve: dict[tuple[str, tuple[Any, ...]], str], what: str) -> None:
    """A name ``--keep``/``--take`` resolves must be in conflict: a UsageError naming the conflicts otherwise."""
    stray = [(how, k) for k, how in resolve.items() if k not in plan.resolutions]
    if not stray:
        return
    how, (_, (ns, name)) = stray[0]
    conflicts = [item_label(c) for c in plan.conflicts if c.kind == "binding"]
    listed = f"the conflicting names are {', '.join(conflicts[:8])}" if conflicts else "no binding conflicts"
    raise UsageError(f"--{how} {ns}/{name}: not in conflict in the merge of {what} ({listed}); nothing written")


def _merged_through(store: EventStore, ours: State, src_stream: str, src_seq: int) -> int:
    """The last event of the source (up to ``src_seq``) the destination has merged already: from the
    source's own stream, or from a stream of its lineage (a fork of a session merged before shares
    that session's events up to its fork point)."""
    done = min(ours.merged.get(src_stream, 0), src_seq)
    for seg in lineage.lineage(store, src_stream):
        if seg.stream in ours.merged:
            last = seg.last if seg.last is not None else src_seq
            done = max(done, min(ours.merged[seg.stream], last, src_seq))
    return done


def take(store: EventStore, source: str, name: str, destination: str) -> MergeResult:
    """Copy one binding (``name`` or ``ns/name``) from ``source`` (``ID`` or ``ID@N``) into ``destination``."""
    src_addr = parse_address(source)
    src_stream, src_seq = resolve_address(store, src_addr)
    theirs = state_of(store, src_stream, src_seq)
    ns, sep, short = name.rpartition("/")
    if not sep:
        ns, short = theirs.current_ns, name
    if not short or short not in theirs.namespaces.get(ns, {}):
        raise UsageError(f"session {src_addr} has no binding {ns}/{short} (see 'tape state -i {src_addr.session}')")
    value = theirs.namespaces[ns][short]
    atoms = atoms_named([("", {short: value})], reached_nodes(theirs.nodes, [value]))
    if atoms:
        raise UsageError(f"cannot take {ns}/{short} from session {src_addr}: its value refers to atom "
                         f"{', '.join(f'#{a}' for a in sorted(atoms))}, and an atom's id names another atom (or "
                         f"none) in {destination!r}; merge the sessions instead, or take a value without atoms")
    with Session(store, destination, create=False) as dest:
        if dest.stream == src_stream:  # its own binding (or an older value of it): a merge would find nothing
            raise UsageError(f"cannot take {ns}/{short} from session {src_addr.session!r} into itself "
                             f"(to go back to an earlier value, use 'tape snapshot' and 'tape restore')")
        ours = dest.state
        item = MergeItem("binding", (ns, short), MISSING, ours.namespaces.get(ns, {}).get(short, MISSING), value)
        result = MergeResult(src_addr.session, destination, src_seq, 0, [item])
        event = _merge_event("take", src_stream, src_addr.session, src_seq, 0, [item])
        result.seq = _commit(dest, ours, theirs, [item], event)
        return result
