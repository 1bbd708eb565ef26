"""Provenance: which event and which input form produced a binding, a fact or a file, and its history.

Every event's ``cause`` is the FormSubmitted (or session action) that
produced it, so blame is one pass over the log up to ``at``: keep the events
that touched the target and the forms they point to, nothing else.  The pass
reads decoded fields (``read_decoded``: no event models), so it runs at fold
speed and in memory proportional to the target's history, not to the log.

A target is touched by the events of forms (``define``, ``set!``, ``assert!``,
``write-file!``...) and by the session actions that change state wholesale:
a merge or take (``MergeApplied``), a restore (``StateRestored``, whose delta
says what it changed) and an image load (``ImageLoaded``, which sets what the
image holds and, loaded by ``(load-image ...)`` into a session, removes what it lacks).

The store is read by session name: the caller hands it already seen through
names (``infrastructure.stores.named_sessions``), so a renamed session or a
fork reads its whole lineage.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tapevm.domain.content import TEXT_NODE_MIN, TEXT_NODE_MIN_V1, ContentTable
from tapevm.domain.delta import Delta
from tapevm.domain.errors import CorruptRecord, UsageError
from tapevm.domain.events import (
    Assigned,
    Defined,
    FactAsserted,
    FactRetracted,
    FileDeleted,
    FileImported,
    FileWritten,
    FormSubmitted,
    ImageLoaded,
    MergeApplied,
    StateRestored,
)
from tapevm.domain.ports import EventStore
from tapevm.domain.state import fact_entry, fact_key
from tapevm.vm.reader import read_one
from tapevm.vm.value_codec import ValueEncoder


@dataclass
class BlameEntry:
    seq: int
    op: str                  # define | set! | assert! | retract! | write | delete | import | merge | take |
                             # restore | image
    value: Any               # encoded value, fact, or blob key (files); None when removed and not known
    cause: int
    form_file: str = ""
    form_line: int = 0
    form_source: str = ""
    size: int | None = None  # of a file version, when the event says
    removed: bool = False    # the event removed the target (retract!, delete, or a merge/restore that did)
    detail: str = ""         # what a session action was: "b@12", "snapshot s1", "image w.img"


@dataclass
class Blame:
    target: str              # "user/x", "fact (task ...)", "file notes.txt"
    at: int                  # the event number looked at
    history: list[BlameEntry] = field(default_factory=list)
    kind: str = "binding"    # binding | fact | file: what ``value`` holds

    @property
    def current(self) -> BlameEntry | None:
        """The entry that produced the current value (None when it was removed or never existed)."""
        if not self.history or self.history[-1].removed:
            return None
        return self.history[-1]


@dataclass(frozen=True)
class _Change:
    """One change an event made to the target: under ``key`` (a binding's namespace; "" otherwise)."""

    key: str
    op: str
    value: Any
    removed: bool = False
    size: int | None = None
    detail: str = ""


Changes = Callable[[str, dict[str, Any]], list[_Change]]
# What reading a malformed record's fields can raise (pydantic's ValidationError is a ValueError):
# ``_scan`` turns each into a CorruptRecord naming the event.
MALFORMED = (KeyError, TypeError, ValueError, AttributeError, IndexError)


@dataclass(frozen=True)
class _Hit:
    seq: int
    cause: int
    change: _Change


def _scan(store: EventStore, session_name: str, at: int | None,
          changes: Changes) -> tuple[list[_Hit], dict[int, dict[str, Any]], int]:
    """The changes to the target up to ``at`` (``changes(type, fields)`` of each event), the fields
    of the forms that caused them, and the last event number read.

    A form's events follow its FormSubmitted, so the latest one seen is usually the cause; any
    other cause is read afterwards, by its event number.
    """
    hits: list[_Hit] = []
    forms: dict[int, dict[str, Any]] = {}
    latest: tuple[int, dict[str, Any]] = (0, {})
    last = 0
    for seq, type_name, fields, cause, _ in store.read_decoded(session_name, 1, at):
        last = seq
        if type_name == FormSubmitted.type_name:
            latest = (seq, fields)
            continue
        try:
            found = changes(type_name, fields)
        except MALFORMED as e:
            raise CorruptRecord(f"session {session_name!r} event {seq} ({type_name}): malformed fields "
                                f"({type(e).__name__}: {e})") from None
        for change in found:
            hits.append(_Hit(seq, cause, change))
            if cause == latest[0]:
                forms[cause] = latest[1]
    for cause in sorted({h.cause for h in hits} - forms.keys()):
        for _, type_name, fields in store.read_fields(session_name, cause, cause):
            if type_name == FormSubmitted.type_name:
                forms[cause] = fields
    return hits, forms, last


def _history(hits: list[_Hit], forms: dict[int, dict[str, Any]]) -> list[BlameEntry]:
    """The entries of ``hits``, less a merge's or restore's removal of what was not there (before
    the target's first value, or after a removal): it says nothing about where a value came from."""
    history: list[BlameEntry] = []
    for h in hits:
        c = h.change
        if c.removed and (not history or history[-1].removed) and c.op not in ("retract!", "delete"):
            continue
        f = forms.get(h.cause)
        f = f if isinstance(f, dict) else {}
        line = f.get("line", 0)
        size = c.size if isinstance(c.size, int) else None
        history.append(BlameEntry(h.seq, c.op, c.value, h.cause, str(f.get("file", "")),
                                  line if isinstance(line, int) else 0, str(f.get("source", "")), size,
                                  c.removed, c.detail))
    return history


def _restored(fields: dict[str, Any]) -> Delta:
    return Delta.model_validate(fields["delta"])


def _merged(f: dict[str, Any]) -> str:
    return f"{f['source_name'] or f['source']}@{f['source_seq']}"


def _snapshot(f: dict[str, Any]) -> str:
    return f"snapshot {f['snapshot']} (event {f['target']})"


def _image(f: dict[str, Any]) -> str:
    return f"image {f['image']}"


def _binding_changes(name: str) -> Changes:
    seen: set[str] = set()  # the namespaces where ``name`` was set so far: an image loaded later removes it there

    def changes(t: str, f: dict[str, Any]) -> list[_Change]:
        found = _binding_change(t, f)
        if t == ImageLoaded.type_name and f["state"] is not None:
            tables = f["state"]["namespaces"]
            found += [_Change(ns, "image", None, True, detail=_image(f)) for ns in sorted(seen)
                      if name not in tables.get(ns, ())]
        for c in found:
            (seen.discard if c.removed else seen.add)(c.key)
        return found

    def _binding_change(t: str, f: dict[str, Any]) -> list[_Change]:
        if t == Defined.type_name or t == Assigned.type_name:
            op = "define" if t == Defined.type_name else "set!"
            return [_Change(f["ns"], op, f["value"])] if f["name"] == name else []
        if t == MergeApplied.type_name:
            return ([_Change(ns, f["kind"], v, detail=_merged(f)) for ns, n, v in f["bindings"] if n == name]
                    + [_Change(ns, f["kind"], None, True, detail=_merged(f)) for ns, n in f["removed"] if n == name])
        if t == StateRestored.type_name:
            out = []
            for ns, table in _restored(f).bindings.items():
                if name in table.added:
                    out.append(_Change(ns, "restore", table.added[name], detail=_snapshot(f)))
                elif name in table.changed:
                    out.append(_Change(ns, "restore", table.changed[name][1], detail=_snapshot(f)))
                elif name in table.removed:
                    out.append(_Change(ns, "restore", None, True, detail=_snapshot(f)))
            return out
        if t == ImageLoaded.type_name and f["state"] is not None:
            return [_Change(ns, "image", b[name], detail=_image(f)) for ns, b in f["state"]["namespaces"].items()
                    if name in b]
        return []

    return changes


def _fact_changes(keys: frozenset[bytes]) -> Changes:
    held: dict[bytes, Any] = {}  # the target facts held so far: an image loaded later that lacks one retracts it

    def changes(t: str, f: dict[str, Any]) -> list[_Change]:
        found = _fact_change(t, f)
        if t == ImageLoaded.type_name and f["state"] is not None:
            kept = {fact_key(x) for x in f["state"]["facts"]}
            found = [_Change("", "image", x, True, detail=_image(f)) for k, x in held.items() if k not in kept] + found
        for c in found:
            if c.removed:
                held.pop(fact_key(c.value), None)
            else:
                held[fact_key(c.value)] = c.value
        return found

    def _fact_change(t: str, f: dict[str, Any]) -> list[_Change]:
        if t == FactAsserted.type_name or t == FactRetracted.type_name:
            retract = t == FactRetracted.type_name
            return [_Change("", "retract!" if retract else "assert!", fact_entry(f["fact"], f.get("evidence")), retract)] \
                if fact_key(f["fact"]) in keys else []
        if t == MergeApplied.type_name:
            return ([_Change("", f["kind"], x, detail=_merged(f)) for x in f["facts_added"] if fact_key(x) in keys]
                    + [_Change("", f["kind"], x, True, detail=_merged(f)) for x in f["facts_removed"]
                       if fact_key(x) in keys])
        if t == StateRestored.type_name:
            facts = _restored(f).facts
            return ([_Change("", "restore", x, True, detail=_snapshot(f)) for x in facts.retracted.values()
                     if fact_key(x) in keys]
                    + [_Change("", "restore", x, detail=_snapshot(f)) for x in facts.asserted if fact_key(x) in keys])
        if t == ImageLoaded.type_name and f["state"] is not None:
            return [_Change("", "image", x, detail=_image(f)) for x in f["state"]["facts"] if fact_key(x) in keys]
        return []

    return changes


_FILE_OPS = {FileImported.type_name: "import", FileWritten.type_name: "write", FileDeleted.type_name: "delete"}


def _file_changes(path: str) -> Changes:
    exists = False  # whether the file exists so far: an image loaded later without it deletes it

    def changes(t: str, f: dict[str, Any]) -> list[_Change]:
        nonlocal exists
        found = _file_change(t, f)
        if t == ImageLoaded.type_name and f["state"] is not None and exists and path not in f["state"]["files"]:
            found.append(_Change("", "image", None, True, detail=_image(f)))
        if found:
            exists = not found[-1].removed
        return found

    def _file_change(t: str, f: dict[str, Any]) -> list[_Change]:
        op = _FILE_OPS.get(t)
        if op is not None:
            return [_Change("", op, f.get("content"), op == "delete", f.get("size"))] if f["path"] == path else []
        if t == MergeApplied.type_name:
            return [_Change("", f["kind"], k, k is None, detail=_merged(f)) for p, k in f["files"] if p == path]
        if t == StateRestored.type_name:
            files = _restored(f).files
            if path in files.removed:
                return [_Change("", "restore", None, True, detail=_snapshot(f))]
            new = files.added.get(path) or (files.changed[path][1] if path in files.changed else None)
            return [_Change("", "restore", new, detail=_snapshot(f))] if new is not None else []
        if t == ImageLoaded.type_name and f["state"] is not None and path in f["state"]["files"]:
            return [_Change("", "image", f["state"]["files"][path], detail=_image(f))]
        return []

    return changes


def blame_binding(store: EventStore, session_name: str, name: str, at: int | None = None,
                  current_ns: str = "user") -> Blame:
    """History of a global: ``ns/name``, or ``name`` in the current namespace (else where it was defined)."""
    ns, sep, short = name.rpartition("/")
    if not sep or not ns or not short:
        ns, short = "", name
    hits, forms, last = _scan(store, session_name, at, _binding_changes(short))
    if not ns:
        spaces = [h.change.key for h in hits]
        ns = current_ns if current_ns in spaces else (spaces[0] if spaces else current_ns)
    return Blame(f"{ns}/{short}", at or last, _history([h for h in hits if h.change.key == ns], forms))


def blame_fact(store: EventStore, session_name: str, fact_source: str, at: int | None = None) -> Blame:
    """History of a fact written as Lisp data (``(task "write" done)``)."""
    try:
        fact = read_one(fact_source)
    except Exception as e:  # noqa: BLE001 - any syntax problem is the user's
        raise UsageError(f"cannot read the fact {fact_source!r}: {e}") from None
    # its key as a session of either VM version encoded it (they differ in which strings are TEXT nodes)
    keys = frozenset(fact_key(ValueEncoder(ContentTable(), text_min=text_min).encode(fact))
                     for text_min in (TEXT_NODE_MIN, TEXT_NODE_MIN_V1))
    hits, forms, last = _scan(store, session_name, at, _fact_changes(keys))
    return Blame(f"fact {fact_source}", at or last, _history(hits, forms), "fact")


def blame_file(store: EventStore, session_name: str, path: str, at: int | None = None) -> Blame:
    """History of a world file: writes, imports, deletes, and merges, restores and images that set it."""
    hits, forms, last = _scan(store, session_name, at, _file_changes(path))
    return Blame(f"file {path}", at or last, _history(hits, forms), "file")
