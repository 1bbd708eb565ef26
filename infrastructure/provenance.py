"""Provenance: which event and which input form produced a binding, a fact or a file, and its history.

Every event's ``cause`` is the FormSubmitted (or session action) that
produced it, so blame is one pass over the log up to ``at``: collect the
events that touched the target, and the forms they point to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tapevm.domain.content import ContentTable
from tapevm.domain.errors import UsageError
from tapevm.domain.events import (
    Assigned,
    Defined,
    FactAsserted,
    FactRetracted,
    FileDeleted,
    FileImported,
    FileWritten,
    FormSubmitted,
)
from tapevm.domain.state import fact_key
from tapevm.infrastructure.lineage import NamedSessions
from tapevm.infrastructure.ports import EventStore
from tapevm.vm.reader import read_one
from tapevm.vm.value_codec import ValueEncoder


@dataclass
class BlameEntry:
    seq: int
    op: str                  # define | set! | assert! | retract! | write | delete | import
    value: Any               # encoded value, fact, or blob key (files)
    cause: int
    form_file: str = ""
    form_line: int = 0
    form_source: str = ""
    size: int | None = None


@dataclass
class Blame:
    target: str              # "user/x", "fact (task ...)", "file notes.txt"
    at: int                  # the event number looked at
    history: list[BlameEntry] = field(default_factory=list)

    @property
    def current(self) -> BlameEntry | None:
        """The entry that produced the current value (None when it was removed or never existed)."""
        if not self.history or self.history[-1].op in ("retract!", "delete"):
            return None
        return self.history[-1]


def _forms(store: EventStore, session: str, at: int | None) -> tuple[dict[int, FormSubmitted], list[Any]]:
    store = NamedSessions.of(store)  # the session's name reads its whole lineage (renames, forks)
    forms: dict[int, FormSubmitted] = {}
    events = []
    for r in store.read(session, 1, at):
        if isinstance(r.event, FormSubmitted):
            forms[r.seq] = r.event
        events.append(r)
    return forms, events


def _entry(r: Any, op: str, value: Any, forms: dict[int, FormSubmitted], size: int | None = None) -> BlameEntry:
    f = forms.get(r.cause)
    return BlameEntry(r.seq, op, value, r.cause, f.file if f else "", f.line if f else 0, f.source if f else "", size)


def blame_binding(store: EventStore, session: str, name: str, at: int | None = None,
                  current_ns: str = "user") -> Blame:
    """History of a global: ``ns/name``, or ``name`` in the current namespace (else where it was defined)."""
    ns, sep, short = name.rpartition("/")
    if not sep or not ns or not short:
        ns, short = "", name
    forms, events = _forms(store, session, at)
    touched = [r for r in events if isinstance(r.event, (Defined, Assigned)) and r.event.name == short]
    if not ns:
        spaces = [r.event.ns for r in touched]
        ns = current_ns if current_ns in spaces else (spaces[0] if spaces else current_ns)
    history = [_entry(r, "define" if isinstance(r.event, Defined) else "set!", r.event.value, forms)
               for r in touched if r.event.ns == ns]
    return Blame(f"{ns}/{short}", at or (events[-1].seq if events else 0), history)


def blame_fact(store: EventStore, session: str, fact_source: str, at: int | None = None) -> Blame:
    """History of a fact written as Lisp data (``(task "write" done)``)."""
    try:
        fact = read_one(fact_source)
    except Exception as e:  # noqa: BLE001 - any syntax problem is the user's
        raise UsageError(f"cannot read the fact {fact_source!r}: {e}") from None
    key = fact_key(ValueEncoder(ContentTable()).encode(fact))
    forms, events = _forms(store, session, at)
    history = [_entry(r, "assert!" if isinstance(r.event, FactAsserted) else "retract!", r.event.fact, forms)
               for r in events if isinstance(r.event, (FactAsserted, FactRetracted)) and fact_key(r.event.fact) == key]
    return Blame(f"fact {fact_source}", at or (events[-1].seq if events else 0), history)


def blame_file(store: EventStore, session: str, path: str, at: int | None = None) -> Blame:
    """History of a world file: writes, imports and deletes."""
    forms, events = _forms(store, session, at)
    history: list[BlameEntry] = []
    for r in events:
        e = r.event
        if isinstance(e, FileImported) and e.path == path:
            history.append(_entry(r, "import", e.content, forms, e.size))
        elif isinstance(e, FileWritten) and e.path == path:
            history.append(_entry(r, "write", e.content, forms, e.size))
        elif isinstance(e, FileDeleted) and e.path == path:
            history.append(_entry(r, "delete", None, forms))
    return Blame(f"file {path}", at or (events[-1].seq if events else 0), history)
