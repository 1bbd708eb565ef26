"""Event types: every change to a session is one of these, appended to its log.

Each event class is an immutable pydantic model with a stable ``type_name``
(what is stored, so classes can be renamed freely) and a ``version`` (bumped
when its fields change; older stored versions are upcast on read by the
functions registered in :mod:`tapevm.domain.upcasting`).

Values inside events use the *value encoding* of :mod:`tapevm.domain.content`:
small atoms inline, compound values as a reference to a content-addressed node
that a :class:`ContentStored` event earlier in the log (or in the same form)
carries.  Events therefore hold only JSON-native data, which keeps decoding
cheap and the log readable with any JSON tool.
"""

from __future__ import annotations

from typing import Any, ClassVar, NamedTuple

from pydantic import BaseModel, ConfigDict


class Event(BaseModel):
    """Base of all events; subclasses register themselves by ``type_name``."""

    # defer_build: a model's validator is built on its first use, not at import (~30 ms of every
    # ``tape`` command's start; the write path builds events without validation)
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    type_name: ClassVar[str] = ""
    version: ClassVar[int] = 1

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("type_name") or cls.__name__
        if name in EVENT_TYPES:
            raise TypeError(f"duplicate event type name {name!r}")
        cls.type_name = name
        EVENT_TYPES[name] = cls


EVENT_TYPES: dict[str, type[Event]] = {}


class RecordedEvent(NamedTuple):
    """An event as it sits in a session's log.

    ``seq`` is the 1-based, gapless event number users see.  ``cause`` is the
    event number of the input (the FormSubmitted, or the session action) that
    produced this event: the provenance every audit query follows.
    ``recorded_at`` is wall-clock seconds since the epoch, informational only:
    no logic may depend on it, because replays happen at other times.
    (A NamedTuple because a fold builds a million of them: it is the cheapest
    immutable record Python has.)
    """

    session: str
    seq: int
    cause: int
    recorded_at: float
    event: Event

    @property
    def type_name(self) -> str:
        return self.event.type_name


# -- session lifecycle ----------------------------------------------------------------
class SessionStarted(Event):
    """The first event of every session."""

    tapevm_version: str
    vm_version: int


# -- inputs ---------------------------------------------------------------------------
class FormSubmitted(Event):
    """A top-level form handed to the VM: the input every change it makes points to."""

    source: str
    file: str
    line: int
    column: int


class FormEvaluated(Event):
    """The outcome of a form: its result, or the error it raised.

    ``result`` is the encoded value (None on error); ``printed`` is the result
    as a person reads it.  An error form commits only FormSubmitted, its output
    and this event; none of its mutations.
    """

    ok: bool
    result: Any = None
    printed: str = ""
    error_kind: str | None = None
    error_message: str | None = None


class OutputWritten(Event):
    """Text the program printed."""

    text: str


# -- content ----------------------------------------------------------------------------
class ContentStored(Event):
    """Value nodes and file blobs first seen in this form, stored once by content hash.

    ``nodes`` is a list of ``[hash, node]``; ``blobs`` a list of
    ``[hash, encoding, data]`` with encoding ``"utf8"`` or ``"base64"``.  Later
    events refer to them by hash, so a value that shares most of its structure
    with values already stored adds only its new nodes.

    Version 2: a blob may be ``[hash, encoding, appended data, prefix hash]``,
    a file version stored as what it appends to an earlier one (see
    :class:`~tapevm.domain.content.Piece`); ``hash`` is still that of the whole
    content.  Version 1 events are version 2 events without such entries.

    Version 3: a blob may be ``[hash, encoding, middle, prefix hash, head, tail]``,
    a file version stored as the prefix version's first ``head`` and last
    ``tail`` bytes around a new middle (a rewrite that changed one region), or
    ``[hash, "zstd", base64 data, prefix hash]``, a zstd frame compressed with
    the prefix version as dictionary (a rewrite that changed several).
    Version 2 events are version 3 events without such entries.
    """

    version: ClassVar[int] = 3

    nodes: list[Any] = []
    blobs: list[Any] = []


# -- VM mutations ----------------------------------------------------------------------
class Defined(Event):
    """``(define name value)`` in namespace ``ns``."""

    ns: str
    name: str
    value: Any


class Assigned(Event):
    """``(set! name value)`` of an existing global."""

    ns: str
    name: str
    value: Any


