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
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from tapevm.domain.content import ContentTable, canonical_bytes
from tapevm.domain.events import (
    AtomCreated,
    AtomReset,
    Assigned,
    ContentStored,
    Defined,
    Event,
    FactAsserted,
    FactRetracted,
    FileDeleted,
    FileWritten,
    NamespaceEntered,
    RecordedEvent,
    SessionStarted,
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
    blobs: ContentTable = field(default_factory=ContentTable)

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


def _content_stored(state: State, event: ContentStored) -> None:
    nodes = state.nodes
    for key, node in event.nodes:
        nodes.add(key, canonical_bytes(node))
    blobs = state.blobs
    for key, encoding, data in event.blobs:
        blobs.add(key, decode_blob(encoding, data))


def _defined(state: State, event: Defined) -> None:
    table = state.namespaces.get(event.ns)
    if table is None:
        table = state.namespaces[event.ns] = {}
    table[event.name] = event.value


def _namespace_entered(state: State, event: NamespaceEntered) -> None:
    state.namespaces.setdefault(event.ns, {})
    state.current_ns = event.ns


def _atom_set(state: State, event: AtomCreated | AtomReset) -> None:
    state.atoms[event.atom] = event.value


def _fact_asserted(state: State, event: FactAsserted) -> None:
    state.facts[fact_key(event.fact)] = event.fact


def _fact_retracted(state: State, event: FactRetracted) -> None:
    state.facts.pop(fact_key(event.fact), None)


def _file_written(state: State, event: FileWritten) -> None:
    state.files[event.path] = event.content


def _file_deleted(state: State, event: FileDeleted) -> None:
    state.files.pop(event.path, None)


def _session_started(state: State, event: SessionStarted) -> None:
    return None


_HANDLERS: dict[type[Event], Any] = {
    ContentStored: _content_stored,
    Defined: _defined,
    Assigned: _defined,
    NamespaceEntered: _namespace_entered,
    AtomCreated: _atom_set,
    AtomReset: _atom_set,
    FactAsserted: _fact_asserted,
    FactRetracted: _fact_retracted,
    FileWritten: _file_written,
    FileDeleted: _file_deleted,
    SessionStarted: _session_started,
}


def register_fold(event_type: type[Event], handler: Any) -> None:
    """Let a later feature teach the fold a new event type (one handler per type)."""
    _HANDLERS[event_type] = handler


def fold_event(state: State, recorded: RecordedEvent) -> State:
    """Fold one recorded event into ``state`` (in place) and return it.

    Events that do not change the state (inputs, outcomes, output) only move
    ``seq``: the state at any event number is defined, not just at form ends.
    """
    handler = _HANDLERS.get(type(recorded.event))
    if handler is not None:
        handler(state, recorded.event)
    state.seq = recorded.seq
    return state


def fold(events: Iterable[RecordedEvent], state: State | None = None) -> State:
    """Fold ``events`` (in log order) onto ``state`` (or an empty state)."""
    if state is None:
        state = State()
    handlers = _HANDLERS
    last = None
    for recorded in events:
        handler = handlers.get(type(recorded.event))
        if handler is not None:
            handler(state, recorded.event)
        last = recorded
    if last is not None:
        state.seq = last.seq
        if not state.session:
            state.session = last.session
    return state


def apply(state: State, recorded: RecordedEvent) -> State:
    """The pure fold: a new state, ``state`` untouched."""
    return fold_event(state.copy(), recorded)
