"""Summaries of sessions as users name them (``tape sessions``, ``tape info``, ``tapevm.list_sessions``...).

The summaries are a projection (``projections.session_summaries``) that reads
only through the store port; these entry points hand it what only the store's
infrastructure knows: the registry's names and the lease holders.
"""

from __future__ import annotations

from typing import Any

from tapevm.domain.ports import EventStore
from tapevm.infrastructure.session.service import Session
from tapevm.infrastructure.stores.leases import lease_holder
from tapevm.infrastructure.stores.registry import SessionRegistry
from tapevm.projections.model_usage import session_usage
from tapevm.projections.session_summaries import SessionRow, session_rows, session_summary
from tapevm.vm.state_printer import StatePrinter


def _writer(store: EventStore, stream: str) -> str | None:
    """The live writer holding the lease of ``stream``, described (None: none)."""
    holder = lease_holder(store, stream)
    return holder.describe() if holder else None


def list_sessions(store: EventStore) -> list[SessionRow]:
    """Every session of ``store`` by name, with its parent (forks) and live writer (``tape sessions``)."""
    return session_rows(store, SessionRegistry(store).names(), lambda stream: _writer(store, stream))


def session_info(session: Session) -> dict[str, Any]:
    """A summary of an open session (``tape info``): counts, bytes, times, parent, writer, and the tokens its
    ``chat`` calls spent (read from the recorded answers: the log is read once)."""
    store = session.store
    info = session_summary(store, session.state, name=session.id, stream=session.stream,
                           checkpoints=len(session.checkpoints.metas()),
                           names_of=lambda: SessionRegistry(store).names(),
                           writer=_writer(store, session.stream), content=session.checkpoints.content_counts(session.head))
    usage = session_usage(session.events(), StatePrinter(session.state).decoder.decode)
    info.update(input_tokens=usage.input_tokens, output_tokens=usage.output_tokens, model_calls=usage.calls)
    return info
