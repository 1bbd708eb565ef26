"""The state a session's events fold into, and the fold itself.

The state is plain data: encoded values (see :mod:`tapevm.domain.content`),
never live VM objects, so it can be built, compared, checkpointed and shipped
without a VM.  ``fold_event`` is the only place that knows how each event
changes it; it does no I/O.

For speed the fold updates the state it is given (the hot loop of rebuilding
a million events cannot afford a copy per event); :func:`apply` is the pure
form that leaves its input alone.
"""

from __future__ import annotations

import base64
import gc
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from tapevm.domain.content import (
    BlobTable,
    ContentTable,
    Edit,
    Piece,
    ZstdPatch,
    canonical_bytes,
    canonical_bytes_of_all,
)
from tapevm.domain.errors import CorruptRecord
from tapevm.domain.events import (
    Assigned,
    AtomCreated,
    AtomReset,
    ContentStored,
    Defined,
    Draft,
    Event,
    FactAsserted,
    FactRetracted,
    FileDeleted,
    FileWritten,
    ImageLoaded,
    NamespaceEntered,
    RecordedEvent,
    SnapshotTaken,
)

DEFAULT_NAMESPACE = "user"


@dataclass
class State:
    """Everything a session's log says about its VM at one event number.

    ``namespaces`` maps namespace -> name -> encoded value, ``atoms`` atom id ->
    encoded value, ``facts`` canonical key -> encoded fact (assertion order),
    ``files`` world path -> blob key.  ``nodes`` and ``blobs`` are the content
    the encoded values and files refer to.  ``seq`` is the last event folded.
    """

    session: str = ""
    seq: int = 0
    current_ns: str = DEFAULT_NAMESPACE
    namespaces: dict[str, dict[str, Any]] = field(default_factory=lambda: {DEFAULT_NAMESPACE: {}})
    atoms: dict[int, Any] = field(default_factory=dict)
    facts: dict[bytes, Any] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    nodes: ContentTable = field(default_factory=ContentTable)
    blobs: BlobTable = field(default_factory=BlobTable)
    # Named snapshots of this session: name -> (event number, description).  Not part of
    # ``semantic()``: a restore changes what the VM sees, never the names taken so far.
    snapshots: dict[str, tuple[int, str]] = field(default_factory=dict)
    # Source stream -> the last of its events ``tape merge`` brought in (its next merge's base).
    # Not part of ``semantic()`` either: bookkeeping of the log, which a restore leaves alone.
    merged: dict[str, int] = field(default_factory=dict)

    @property
    def next_atom_id(self) -> int:
        return max(self.atoms, default=0) + 1

    def copy(self) -> State:
        """A deep-enough copy: the containers are new, encoded values are shared (immutable)."""
        return State(
            session=self.session,
            seq=self.seq,
            current_ns=self.current_ns,
            namespaces={ns: dict(b) for ns, b in self.namespaces.items()},
            atoms=dict(self.atoms),
            facts=dict(self.facts),
            files=dict(self.files),
            nodes=self.nodes.copy(),
            blobs=self.blobs.copy(),
            snapshots=dict(self.snapshots),
            merged=dict(self.merged),
        )

    def semantic(self) -> dict[str, Any]:
        """What the VM can observe, as plain data: what state equality compares.

        The content tables are left out (they only grow and may hold nodes no
        binding uses any more); ``seq`` is left out so states reached by
        different paths compare equal.
        """
        return {
            "current_ns": self.current_ns,
            "namespaces": {ns: b for ns, b in sorted(self.namespaces.items()) if b or ns == self.current_ns},
            "atoms": dict(sorted(self.atoms.items())),
            "facts": list(self.facts.values()),
            "files": dict(sorted(self.files.items())),
        }

    def same_as(self, other: State) -> bool:
        return self.semantic() == other.semantic()

    def binding(self, ns: str, name: str) -> Any:
        return self.namespaces[ns][name]

    def blob(self, key: str) -> bytes:
        return self.blobs.get(key)

    def file_bytes(self, path: str) -> bytes:
        return self.blobs.get(self.files[path])


def fact_key(fact: Any) -> bytes:
    """Identity of a fact: the canonical bytes of its encoding."""
    return canonical_bytes(fact)


ZSTD_PATCH_ENCODING = "zstd"  # the encoding field of a zstd patch entry (its data is base64)


def decode_blob(encoding: str, data: str) -> bytes:
    if encoding == "utf8":
        return data.encode("utf-8")
    return base64.b64decode(data)


def encode_blob(data: bytes) -> tuple[str, str]:
    """Blobs that are text stay readable in the log; others are base64."""
    try:
        return "utf8", data.decode("utf-8")
    except UnicodeDecodeError:
        return "base64", base64.b64encode(data).decode("ascii")


def blob_entry(key: str, stored: bytes | Edit) -> list[Any]:
    """A blob table entry as ContentStored, checkpoints and state payloads carry it:
    ``[key, encoding, data]``; for an :data:`~tapevm.domain.content.Edit`,
    ``[key, encoding, appended data, prefix key]`` (an append),
    ``[key, encoding, middle, prefix key, head, tail]`` (a splice) or
    ``[key, "zstd", base64 patch, prefix key]`` (a zstd patch)."""
    if isinstance(stored, bytes):
        return [key, *encode_blob(stored)]
    if isinstance(stored, ZstdPatch):
        return [key, ZSTD_PATCH_ENCODING, base64.b64encode(stored.data).decode("ascii"), stored.prefix]
    if stored.head < 0:
        return [key, *encode_blob(stored.data), stored.prefix]
    return [key, *encode_blob(stored.data), stored.prefix, stored.head, stored.tail]


