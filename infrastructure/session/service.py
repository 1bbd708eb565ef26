"""A session: the one place where the VM, the event store and the state projection meet.

Path of one top-level form (see docs/architecture.md)::

    source --read--> form --evaluate (World journals mutations)--> mutations
           --FormEventBuilder--> events --store.append (one transaction)-->
           committed --fold_event--> state

If evaluation raises, the World is rolled back and only FormSubmitted, the
output and FormEvaluated(error) are committed.  If the append fails (a
conflicting writer, a full disk), the World is rolled back too: the live VM
never gets ahead of the log.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, Self

from tapevm.domain import lineage
from tapevm.domain.addresses import validate_session_id
from tapevm.domain.delta import Delta
from tapevm.domain.errors import (
    ConflictError,
    CorruptRecord,
    ImageError,
    SessionNotFound,
    StoreNotFound,
    TapeError,
    UsageError,
    VMError,
)
from tapevm.domain.events import (
    Draft,
    Event,
    FormEvaluated,
    FormSubmitted,
    OutputWritten,
    RecordedEvent,
    SessionStarted,
    draft_of,
    event_of,
)
from tapevm.domain.fold import fold_drafts
from tapevm.domain.ports import EventStore
from tapevm.domain.state import State
from tapevm.infrastructure.config import Settings
from tapevm.infrastructure.durable.suspension import DurableForms
from tapevm.infrastructure.logs import get_logger
from tapevm.infrastructure.session import time_travel, unfinished_form
from tapevm.infrastructure.session.checkpoints import checkpoints_of
from tapevm.infrastructure.session.effects import Redactor, SessionEffects, Tool
from tapevm.infrastructure.session.world_import import HostFile, import_file
from tapevm.infrastructure.steps.recorder import StepRecorder
from tapevm.infrastructure.stores import named_sessions
from tapevm.infrastructure.stores.factory import open_store
from tapevm.infrastructure.stores.leases import WriterLease
from tapevm.infrastructure.stores.registry import SessionRegistry
from tapevm.infrastructure.stores.side_tables import has_side_tables
from tapevm.vm.effects import EffectAbort
from tapevm.vm.form_events import PRINTED_LIMIT, FormEventBuilder
from tapevm.vm.interpreter import Interpreter
from tapevm.vm.limits import FormLimits
from tapevm.vm.printer import to_source
from tapevm.vm.value_codec import ValueEncoder
from tapevm.vm.version import VM_VERSION, tapevm_version, text_node_min
from tapevm.vm.world import LOAD_IMAGE, RESTORE, SAVE_IMAGE, SESSION_REQUESTS, Mutation, World
from tapevm.vm.world_state import load_world

log = get_logger("tapevm.session")

@dataclass(frozen=True)
class FormOutcome:
    """What one top-level form did, as committed."""

    seq: int                  # event number of its FormSubmitted
    last_seq: int             # event number of its FormEvaluated
    ok: bool
    value: Any                # the Lisp value (None on error)
    printed: str              # the value as source text, or "" on error
    output: str               # what it printed
    error_kind: str | None = None
    error_message: str | None = None


class EvalError(TapeError):
    """A form raised a Lisp error (it is committed to the log as FormEvaluated with the error)."""

    def __init__(self, outcome: FormOutcome) -> None:
        super().__init__(f"{outcome.error_kind}: {outcome.error_message}")
        self.outcome = outcome


# What ``(save-image name :description d)`` calls once its form committed: (session, name, d, event number).
ImageWriter = Callable[["Session", str, str, int], None]


class Session(DurableForms, StepRecorder):
    """An open session: its live VM and its folded state, kept in step with its log."""

    kept_as: str | None = None  # after open_session(fresh=True): the name the previous session got
    # Whether ``(save-image ...)`` writes its file after the form commits.  Replay's verifying
    # session writes none: the image was written when the form first ran, and a replay checks
    # the record without changing anything outside it.
    writes_images: bool = True
    # A reader of a log damaged past some point (see ``_open``): why its head cannot be folded.
    _damage: CorruptRecord | None = None

    echo: Callable[[str], None] | None = None  # where printed text goes as it is printed (the CLI: the terminal)
    def __init__(self, store: EventStore, name: str, *, create: bool = True, owns_store: bool = False,
                 writable: bool = True, lease: bool = True, image_writer: ImageWriter | None = None,
                 limits: FormLimits | None = None, vm_version: int | None = None) -> None:
        """``vm_version``: the VM version a session created here starts at (default: this code's; a replay
        starts its session at the recorded one, whose encoding the recorded events have)."""
        self.id = validate_session_id(name)
        self._limits = limits
        self._start_version = vm_version or VM_VERSION
        # What ``(save-image ...)`` calls once its form committed: images live a floor above sessions,
        # so whoever opens the session gives it (tapevm.open_session and the tape commands that run forms).
        self.image_writer = image_writer
        self.store = store = named_sessions.raw_store(store)
        self._owns_store = owns_store
        # The name resolves to a stream (see session_registry); a writer holds the lease (session_lease).
        # A store without tapevm's side tables (replay's in-memory one) has neither: name = stream.
        persistent = has_side_tables(store)
        self.stream = SessionRegistry(store).stream_of(self.id) if persistent else self.id
        self.writable = writable
        # ``lease=False``: an optimistic writer that relies on the store's conflict detection alone
        # (cooperating writers that retry, see conflict_retry.py); the lease is the first line of
        # defence, optimistic concurrency the last.
        self.lease = lease
        self._lease = WriterLease(store, self.stream, self.id) if writable and persistent and lease else None
        try:
            self._open(create)
        except BaseException:
            self._release()
            raise

    def _open(self, create: bool) -> None:
        store = self.store
        self.segments = lineage.lineage(store, self.stream)
        stream, segments = self.stream, self.segments
        # Latest valid checkpoint + the tail, never the whole log (issue 3); checkpoints are kept
        # per stream and read the session's events through its lineage (forks).
        self.checkpoints = checkpoints_of(store, stream, segments)
        try:
            self._state = self.checkpoints.state_at(None)
        except CorruptRecord as e:
            if self.writable or not (head := store.last_seq(stream)):
                raise
            # A reader of a log damaged past some point: what lies before the damage is intact and stays
            # readable (state_at, events); the head's state and the VM are not, and say why when asked.
            self._damage, self._damaged_head = e, head
            log.info("session_damaged", session=self.id, head=head, error=str(e))
            return
        self._state.session = self.id
        created = False
        if self._state.seq == 0:
            if not create:
                raise SessionNotFound(f"no session {self.id!r} in {store.url_for_display} (run 'tape sessions')")
            try:
                self._append_events([SessionStarted(tapevm_version=tapevm_version(), vm_version=self._start_version)])
                created = True
            except ConflictError:  # another process created it at the same moment: open theirs
                self._state = self.checkpoints.state_at(None)
                self._state.session = self.id
        # how its values are encoded: as it started (one created here, as asked: not read back)
        self.vm_version = self._start_version if created else lineage.started_vm_version(store, segments)
        self.reload()
        self._submitted: FormSubmitted | None = None  # the form being evaluated
        self._form_seq: int | None = None  # its event number once committed (by its first effect)
        # A form interrupted between its effects and its end (infrastructure/session/unfinished_form.py).
        self.unfinished: int | None = unfinished_form.find_unfinished_form(
            store, self.id, self._state.seq, read=lambda a, b: lineage.read(store, stream, a, b, segments),
            head_type=self.checkpoints.type_of_event(self._state.seq))
        log.debug("session_opened", session=self.id, head=self._state.seq)

    def reload(self) -> None:
        """A fresh live VM from the folded state: at open, and after an event changed the state without a
        form (a restore, a merge, a re-applied session action); registered tools and redactors stay."""
        self.world = World()
        if not hasattr(self, "effects"):  # kept across reloads: registered tools and redactors stay
            self.effects = SessionEffects(self)  # issue 5: recorded effects (infrastructure/session/effects.py)
        self.interpreter = Interpreter(self.world, self.effects)
        load_world(self._state, self.world, self.interpreter)
        self.world.snapshots = self._state.snapshots  # read-only view for (snapshots), kept current by the fold
        self.effects.providers.image_lister = time_travel.image_lister_of(self.image_writer)
        self._builder = FormEventBuilder(self._state.nodes, self._state.blobs, text_node_min(self.vm_version))

    if not TYPE_CHECKING:  # (hidden from mypy, which would let any attribute name through)
        def __getattr__(self, name: str) -> Any:
            """Only reached for an attribute that was never set: a damaged reader's state and VM."""
            damage = self.__dict__.get("_damage")
            if damage is not None and not name.startswith("__"):
                raise damage
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    # -- reading ---------------------------------------------------------------
    @property
    def damage(self) -> CorruptRecord | None:
        """Why the head's state cannot be read, for a reader of a log damaged past some point (else None)."""
        return self._damage

    @property
    def head(self) -> int:
        """The last event number of this session."""
        return self._damaged_head if self._damage is not None else self._state.seq

    @property
    def state(self) -> State:
        """The folded state at the head (a copy: callers may keep it)."""
        return self._state.copy()

    @property
    def live_state(self) -> State:
        """The folded state itself, not a copy: the session's collaborators read it (decoding values
        against it) without paying for a copy.  Never change it: the fold owns it."""
        return self._state

    def content_through(self, n: int) -> State:
        """A state whose content shows every value events 1..``n`` name: the head's (content only grows),
        or for a reader of a log damaged past ``n``, the state after event ``n``."""
        return self.state if self._damage is None else self.state_at(n)

    def state_at(self, n: int) -> State:
        """The state after event ``n``: the nearest checkpoint at or before ``n`` plus the tail."""
        if n < 0 or n > self.head:
            raise UsageError(f"session {self.id!r} has events 1..{self.head}; there is no event {n}")
        if n == 0:
            return State(session=self.id)
        if n == self.head:
            return self.state
        state = self.checkpoints.state_at(n)
        state.session = self.id
        return state

    def events(self, start: int = 1, stop: int | None = None) -> Iterator[RecordedEvent]:
        """Recorded events with ``start <= seq <= stop``."""
        return lineage.read(self.store, self.stream, start, stop, self.segments)

    # -- writing -------------------------------------------------------------------
    @property
    def limits(self) -> FormLimits:
        """What each form may use (vm/limits.py): as given, else TAPE_MAX_* or the defaults (read when first
        asked: a bad variable fails what runs forms, not a reader); may be set between forms."""
        if self._limits is None:
            self._limits = Settings.from_environment().form_limits()
        return self._limits

    @limits.setter
    def limits(self, limits: FormLimits) -> None:
        self._limits = limits

    def run(self, source: str, file: str = "<input>", *, stop_on_error: bool = False,
            skip: int = 0, render_values: bool = True) -> list[FormOutcome]:
        """Evaluate every top-level form of ``source``, committing each as it completes.

        A syntax error anywhere refuses the whole source before anything runs.
        A Lisp error in a form is committed (as that form's outcome); the
        following forms still run, as at a REPL, unless ``stop_on_error``.
        ``skip`` leaves out the first forms (continuing a run: see
        :func:`tapevm.infrastructure.session.run_continuation.committed_forms`).
        ``render_values=False``: ``printed`` is the log's text, cut at PRINTED_LIMIT (no value is printed whole).
        """
        if self.unfinished is not None:  # pending (infrastructure/durable/) or interrupted: settled, or refused
            self.refuse_unfinished()
        forms = self.interpreter.read_forms(source, file)[skip:]
        outcomes = []
        for form, line, column, text in forms:
            outcome = self.run_form(form, line, column, text, file, render_value=render_values)
            outcomes.append(outcome)
            if stop_on_error and not outcome.ok:
                break
        return outcomes

    def eval(self, source: str, file: str = "<eval>") -> Any:
        """Evaluate ``source`` and return the value of its last form; raise EvalError on a Lisp error."""
        outcomes = self.run(source, file, render_values=False)  # values returned, not shown
        for outcome in outcomes:
            if not outcome.ok:
                raise EvalError(outcome)
        return outcomes[-1].value if outcomes else None

    def run_form(self, form: Any, line: int, column: int, text: str, file: str, committed_seq: int | None = None,
                 render_value: bool = True, resume: Callable[[], Any] | None = None) -> FormOutcome:
        """Evaluate one form already read (``Interpreter.read_forms``) and commit it; its outcome.

        For callers that run forms one at a time (replay, retrying writers, resuming a form).  A Lisp
        error is committed as the form's outcome; any other failure (a store error, an interrupt)
        leaves nothing of the form in the live VM, and a form whose FormSubmitted was committed (by
        its first effect, or ``committed_seq`` when resuming it) is then marked :attr:`unfinished`.
        """
        self.world.begin()
        self.interpreter.begin_form(self._state.seq + 1)
        self.interpreter.budget.start(self.limits, self.echo)
        # our own reader's output: not validated (and no validator built on a process's first form)
        submitted = FormSubmitted.model_construct(source=text, file=file, line=line, column=column)
        self._submitted, self._form_seq = submitted, committed_seq
        self.effects.start_form()
        try:
            value = self.evaluate(form, resume, submitted)  # resume: a suspended form goes on (durable/)
        except EffectAbort as abort:  # a store failure or a replay divergence inside an effect
            self._abandon_form()
            raise abort.inner from None
        except VMError as e:
            return self._commit_error(submitted, e)
        except BaseException:  # interrupted (Ctrl-C): nothing of the form stays in the live VM
            self._abandon_form()
            raise
        return self._commit_value(submitted, value, render_value)

    def _abandon_form(self) -> None:
        """Nothing of the current form stays in the live VM; it is unfinished if its input is in the log."""
        self.world.rollback()
        self._builder.discard()
        self._mark_unfinished()

    def _commit_error(self, submitted: FormSubmitted, e: VMError) -> FormOutcome:
        """Commit a form that raised a Lisp error: its input, its output and the error, no mutation."""
        printed_out = self.world.rollback()
        error_value = getattr(e, "error", None)
        kind = getattr(error_value, "kind", "error")
        message = getattr(error_value, "message", str(e))
        outcome = FormEvaluated(ok=False, error_kind=kind, error_message=message)
        drafts = self._builder.build(submitted, printed_out, outcome)
        try:
            committed = self._append_form_drafts(drafts)
        except BaseException:
            self._builder.discard()
            self._mark_unfinished()
            raise
        self._builder.commit()
        return FormOutcome(committed.cause, committed.last, False, None, "", _output_of(drafts), kind, message)

    def _commit_value(self, submitted: FormSubmitted, value: Any, render_value: bool) -> FormOutcome:
        """Commit a form that returned ``value``: its mutations, its value, the events of its session requests."""
        world = self.world
        mutations = world.take_mutations()
        requests = [m for m in mutations if m.kind in SESSION_REQUESTS]  # time travel (issue 3)
        if requests:
            mutations = [m for m in mutations if m.kind not in SESSION_REQUESTS]
        try:  # (printing and encoding may still fail: nothing of the form may then stay in the live VM)
            # The log keeps the start of the text (the value is in ``result``); the whole only if shown.
            stored = to_source(value, PRINTED_LIMIT)
            printed = to_source(value) if render_value and len(stored) > PRINTED_LIMIT else stored
            outcome = FormEvaluated.model_construct(ok=True, printed=stored)  # ours: not validated (nor built)
            drafts = self._builder.build(submitted, mutations, outcome, value, has_result=True)
            if requests:
                # the events still to append (a form with effects has committed its FormSubmitted)
                pending = drafts if self._form_seq is None else drafts[1:]
                drafts += [draft_of(e) for e in time_travel.request_events(
                    self, self._state, [event_of(d) for d in pending], requests)]
            committed = self._append_form_drafts(drafts)
        except BaseException:
            self._abandon_form()
            raise
        world.commit()
        self._builder.commit()
        if requests:
            appended = drafts[committed.first - committed.last - 1:]  # without a FormSubmitted committed earlier
            self._after_requests(requests, committed.recorded(self.stream, appended))
        return FormOutcome(committed.cause, committed.last, True, value, printed, _output_of(drafts))

    def _after_requests(self, requests: list[Mutation], recorded: list[RecordedEvent]) -> None:
        """What a committed form's session requests do outside the log: reload the VM after a restore,
        write images (unless :attr:`writes_images` is off)."""
        if any(m.kind in (RESTORE, LOAD_IMAGE) for m in requests):
            self.reload()
        for m in requests:
            if m.kind == SAVE_IMAGE and self.writes_images:
                seq = recorded[-1].seq
                if self.image_writer is None:
                    raise ImageError(f"the form committed (event {seq}) but save-image has no image writer: "
                                     "open the session with tapevm.open_session to save images from it")
                self.image_writer(self, m.args[0], m.args[1], seq)

    # -- recorded effects (issue 5): a form with effects commits in several transactions --
    def tool(self, name: str) -> Callable[[Tool], Tool]:
        """Decorator: register a Python function as ``(tool name args...)``; its calls are recorded."""
        def register(fn: Tool) -> Tool:
            self.effects.providers.tools[name] = fn
            return fn
        return register

    def redact(self, fn: Redactor) -> Redactor:
        """Register ``fn(text) -> text`` to keep secrets out of recorded effect arguments, results and errors."""
        return self.effects.redact(fn)

    def secret(self, value: str, name: str | None = None) -> None:
        """Register ``value`` as a secret: masked as ``[secret NAME]`` in everything the session's effects record."""
        self.effects.secret(value, name)

    def _mark_unfinished(self) -> None:
        if self._form_seq is not None:  # its FormSubmitted is in the log, its end is not
            self.unfinished = self._form_seq

    def import_file(self, host_path: str | HostFile, path: str | None = None) -> int:
        """Record a host file into the VM's world (one FileImported event); its event number."""
        return import_file(self, host_path, path)

    def resume(self) -> FormOutcome | None:
        """Finish an interrupted form (None when there is none): recorded effects answered from the log,
        the rest performed (see infrastructure/session/unfinished_form.py)."""
        seq = self.unfinished
        if seq is None:
            return None
        form, submitted, answers = unfinished_form.form_to_resume(self, seq)
        self.effects.source = answers
        try:
            outcome = self.resume_suspended() or self.run_form(  # one that suspended goes on from its continuation
                form, submitted.line, submitted.column, submitted.source, submitted.file, committed_seq=seq)
        finally:
            self.effects.source = self.effects.live
        self.unfinished = None
        return outcome

    def abandon(self) -> int | None:
        """Give up an interrupted form instead of resuming it: the event number of its recorded end (None
        when there is none; see unfinished_form.py)."""
        return unfinished_form.abandon(self)

    def commit_form_input(self) -> int:
        """Commit the current form's FormSubmitted (once, on its first effect); its event number."""
        if self._form_seq is None:
            assert self._submitted is not None, "an effect outside a form"
            self._form_seq = self._append_events([self._submitted])[0].seq
        return self._form_seq

    def form_encoder(self) -> ValueEncoder:
        """The encoder of the current form's values (effect arguments and results use it too)."""
        return self._builder.encoder

    def append_caused(self, events: list[Event], cause: int) -> list[RecordedEvent]:
        """Commit ``events`` in one transaction with ``cause`` as their cause (an effect of a form)."""
        return self._append_events(events, cause)

    def _append_form_drafts(self, drafts: list[Draft]) -> _Committed:
        if self._form_seq is None:
            return self._append_drafts(drafts)
        return self._append_drafts(drafts[1:], self._form_seq)  # FormSubmitted is already committed

    def _append_events(self, events: list[Event], cause: int | None = None) -> list[RecordedEvent]:
        """Number, store and fold ``events``; their cause is ``cause`` or else the first of them."""
        return self._append_drafts([draft_of(e) for e in events], cause).recorded(self.stream, events)

    def _append_drafts(self, drafts: list[Draft], cause: int | None = None) -> _Committed:
        """Number, store (one transaction) and fold ``drafts``; their cause is ``cause`` or else the first.

        The state folds the very field dicts the record was encoded from: no
        model, no RecordedEvent per event on the way (see domain/events.py, Draft).
        """
        if not self.writable:
            raise UsageError(f"session {self.id!r} was opened read-only")
        first = self._state.seq + 1
        now = time.time()
        c = first if cause is None else cause
        if drafts:
            self.store.append_drafts(self.stream, first, c, now, drafts)
            fold_drafts(first, drafts, self._state)
            # The commit's own events feed the checkpoints' events hash: no re-read of the log at a boundary.
            self.checkpoints.after_append(self._state, first, drafts)
        return _Committed(first, first + len(drafts) - 1, c, now)

    def record(self, events: list[Event]) -> list[RecordedEvent]:
        """Commit session-action events (a merge, a take) and reload the live VM from the new state.

        Used by the features that change state without running a form (see merging.py).
        """
        recorded = self._append_events(events)
        self.reload()
        return recorded

    # -- time travel (issue 3; the logic lives in tapevm.infrastructure.session.time_travel) --------------
    def snapshot(self, name: str, at: int | None = None, description: str = "") -> time_travel.SnapshotInfo:
        """Name the state after event ``at`` (default: the head) by appending a SnapshotTaken event."""
        event = time_travel.snapshot_event(self, self._state, name, at, description)
        self._append_events([event])
        return time_travel.SnapshotInfo(event.name, event.at, event.description)

    def snapshots(self) -> list[time_travel.SnapshotInfo]:
        return time_travel.list_snapshots(self._state)

    def restore(self, name: str) -> RecordedEvent:
        """Go back to snapshot ``name``: appends a StateRestored event and reloads the live VM."""
        recorded = self._append_events([time_travel.restore_event(self, name, self._state)])
        self.reload()
        return recorded[0]

    def delta(self, a: int, b: int) -> Delta:
        """What changed from the state after event ``a`` to the state after event ``b``."""
        return time_travel.delta_between(self, a, b)

    # -- lifetime --------------------------------------------------------------------
    def reopen(self) -> Session:
        """The same session re-opened on the same store at its current head (this object is then spent;
        the new one closes the store if this one was to)."""
        owns, self._owns_store = self._owns_store, False
        return Session(self.store, self.id, create=False, owns_store=owns, lease=self.lease,
                       image_writer=self.image_writer, limits=self._limits)

    def own_store(self) -> None:
        """Close the store with the session (for a store opened only for it)."""
        self._owns_store = True

    def close(self) -> None:
        self._release()
        if self._owns_store:
            self.store.close()

    def _release(self) -> None:
        if self._lease is not None:
            self._lease.release()
            self._lease = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Committed(NamedTuple):
    """Where a commit's events landed: events ``first..last``, one cause and one time."""

    first: int
    last: int
    cause: int
    recorded_at: float

    def recorded(self, stream: str, events: Sequence[Event | Draft]) -> list[RecordedEvent]:
        """The committed events as RecordedEvents (drafts become validated models)."""
        return [RecordedEvent(stream, self.first + i, self.cause, self.recorded_at,
                              e if isinstance(e, Event) else event_of(e)) for i, e in enumerate(events)]


