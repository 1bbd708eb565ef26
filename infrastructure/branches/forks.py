"""Forks and clones: a new session that starts from another's state at event N.

A fork copies no event: its stream holds one record, ``SessionForked(source,
at)`` at event ``at + 1``, and the lineage reader (``lineage.py``) reads
events 1..at from the source.  So a fork costs O(1) time and storage whatever
the source's length, and forks of forks work the same way.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from tapevm.domain.addresses import SessionAddress, parse_address, validate_session_id
from tapevm.domain.errors import BadAddress, SessionExists, SessionNotFound
from tapevm.domain.events import RecordedEvent, SessionForked
from tapevm.domain.form_points import refuse_mid_form
from tapevm.domain.ports import EventStore
from tapevm.infrastructure.logs import get_logger
from tapevm.infrastructure.stores.registry import SessionRegistry

log = get_logger("tapevm.branching")


@dataclass(frozen=True)
class ForkResult:
    session: str        # the new session's name
    stream: str         # its stream
    source: str         # the source's name
    source_stream: str
    at: int             # the fork point: the new session's events 1..at are the source's


def resolve_address(store: EventStore, address: SessionAddress | str) -> tuple[str, int]:
    """(stream, event number) an address names; SessionNotFound / BadAddress when it names nothing."""
    addr = parse_address(address) if isinstance(address, str) else address
    registry = SessionRegistry(store)
    stream = registry.stream_of(addr.session)
    head = store.last_seq(stream)
    if head == 0:
        raise SessionNotFound(f"no session {addr.session!r} in {store.url_for_display} (run 'tape sessions')")
    at = head if addr.at is None else addr.at
    if not 1 <= at <= head:
        raise BadAddress(f"bad address {addr}: session {addr.session!r} has events 1..{head}")
    return stream, at


def fork(store: EventStore, source: SessionAddress | str, new: str) -> ForkResult:
    """Create session ``new`` from ``source`` (``ID`` or ``ID@N``) without copying events.

    A point inside a form is refused (BadAddress naming the form's boundaries): see ``domain/form_points.py``.
    """
    addr = parse_address(source) if isinstance(source, str) else source
    validate_session_id(new)
    source_stream, at = resolve_address(store, addr)
    refuse_mid_form(store, source_stream, at, f"{addr.session}@{{n}}")
    registry = SessionRegistry(store)
    if registry.exists(new):
        raise SessionExists(f"session {new!r} already exists; pick another name or run 'tape sessions'")
    stream = registry.new_stream_for(new)
    event = SessionForked(source=source_stream, source_name=addr.session, at=at)
    store.append([RecordedEvent(stream, at + 1, at + 1, time.time(), event)], fork_start=True)
    if stream != new:
        registry.record_fork(new, stream, source_stream, at)
    log.info("forked", source=source_stream, at=at, new=new, stream=stream)
    return ForkResult(new, stream, addr.session, source_stream, at)


def clone(store: EventStore, source: str, new: str) -> ForkResult:
    """A fork at the source's head, or at event N of ``ID@N`` (an event past the head is a BadAddress)."""
    return fork(store, parse_address(source), new)
