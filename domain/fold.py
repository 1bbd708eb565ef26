"""The fold: how each event changes a :class:`~tapevm.domain.state.State`.

:data:`HANDLERS` is the one table of it: every event type of
:mod:`tapevm.domain.events` has an entry, a handler or None for the events
that change no state (inputs, outcomes, output, forks, effects), which only
move ``seq``.  A fixed literal, so what the fold does never depends on which
modules happen to be imported (tests/domain/test_fold_table.py checks that it
names every event type).  It does no I/O.

For speed the fold updates the state it is given (the hot loop of rebuilding
a million events cannot afford a copy per event); :func:`apply` is the pure
form that leaves its input alone.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Mapping, Sequence
from operator import itemgetter
from typing import Any, Final

from tapevm.domain.content import canonical_bytes_of_all
from tapevm.domain.delta import Delta, apply_delta_in_place
from tapevm.domain.errors import CorruptRecord
from tapevm.domain.events import (
    Assigned,
    AtomCreated,
    AtomReset,
    AwaitAnswered,
    ContentStored,
    Defined,
    Draft,
    EffectCompleted,
    EffectRequested,
    FactAsserted,
    FactRetracted,
    FileDeleted,
    FileImported,
    FileWritten,
    FormEvaluated,
    FormSubmitted,
    FormSuspended,
    HistoryArchived,
    ImageLoaded,
    MergeApplied,
    NamespaceEntered,
    OutputWritten,
    RecordedEvent,
    SessionForked,
    SessionStarted,
    SnapshotTaken,
    StateRestored,
)
from tapevm.domain.state import State, add_blob_entries, fact_entry, fact_key

# Each handler takes the event's fields as a dict (a model's ``__dict__``), so
# the same code folds decoded models and the raw field dicts of the fast path
# (``fold_fields``), which skips building a million model objects.
Fields = dict[str, Any]
Handler = Callable[[State, Fields], None]


def _content_stored(state: State, f: Fields) -> None:
    pairs = f["nodes"]
    if set(map(len, pairs)) - {2}:  # what unpacking each pair checked, in C
        raise ValueError("a ContentStored node is not a [key, node] pair")
    state.nodes.add_all(map(itemgetter(0), pairs), canonical_bytes_of_all(map(itemgetter(1), pairs)))
    add_blob_entries(state.blobs, f["blobs"])


def _defined(state: State, f: Fields) -> None:
    table = state.namespaces.get(f["ns"])
    if table is None:
        table = state.namespaces[f["ns"]] = {}
    table[f["name"]] = f["value"]


def _namespace_entered(state: State, f: Fields) -> None:
    state.namespaces.setdefault(f["ns"], {})
    state.current_ns = f["ns"]


def _atom_set(state: State, f: Fields) -> None:
    state.atoms[f["atom"]] = f["value"]


def _fact_asserted(state: State, f: Fields) -> None:
    _put_fact(state, fact_entry(f["fact"], f.get("evidence")))


def _put_fact(state: State, entry: Any) -> None:
    """Assert a fact entry; one already held (asserted again with other evidence) moves to the end,
    as in the VM, so a delta (which appends what it asserts) and the fold agree on the order."""
    key = fact_key(entry)
    state.facts.pop(key, None)
    state.facts[key] = entry


def _fact_retracted(state: State, f: Fields) -> None:
    state.facts.pop(fact_key(f["fact"]), None)


def _file_written(state: State, f: Fields) -> None:
    key = f["content"]
    if key not in state.blobs:  # (a log tapevm wrote always stores content before naming it)
        raise ValueError(f"file {f['path']!r} names content {key!r}, which no earlier event stored")
    state.files[f["path"]] = key


def _file_deleted(state: State, f: Fields) -> None:
    state.files.pop(f["path"], None)


# -- time travel: snapshots, restores, images -------------------------------------------
def _snapshot_taken(state: State, f: Fields) -> None:
    state.snapshots[f["name"]] = (f["at"], f.get("description", ""))


def _image_loaded(state: State, f: Fields) -> None:
    """The image's state replaces the VM's (its content came in the ContentStored before)."""
    s = f["state"]
    if s is None:  # the image's history was re-appended: the state is already its fold
        return
    state.current_ns = s["current_ns"]
    state.namespaces = {ns: dict(b) for ns, b in s["namespaces"].items()}
    state.atoms = {int(k): v for k, v in s["atoms"]}
    state.facts = {fact_key(enc): enc for enc in s["facts"]}
    state.files = dict(s["files"])


def _state_restored(state: State, f: Fields) -> None:
    """The state goes back to a snapshot's: the event carries the delta that takes it there."""
    apply_delta_in_place(state, Delta.model_validate(f["delta"]))


# -- merges and takes ---------------------------------------------------------------------
def _merge_applied(state: State, f: Fields) -> None:
    if f["kind"] == "merge":
        stream, at = f["source"], int(f["source_seq"])  # (``source`` is the source's stream id)
        state.merged[stream] = max(at, state.merged.get(stream, 0))
    for ns, name, value in f["bindings"]:
        state.namespaces.setdefault(ns, {})[name] = value
    for ns, name in f["removed"]:
        state.namespaces.get(ns, {}).pop(name, None)
    for atom_id, value in f["atoms"]:
        state.atoms[int(atom_id)] = value
    for fact in f["facts_removed"]:
        state.facts.pop(fact_key(fact), None)
    for fact in f["facts_added"]:
        _put_fact(state, fact)
    for path, key in f["files"]:
        if key is None:
            state.files.pop(path, None)
        else:
            state.files[path] = key



