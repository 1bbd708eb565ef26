"""Summaries of sessions for ``tape sessions`` and ``tape info``.

Sessions are listed by *name* (see session_registry: a stream renamed by
``-f`` shows under its new name), with their parent for forks and the live
writer holding their lease.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tapevm.domain import lineage
from tapevm.domain.ports import EventStore
from tapevm.infrastructure.stores.leases import lease_holder
from tapevm.infrastructure.stores.registry import SessionRegistry

if TYPE_CHECKING:
    from tapevm.infrastructure.session.service import Session

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


def _event_time(store: EventStore, session: str, seq: int) -> float:
    for r in lineage.read(store, session, seq, seq):
        return float(r.recorded_at)
    return 0.0


def list_sessions(store: EventStore) -> list[SessionRow]:
    names = SessionRegistry(store).names()
    rows = []
    for h in store.sessions():
        origin = lineage.fork_origin(store, h.session)
        parent = f"{names.get(origin[0], origin[0])}@{origin[1]}" if origin else None
        holder = lease_holder(store, h.session)
        rows.append(SessionRow(names[h.session], h.last_seq, h.stored_bytes,
                               _event_time(store, h.session, h.last_seq), parent,
                               holder.describe() if holder else None))
    return sorted(rows, key=lambda r: r.session)


def session_info(session: Session) -> dict[str, Any]:
    store = session.store
    state = session.state
    heads = store.sessions()  # one scan of the store serves both the byte count and the forks
    head = next((h for h in heads if h.session == session.stream), None)
    forks = sum(1 for h in heads if (lineage.fork_origin(store, h.session) or ("",))[0] == session.stream)
    origin = lineage.fork_origin(store, session.stream)
    names = SessionRegistry(store).names() if origin else {}
    holder = lease_holder(store, session.stream)
    return {
        "session": session.id,
        "stream": session.stream,
        "store": store.url_for_display,
        "events": state.seq,
        "stored_bytes": head.stored_bytes if head else 0,
        "namespaces": len([ns for ns, b in state.namespaces.items() if b]),
        "bindings": sum(len(b) for b in state.namespaces.values()),
        "atoms": len(state.atoms),
        "facts": len(state.facts),
        "files": len(state.files),
        "value_nodes": len(state.nodes),
        "blobs": len(state.blobs),
        "snapshots": len(state.snapshots),  # (names are never reused, and kept by restores)
        "forks": forks,
        "parent": f"{names.get(origin[0], origin[0])}@{origin[1]}" if origin else None,
        "checkpoints": len(session.checkpoints.metas()),
        "first_event_time": _event_time(store, session.stream, 1),
        "last_event_time": _event_time(store, session.stream, state.seq),
        "writer": holder.describe() if holder else None,
    }