def add_blob_entries(table: BlobTable, entries: Iterable[Any]) -> None:
    """Inverse of :func:`blob_entry`, into ``table``; ValueError on an entry of another shape."""
    for entry in entries:
        n = len(entry) if type(entry) is list else 0
        if n not in (3, 4, 6):
            raise ValueError("a blob entry is not [key, encoding, data], [key, encoding, data, prefix] "
                             "or [key, encoding, data, prefix, head, tail]")
        if n == 3:
            key, encoding, data = entry
            table.add(key, decode_blob(encoding, data))
        elif n == 4:
            key, encoding, data, prefix = entry
            if encoding == ZSTD_PATCH_ENCODING:
                table.add(key, ZstdPatch(prefix, base64.b64decode(data)))
            else:
                table.add(key, Piece(prefix, decode_blob(encoding, data)))
        else:
            key, encoding, data, prefix, head, tail = entry
            if type(head) is not int or type(tail) is not int or head < 0 or tail < 0:
                raise ValueError(f"a spliced blob entry keeps {head!r} and {tail!r} bytes, not two counts")
            table.add(key, Piece(prefix, decode_blob(encoding, data), head, tail))


def file_blobs(state: State) -> list[tuple[str, bytes]]:
    """The whole content of every blob a world file refers to, by key (sorted; each key once).

    What an image keeps and what state equality compares: the versions a file
    had before are history, and the log keeps them.
    """
    blobs = state.blobs
    return [(key, blobs.get(key)) for key in sorted(set(state.files.values())) if key in blobs]


# Each handler takes the event's fields as a dict (a model's ``__dict__``), so
# the same code folds decoded models and the raw field dicts of the fast path
# (``fold_fields``), which skips building a million model objects.
Fields = dict[str, Any]


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
    state.facts[fact_key(f["fact"])] = f["fact"]


def _fact_retracted(state: State, f: Fields) -> None:
    state.facts.pop(fact_key(f["fact"]), None)


def _file_written(state: State, f: Fields) -> None:
    key = f["content"]
    if key not in state.blobs:  # (a log tapevm wrote always stores content before naming it)
        raise ValueError(f"file {f['path']!r} names content {key!r}, which no earlier event stored")
    state.files[f["path"]] = key


def _file_deleted(state: State, f: Fields) -> None:
    state.files.pop(f["path"], None)


# -- time travel (issue 3); StateRestored is taught by tapevm.projections.delta --------
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


Handler = Callable[[State, Fields], None]

# By stable type name, so the fast path needs no classes.
_HANDLERS: dict[str, Handler] = {
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
    SnapshotTaken.type_name: _snapshot_taken,
    ImageLoaded.type_name: _image_loaded,
}


def register_fold(event_type: type[Event], handler: Handler) -> None:
    """Let a later feature teach the fold a new event type (one handler per type)."""
    _HANDLERS[event_type.type_name] = handler


# Which events change bindings, as the handlers above do.  Whoever keeps track of the bindings that
# changed (the checkpoint writer, which then diffs only those) must take any event that is neither
# (a restore, a merge, an image: kinds registered later) as changing any binding.
SETS_ONE_BINDING = frozenset((Defined.type_name, Assigned.type_name))  # the one its ``ns`` and ``name`` name
_LEAVE_BINDINGS = frozenset(t.type_name for t in (
    ContentStored, NamespaceEntered, AtomCreated, AtomReset, FactAsserted, FactRetracted, FileWritten, FileDeleted,
    SnapshotTaken))


def leaves_bindings(type_name: str) -> bool:
    """Whether folding an event of this kind leaves every binding as it was: it has no handler, or
    one of those that change other parts of the state."""
    return type_name not in _HANDLERS or type_name in _LEAVE_BINDINGS


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
    handler = _HANDLERS.get(event.type_name)
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
    get = _HANDLERS.get
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
    get = _HANDLERS.get
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


# -- merges and takes (issue 4) ----------------------------------------------------------
def _merge_applied(state: State, f: Fields) -> None:
    if f["kind"] == "merge":
        source, at = f["source"], int(f["source_seq"])
        state.merged[source] = max(at, state.merged.get(source, 0))
    for ns, name, value in f["bindings"]:
        state.namespaces.setdefault(ns, {})[name] = value
    for ns, name in f["removed"]:
        state.namespaces.get(ns, {}).pop(name, None)
    for atom_id, value in f["atoms"]:
        state.atoms[int(atom_id)] = value
    for fact in f["facts_removed"]:
        state.facts.pop(fact_key(fact), None)
    for fact in f["facts_added"]:
        state.facts[fact_key(fact)] = fact
    for path, key in f["files"]:
        if key is None:
            state.files.pop(path, None)
        else:
            state.files[path] = key


_HANDLERS["MergeApplied"] = _merge_applied


# -- recorded effects and imports (issue 5) ------------------------------------------
# EffectRequested/EffectCompleted change no state (only the form's later
# mutations do); a FileImported writes a world file like FileWritten.
_HANDLERS["FileImported"] = _file_written


@contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic garbage collection inside; restored after.

    For building a large state or world in bulk (decoding a checkpoint or an image, binding a
    session's names at open): hundreds of thousands of new acyclic containers, for which every
    generation-2 pass the collector would trigger walks every live object of the process.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