# By stable type name, so the fast path needs no classes.  None: the event changes no state (an
# effect's request and answer included: only the form's later mutations do).
HANDLERS: Final[Mapping[str, Handler | None]] = {
    SessionStarted.type_name: None,
    FormSubmitted.type_name: None,
    FormEvaluated.type_name: None,
    OutputWritten.type_name: None,
    ContentStored.type_name: _content_stored,
    Defined.type_name: _defined,
    Assigned.type_name: _defined,
    NamespaceEntered.type_name: _namespace_entered,
    AtomCreated.type_name: _atom_set,
    AtomReset.type_name: _atom_set,
    FactAsserted.type_name: _fact_asserted,
    FactRetracted.type_name: _fact_retracted,
    FileWritten.type_name: _file_written,
    FileDeleted.type_name: _file_deleted,
    SessionForked.type_name: None,
    MergeApplied.type_name: _merge_applied,
    EffectRequested.type_name: None,
    EffectCompleted.type_name: None,
    FormSuspended.type_name: None,  # a suspended form changes no state until it ends
    AwaitAnswered.type_name: None,
    FileImported.type_name: _file_written,  # a host file brought into the world is written like any other
    SnapshotTaken.type_name: _snapshot_taken,
    StateRestored.type_name: _state_restored,
    ImageLoaded.type_name: _image_loaded,
    HistoryArchived.type_name: _image_loaded,  # (the state at the archive's end; its content follows it)
}


# Which events change bindings, as the handlers above do.  Whoever keeps track of the bindings that
# changed (the checkpoint writer, which then diffs only those) must take any event that is neither
# (a restore, a merge, an image) as changing any binding.
SETS_ONE_BINDING = frozenset((Defined.type_name, Assigned.type_name))  # the one its ``ns`` and ``name`` name
_LEAVE_BINDINGS = frozenset(t.type_name for t in (
    ContentStored, NamespaceEntered, AtomCreated, AtomReset, FactAsserted, FactRetracted, FileWritten, FileDeleted,
    SnapshotTaken))


def leaves_bindings(type_name: str) -> bool:
    """Whether folding an event of this kind leaves every binding as it was: it has no handler, or
    one of those that change other parts of the state."""
    return HANDLERS.get(type_name) is None or type_name in _LEAVE_BINDINGS


# what a handler raises on fields of the wrong shape (a record that decodes but was not written by tapevm)
_MALFORMED = (ValueError, KeyError, TypeError, IndexError, AttributeError)


def unfoldable(seq: int, type_name: str, error: Exception) -> CorruptRecord:
    """The one-line error for an event whose fields the fold cannot apply."""
    detail = " ".join(str(error).split())  # (a pydantic error spans lines)
    return CorruptRecord(f"event {seq} ({type_name}) does not fold: {type(error).__name__}: {detail[:300]}; "
                         "check the log with 'tape verify'")


def fold_event(state: State, recorded: RecordedEvent) -> State:
    """Fold one recorded event into ``state`` (in place) and return it.

    Events that do not change the state (inputs, outcomes, output) only move
    ``seq``: the state at any event number is defined, not just at form ends.
    """
    event = recorded.event
    handler = HANDLERS.get(event.type_name)
    if handler is not None:
        try:
            handler(state, event.__dict__)
        except _MALFORMED as e:
            raise unfoldable(recorded.seq, event.type_name, e) from None
    state.seq = recorded.seq
    return state


def fold(events: Iterable[RecordedEvent], state: State | None = None) -> State:
    """Fold recorded events (in log order) onto ``state`` (or an empty state)."""
    return fold_fields(((r.seq, r.event.type_name, r.event.__dict__) for r in events), state)


def fold_fields(records: Iterable[tuple[int, str, Fields]], state: State | None = None) -> State:
    """Fold ``(seq, type name, fields)`` records: the fast path of rebuilding state.

    The cyclic GC is paused meanwhile (``records`` is usually a reader decoding the log as the
    fold goes): decoding builds many acyclic containers, and the collections they trigger walk
    every live object again and again.  Opening a session loaded from an image of 100,000
    bindings spent two thirds of its 0.2 s in them.
    """
    if state is None:
        state = State()
    get = HANDLERS.get
    seq, type_name = state.seq, ""
    collecting = gc.isenabled()  # (paused_gc inlined: a rebuild calls this once per event)
    gc.disable()
    try:
        for seq, type_name, fields in records:
            handler = get(type_name)
            if handler is not None:
                handler(state, fields)
    except _MALFORMED as e:
        raise unfoldable(seq, type_name, e) from None
    finally:
        if collecting:
            gc.enable()
    state.seq = seq
    return state


def fold_drafts(first: int, drafts: Sequence[Draft], state: State) -> State:
    """Fold ``drafts`` numbered from ``first`` into ``state``: what a session just committed.

    The same handlers as :func:`fold_fields` on the same field dicts the record
    was encoded from, so the folded state is the one a reader of the log gets.
    """
    get = HANDLERS.get
    for type_name, _, fields in drafts:
        handler = get(type_name)
        if handler is not None:
            handler(state, fields)
    if drafts:
        state.seq = first + len(drafts) - 1
    return state


def apply(state: State, recorded: RecordedEvent) -> State:
    """The pure fold: a new state, ``state`` untouched."""
    return fold_event(state.copy(), recorded)
