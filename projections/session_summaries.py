"""Summaries of sessions for ``tape sessions`` and ``tape info``.

Sessions are listed by *name* (see the session registry: a stream renamed by
``-f`` shows under its new name), with their parent for forks and the live
writer holding their lease.  The registry's names and the lease holders are
given to these functions (``infrastructure.session_summaries`` reads them), so
here is only what the log says.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tapevm.domain import lineage
from tapevm.domain.errors import HistoryIsArchived
from tapevm.domain.ports import EventStore
from tapevm.domain.state import State


@dataclass(frozen=True)
class SessionRow:
    session: str
    events: int
    stored_bytes: int
    last_activity: float
    parent: str | None = None      # "name@N" for a fork
    writer: str | None = None      # the live lease holder, described

    def as_json(self) -> dict[str, Any]:
        return {"id": self.session, "events": self.events, "stored_bytes": self.stored_bytes,
                "last_activity": self.last_activity, "parent": self.parent, "writer": self.writer}


def _event_time(store: EventStore, stream: str, seq: int) -> float:
    """When event ``seq`` was recorded (0.0: not in the log; an archived one: its archive marker's time)."""
    try:
        for r in lineage.read(store, stream, seq, seq):
            return float(r.recorded_at)
    except HistoryIsArchived:  # (the marker: the first event the log still holds)
        first = store.first_event(stream)
        for r in lineage.read(store, stream, first[0], first[0]) if first else ():
            return float(r.recorded_at)
    return 0.0


def session_rows(store: EventStore, names: Mapping[str, str],
                 writer_of: Callable[[str], str | None]) -> list[SessionRow]:
    """Every session of ``store``, by name: ``names`` maps each stream to its name (the registry's),
    ``writer_of(stream)`` describes the live writer holding its lease (None: no live writer)."""
    rows = []
    for h in store.sessions():
        origin = lineage.fork_origin(store, h.session)
        parent = f"{names.get(origin[0], origin[0])}@{origin[1]}" if origin else None
        rows.append(SessionRow(names[h.session], h.last_seq, h.stored_bytes,
                               _event_time(store, h.session, h.last_seq), parent, writer_of(h.session)))
    return sorted(rows, key=lambda r: r.session)


def session_summary(store: EventStore, state: State, *, name: str, stream: str, checkpoints: int,
                    names_of: Callable[[], Mapping[str, str]], writer: str | None,
                    content: tuple[int, int] | None = None) -> dict[str, Any]:
    """One session's summary (``tape info``): ``state`` its state at the head, ``checkpoints`` how many
    it has, ``names_of()`` the registry's names by stream (read only for a fork, to name its
    parent), ``writer`` the live writer holding its lease, described; ``content``: the value nodes and
    blobs its log stores (None: those ``state`` holds, which is all of them without a content index)."""
    nodes, blobs = content if content is not None else (len(state.nodes), len(state.blobs))
    heads = store.sessions()  # one scan of the store serves both the byte count and the forks
    head = next((h for h in heads if h.session == stream), None)
    forks = sum(1 for h in heads if (lineage.fork_origin(store, h.session) or ("",))[0] == stream)
    origin = lineage.fork_origin(store, stream)
    names = names_of() if origin else {}
    return {
        "session": name,
        "stream": stream,
        "store": store.url_for_display,
        "events": state.seq,
        "stored_bytes": head.stored_bytes if head else 0,
        "namespaces": len([ns for ns, b in state.namespaces.items() if b]),
        "bindings": sum(len(b) for b in state.namespaces.values()),
        "atoms": len(state.atoms),
        "facts": len(state.facts),
        "files": len(state.files),
        "value_nodes": nodes,
        "blobs": blobs,
        "snapshots": len(state.snapshots),  # (names are never reused, and kept by restores)
        "forks": forks,
        "parent": f"{names.get(origin[0], origin[0])}@{origin[1]}" if origin else None,
        "checkpoints": checkpoints,
        "first_event_time": _event_time(store, stream, 1),
        "last_event_time": _event_time(store, stream, state.seq),
        "writer": writer,
    }
