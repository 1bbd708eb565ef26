"""Named snapshots, restores and deltas of a session: the session-side half of time travel.

A snapshot is a :class:`SnapshotTaken` event naming an event number; a restore
appends a :class:`StateRestored` event carrying the delta from the state
before it to the snapshot's state, so the fold needs nothing else and the
history before the restore stays addressable (``state_at(n)`` for any ``n``).

Requests made from inside the language (``snapshot!``, ``restore!``,
``save-image``) arrive as World journal entries; :func:`request_events` turns
them into events appended in the same transaction as the form, after its own
events, so a restore takes effect when the form commits.  The session itself
reloads its VM after a restore and hands ``save-image`` requests to the image
writer it was given (images live a floor above sessions).

The functions here see a session through :class:`SessionPoint`, the little of
it they read, so this module does not import the session service.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from tapevm.domain.delta import Delta, diff
from tapevm.domain.errors import ImageError, ReplayDivergence, UsageError
from tapevm.domain.events import (
    ContentStored,
    Event,
    ImageLoaded,
    RecordedEvent,
    SnapshotTaken,
    StateRestored,
)
from tapevm.domain.fold import fold_fields
from tapevm.domain.form_points import refuse_mid_form
from tapevm.domain.names import snapshot_name_problem
from tapevm.domain.ports import EventStore
from tapevm.domain.state import State
from tapevm.infrastructure.session.checkpoints import checkpoints_of
from tapevm.infrastructure.stores.factory import tape_home
from tapevm.vm import world as w
from tapevm.vm.world import Mutation


class SessionPoint(Protocol):
    """What time travel reads of a session: its name and stream, its store, its head, its past states."""

    @property
    def id(self) -> str: ...
    @property
    def stream(self) -> str: ...
    @property
    def store(self) -> EventStore: ...
    @property
    def head(self) -> int: ...
    @property
    def image_writer(self) -> Any: ...
    def state_at(self, n: int) -> State: ...


def images_dir() -> Path:
    """Where ``(save-image ...)`` writes, ``(list-images)`` and ``tape image list`` look: ``$TAPE_HOME/images``."""
    return tape_home() / "images"


def state_of(store: EventStore, stream: str, at: int, name: str = "") -> State:
    """The state of ``stream`` after event ``at`` (1 <= at <= its head; see branching.resolve_address)
    without opening a session: the nearest valid checkpoint at or before ``at`` plus the tail, as
    ``Session.state_at``, so diffs, merges and exports of a long session do not fold its whole log."""
    state = checkpoints_of(store, stream).state_at(at)
    state.session = name or stream
    return state


@dataclass(frozen=True)
class SnapshotInfo:
    name: str
    at: int
    description: str

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "at": self.at, "description": self.description}


def validate_snapshot_name(name: str) -> str:
    """Snapshot names follow session ids' rule for hidden characters: ``tape snapshots`` shows them as
    they are, and U+202E turned the rest of its row around."""
    problem = snapshot_name_problem(name)
    if problem is not None:
        raise UsageError(f"invalid snapshot name {name!r}: {problem}")
    return name


def list_snapshots(state: State) -> list[SnapshotInfo]:
    """Snapshots by event number (then name)."""
    rows = sorted(state.snapshots.items(), key=lambda item: (item[1][0], item[0]))
    return [SnapshotInfo(name, at, description) for name, (at, description) in rows]


def snapshot_event(session: SessionPoint, current: State, name: str, at: int | None,
                   description: str) -> SnapshotTaken:
    """The event that names ``at`` (default: the head) in a session whose state is ``current``;
    refuses duplicates, events beyond the head and points inside a form."""
    validate_snapshot_name(name)
    if name in current.snapshots:
        at_existing = current.snapshots[name][0]
        raise UsageError(f"session {session.id!r} already has a snapshot {name!r} (of event {at_existing}); "
                         "choose another name")
    head = session.head
    if at is None:
        at = head
    if at < 1 or at > head:
        raise UsageError(f"cannot snapshot event {at}: session {session.id!r} has events 1..{head}")
    refuse_mid_form(session.store, session.stream, at, "--at {n}")
    return SnapshotTaken(name=name, at=at, description=description)


def _owner_of(session: SessionPoint, name: str) -> str | None:
    """Another session of the store that has a snapshot ``name`` (only asked on the error path)."""
    for head in session.store.sessions():
        if head.session == session.stream:
            continue
        for _, type_name, fields in session.store.read_fields(head.session):
            if type_name == SnapshotTaken.type_name and fields["name"] == name:
                return head.session
    return None


def restore_event(session: SessionPoint, name: str, current: State) -> StateRestored:
    """The event that takes ``current`` (the session's state before it) back to snapshot ``name``."""
    found = current.snapshots.get(name)
    if found is None:
        owner = _owner_of(session, name)
        if owner is not None:
            raise UsageError(f"snapshot {name!r} belongs to session {owner!r}, not {session.id!r} "
                             f"(restore it with -i {owner}, or load an image of it)")
        known = ", ".join(sorted(current.snapshots)) or "none"
        raise UsageError(f"session {session.id!r} has no snapshot {name!r} (its snapshots: {known})")
    target = found[0]
    delta = diff(current, session.state_at(target))
    return StateRestored(snapshot=name, target=target, delta=delta.model_dump(mode="json"))


def request_events(session: SessionPoint, state: State, form_events: list[Event],
                   requests: list[Mutation]) -> list[Event]:
    """Events for a form's session requests, to append after its own ``form_events``; ``state`` is the
    session's state before the form (it is not changed).

    A snapshot names the state after the event before it; a restore's delta
    starts from the state the form (and any earlier request of it) leaves.
    ``save-image`` requests make no event: the session writes the image after
    the commit.  A ``load-image`` is the image's content and an ImageLoaded
    carrying its state, read through the session's image shelf.
    """
    events: list[Event] = []
    current: State | None = None
    seq = session.head + len(form_events)  # the event number of the last event so far
    for m in requests:
        if m.kind == w.SNAPSHOT:
            name, description = m.args
            event: Event = SnapshotTaken(name=name, at=seq, description=description)
        elif m.kind == w.LOAD_IMAGE:
            loaded = _image_events(session, m.args[0], seq + 1)
            events += loaded[:-1]
            seq += len(loaded) - 1
            if current is not None:
                fold_fields(((seq - len(loaded) + 2 + i, e.type_name, e.__dict__)
                             for i, e in enumerate(loaded[:-1])), current)
            event = loaded[-1]
        elif m.kind == w.RESTORE:
            if current is None:
                current = state.copy()
                first = session.head + 1
                fold_fields(((first + i, e.type_name, e.__dict__) for i, e in enumerate(form_events)), current)
                fold_fields(((seq - len(events) + 1 + i, e.type_name, e.__dict__)
                             for i, e in enumerate(events)), current)
            event = restore_event(session, m.args[0], current)
        else:
            continue
        events.append(event)
        seq += 1
        if current is not None:
            fold_fields([(seq, event.type_name, event.__dict__)], current)
    return events


class RecordedImages:
    """The image shelf of a replay: a ``(load-image ...)`` loads what the recorded run loaded (its events
    from ``first`` to the ImageLoaded, read from the record by ``get``), never the file as it is now;
    it writes and lists nothing (``(list-images)`` is answered from the log, as every effect)."""

    def __init__(self, get: Callable[[int], RecordedEvent | None]) -> None:
        self.get = get

    def __call__(self, session: Any, name: str, description: str, seq: int) -> None:
        return None

    def listing(self) -> list[dict[str, Any]]:
        return []

    def load_events(self, name: str, first: int) -> list[Event]:
        events: list[Event] = []
        while (r := self.get(first + len(events))) is not None:
            events.append(r.event)
            if type(r.event) is ImageLoaded:
                return events
            if type(r.event) is not ContentStored:
                break
        raise ReplayDivergence(f"event {first}: the record holds no image loaded there by (load-image {name!r})")


def _image_events(session: SessionPoint, name: str, first: int) -> list[Event]:
    """The events of ``(load-image "name")`` numbered from ``first``, from the session's image shelf."""
    writer = session.image_writer
    if not isinstance(writer, ImageShelf):
        raise ImageError(f"load-image {name!r}: this session cannot read images (open it with tapevm.open_session)")
    return writer.load_events(name, first)


def delta_between(session: SessionPoint, a: int, b: int) -> Delta:
    """``delta(session, a, b)``: what changed from the state after event ``a`` to that after ``b``."""
    return diff(session.state_at(a), session.state_at(b))


@runtime_checkable
class ImageShelf(Protocol):
    """An image writer (``Session.image_writer``) that also lists the directory it writes to, which is
    what ``(list-images)`` reads: the images room's writer is one."""

    def __call__(self, session: Any, name: str, description: str, seq: int) -> None: ...
    def listing(self) -> list[dict[str, Any]]: ...
    def load_events(self, name: str, first: int) -> list[Event]:
        """``(load-image "name")``'s events, to be numbered from ``first``: the image's content, then an
        ImageLoaded carrying its state (an ImageError if it cannot be read)."""
        ...


def image_lister_of(writer: object) -> Callable[[], list[dict[str, Any]]] | None:
    """What ``(list-images)`` calls in a session given ``writer`` (None: the session cannot list images)."""
    return writer.listing if isinstance(writer, ImageShelf) else None