_OUTPUT = OutputWritten.type_name


def _output_of(drafts: list[Draft]) -> str:
    return "".join(fields["text"] for type_name, _, fields in drafts if type_name == _OUTPUT)


def open_session(
    session_id: str = "default",
    store: EventStore | str | None = None,
    *,
    create: bool = True,
    durability: str | None = None,
    writable: bool = True,
    fresh: bool = False,
    lease: bool = True,
    image_writer: ImageWriter | None = None,
    limits: FormLimits | None = None,
) -> Session:
    """Open (creating unless ``create=False``) a session in ``store`` (an EventStore, a path or a URL).

    ``durability`` ("full", the default, or "fast") applies when a SQLite store is opened here.
    ``writable=False`` opens for reading (no writer lease); ``lease=False`` writes without
    the writer lease (several cooperating writers, each retrying on ConflictError: see
    ``run_retrying``).  ``fresh=True`` starts a new,
    empty session under this name, keeping an existing one under a free name
    (``Session.kept_as``; see session_registry).  ``image_writer`` is what ``(save-image ...)``
    calls (``tapevm.open_session`` gives the image room's; without one, save-image fails after its
    form committed).  ``limits``: what each form may use (default: ``TAPE_MAX_*``, else
    :class:`~tapevm.vm.limits.FormLimits`' defaults).
    """
    if isinstance(store, EventStore):
        return _open_session(store, session_id, create, False, writable, fresh, lease, image_writer, limits)
    validate_session_id(session_id)  # a bad id is the error to show, whatever the store holds
    try:
        opened = open_store(store, durability=durability, create=create)
    except StoreNotFound as e:
        raise StoreNotFound(f"no session {session_id!r}: {e}") from None
    try:
        return _open_session(opened, session_id, create, True, writable, fresh, lease, image_writer, limits)
    except BaseException:
        opened.close()
        raise


def _open_session(store: EventStore, name: str, create: bool, owns: bool, writable: bool,
                  fresh: bool, lease: bool, image_writer: ImageWriter | None, limits: FormLimits | None) -> Session:
    kept = None
    if fresh:
        registry = SessionRegistry(store)
        if registry.exists(validate_session_id(name)):
            kept, _ = registry.retire(name)
    session = Session(store, name, create=create or fresh, owns_store=owns, writable=writable, lease=lease,
                      image_writer=image_writer, limits=limits)
    session.kept_as = kept
    return session
