"""Summaries of sessions for ``tape sessions`` and ``tape info``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TYPE_CHECKING

from tapevm.infrastructure.ports import EventStore

if TYPE_CHECKING:
    from tapevm.infrastructure.session import Session


@dataclass(frozen=True)
class SessionRow:
    session: str
    events: int
    stored_bytes: int
    last_activity: float

    def as_json(self) -> dict[str, Any]:
        return {"id": self.session, "events": self.events, "stored_bytes": self.stored_bytes,
                "last_activity": self.last_activity}


def _event_time(store: EventStore, session: str, seq: int) -> float:
    for r in store.read(session, seq, seq):
        return r.recorded_at
    return 0.0


def list_sessions(store: EventStore) -> list[SessionRow]:
    return [
        SessionRow(h.session, h.last_seq, h.stored_bytes, _event_time(store, h.session, h.last_seq))
        for h in store.sessions()
    ]


def session_info(session: Session) -> dict[str, Any]:
    state = session.state
    head = next((h for h in session.store.sessions() if h.session == session.id), None)
    return {
        "session": session.id,
        "store": session.store.url_for_display,
        "events": state.seq,
        "stored_bytes": head.stored_bytes if head else 0,
        "namespaces": len([ns for ns, b in state.namespaces.items() if b]),
        "bindings": sum(len(b) for b in state.namespaces.values()),
        "atoms": len(state.atoms),
        "facts": len(state.facts),
        "files": len(state.files),
        "value_nodes": len(state.nodes),
        "blobs": len(state.blobs),
        "first_event_time": _event_time(session.store, session.id, 1),
        "last_event_time": _event_time(session.store, session.id, state.seq),
    }