class NamespaceEntered(Event):
    """``(in-ns name)``: the current namespace changed."""

    ns: str


class AtomCreated(Event):
    atom: int
    value: Any


class AtomReset(Event):
    """``reset!`` or ``swap!``: the atom's new value."""

    atom: int
    value: Any


class FactAsserted(Event):
    """``assert!``: the fact's encoding, and its evidence's (``(assert! fact evidence)``; None: none).

    Version 2 added ``evidence``; version 1 events are version 2 events without it.  A fact
    asserted again with other evidence is asserted again: it moves to the end of the facts."""

    version: ClassVar[int] = 2
    fact: Any
    evidence: Any = None


class FactRetracted(Event):
    fact: Any


class FileWritten(Event):
    """A file of the VM's sandboxed world; ``content`` is the blob hash."""

    path: str
    content: str
    size: int


class FileDeleted(Event):
    path: str


MUTATION_TYPES: tuple[type[Event], ...] = (
    Defined, Assigned, NamespaceEntered, AtomCreated, AtomReset,
    FactAsserted, FactRetracted, FileWritten, FileDeleted,
)


# -- sessions: forks, merges, takes -----------------------------------------------------
class SessionForked(Event):
    """The first event of a fork's own stream, stored at event number ``at + 1``.

    Events 1..``at`` are not copied: they are read from ``source`` (a stream id,
    which stays valid when sessions are renamed), so a fork costs one record.
    ``source_name`` is the name the user gave, for people reading the log.
    """

    source: str
    source_name: str
    at: int


class MergeApplied(Event):
    """Changes brought in from another session (``tape merge`` or ``tape take``).

    ``source``/``source_name`` and ``source_seq`` say where the values came
    from (the source's head when merged); ``ancestor`` is the common
    ancestor's event number (0 for a take).  ``bindings`` is a list of
    ``[ns, name, value]`` (value None with ``removed`` listing deletions as
    ``[ns, name]``); ``atoms`` ``[id, value]``; ``facts_added`` and
    ``facts_removed`` encoded facts; ``files`` ``[path, blob key or None]``.
    Content the destination lacks travels in a ContentStored in the same commit.
    """

    kind: str  # "merge" or "take"
    source: str
    source_name: str
    source_seq: int
    ancestor: int = 0
    bindings: list[Any] = []
    removed: list[Any] = []
    atoms: list[Any] = []
    facts_added: list[Any] = []
    facts_removed: list[Any] = []
    files: list[Any] = []

# -- recorded effects -----------------------------------------------------------------
class EffectRequested(Event):
    """A form asked for an effect (``now``, ``random``, ``uuid``, ``read-line``, ``ask``, ``tool``).

    ``key`` is stable across runs: the form's event number, the effect's
    ordinal within the form and a hash of kind and arguments
    (``"<form>.<ordinal>:<hash>"``), so a replay finds the recorded answer
    and notices a request with different arguments.  ``args`` are encoded
    values (after redaction).
    """

    kind: str
    key: str
    args: list[Any]


class EffectCompleted(Event):
    """The answer to the EffectRequested with the same ``key``: a result, or an error.

    Committed with its request before the form goes on, so a result already
    paid for survives a crash.  ``result`` is an encoded value (large texts
    are content nodes); ``size`` the bytes of its canonical encoding;
    ``duration_ms`` is informational (a replay copies the recorded one).
    """

    key: str
    ok: bool
    result: Any = None
    error_kind: str | None = None
    error_message: str | None = None
    size: int = 0
    duration_ms: float = 0.0


class FileImported(Event):
    """A host file brought into the VM's world by ``tape world import`` (the host read is recorded here)."""

    path: str
    content: str
    size: int
    source: str


EFFECT_EVENT_TYPES: tuple[type[Event], ...] = (EffectRequested, EffectCompleted)


# -- durable execution: a form suspended at (await ...) and resumed -----------------------------
class FormSuspended(Event):
    """The running form (this event's cause) suspended at ``(await tag ...)`` until something outside answers.

    ``continuation`` is the encoded value of its continuation (vm/continuation_codec.py: frames,
    environments, the form's mutations so far), through the content-addressed value encoding: a
    ContentStored event of the same commit carries the nodes not stored before.  ``payload`` is an
    encoded value; ``deadline_ms`` (epoch milliseconds) is when an unanswered await times out;
    ``stack`` a summary for people (functions, where, locals briefly).  The committed state does not
    change: the form's mutations commit when it ends.
    """

    tag: str
    payload: Any = None
    timeout_ms: int | None = None
    deadline_ms: int | None = None
    continuation: Any = None
    stack: list[dict[str, Any]] = []


class AwaitAnswered(Event):
    """The answer to the form's latest FormSuspended (same cause): a value, or an error (``await-timeout``).

    The form goes on from the stored continuation in the same process that appends this event.
    """

    tag: str
    ok: bool = True
    value: Any = None
    error_kind: str | None = None
    error_message: str | None = None

# -- time travel: snapshots and restores -----------------------------------------------------
class SnapshotTaken(Event):
    """A name for the state after event ``at`` of this session (``tape snapshot``, ``(snapshot! ...)``)."""

    name: str
    at: int
    description: str = ""


class StateRestored(Event):
    """The state went back to the state after event ``target`` (the snapshot ``snapshot``).

    ``delta`` (a :class:`tapevm.domain.delta.Delta` as JSON) takes the
    state before this event to that state, so the fold needs nothing but this
    event; the history before it stays in the log, addressable as before.
    """

    snapshot: str
    target: int
    delta: dict[str, Any]


# -- time travel: images ----------------------------------------------------------------
class ImageLoaded(Event):
    """This session starts from an image file (``tape image load``, ``tape run --image``).

    ``state`` (the image's state without its content, which a ContentStored
    event just before carries) replaces the session's state; it is None when
    the image's full history was re-appended before this event instead.
    """

    image: str
    format_version: str
    tapevm_version: str
    created_at: float
    description: str
    source_session: str
    source_seq: int
    with_history: bool
    state: dict[str, Any] | None = None


class HistoryArchived(Event):
    """The first event of a session whose events 1..``before``-1 were moved to an archive file
    (``tape archive``); the live log's records from ``before`` on are untouched.

    It stands, with the ContentStored events right after it (up to event ``before``-1, the
    content ``state`` reaches), for the history archived: ``state`` (as ``ImageLoaded``'s)
    replaces the session's state, so the fold from here gives the state after event
    ``before``-1.  ``link`` is the chain link of the archived record holding event
    ``before``-1 (hex; None: written before the chain), which the record at ``before``
    chains on: ``tape verify`` checks the live records from it, ``tape verify --archive``
    that the archive's records chain to it.  ``archive_xxh3`` names the archive file's
    bytes; ``records`` counts the archived records; ``vm_version`` is the archived SessionStarted's.
    """

    before: int
    file: str
    link: str | None
    records: int
    archive_xxh3: str
    archived_at: float
    archived_by: str
    vm_version: int  # the session's SessionStarted's, archived with it: how its values are encoded
    state: dict[str, Any]


# -- the write path without models ------------------------------------------------------
# An event on its way to the log, not yet numbered: ``(type name, schema version, fields)``.
# The fields dict is exactly what the event model's ``__dict__`` holds (every field, in
# declaration order), so the record codec writes it and the fold folds it as they are,
# without building a model per event only to dump it again.  The model classes stay the
# one definition of each layout: drafts are made from models (``draft_of``), or for the
# hot events by the builders below, whose output tests compare field by field with the
# validated models (tests/domain/test_drafts.py).  ``event_of`` gives the validated model.
Draft = tuple[str, int, dict[str, Any]]


def draft_of(event: Event) -> Draft:
    """The draft of a (validated) model: shares its field dict."""
    return (event.type_name, event.version, event.__dict__)


def event_of(draft: Draft) -> Event:
    """The validated model of a draft (pydantic raises on fields the model refuses)."""
    return EVENT_TYPES[draft[0]].model_validate(draft[2])


_DEFINED, _DEFINED_VERSION = Defined.type_name, Defined.version


def defined_draft(ns: str, name: str, value: Any) -> Draft:
    """``Defined(ns=ns, name=name, value=value)`` as a draft: a form of 100 definitions makes 100.

    ``value`` must already be an encoding (JSON-native); ``ns`` and ``name``
    are the VM's strings.  Same fields, same order as the model.
    """
    return (_DEFINED, _DEFINED_VERSION, {"ns": ns, "name": name, "value": value})
