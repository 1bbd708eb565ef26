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
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import structlog

from tapevm.domain.errors import ConflictError, SessionNotFound, TapeError, UsageError, VMError
from tapevm.domain.events import (
    Event,
    FormEvaluated,
    FormSubmitted,
    OutputWritten,
    RecordedEvent,
    SessionStarted,
)
from tapevm.domain.state import State, fold_event, fold_fields
from tapevm.infrastructure.ports import EventStore
from tapevm.infrastructure.store_factory import open_store
from tapevm.vm.form_events import FormEventBuilder
from tapevm.vm.interpreter import Interpreter
from tapevm.vm.printer import to_source
from tapevm.vm.world_state import load_world
from tapevm.vm.world import World

log = structlog.get_logger("tapevm.session")

VM_VERSION = 1


def _tapevm_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tapevm")
    except PackageNotFoundError:  # pragma: no cover
        return "0.0.0"


def validate_session_id(session_id: str) -> str:
    """Session ids are short printable names; ``@`` is reserved for addresses (``id@N``)."""
    if not session_id or len(session_id) > 200:
        raise UsageError("a session id must be 1 to 200 characters long")
    if any(c in session_id for c in "@\x00\n\r\t/") or session_id.strip() != session_id:
        raise UsageError(f"invalid session id {session_id!r}: no '@', '/', control characters or surrounding spaces")
    return session_id


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


class Session:
    """An open session: its live VM and its folded state, kept in step with its log."""

    def __init__(self, store: EventStore, session_id: str, *, create: bool = True, owns_store: bool = False) -> None:
        self.id = validate_session_id(session_id)
        self.store = store
        self._owns_store = owns_store
        self._state = fold_fields(store.read_fields(self.id), State(session=self.id))
        if self._state.seq == 0:
            if not create:
                raise SessionNotFound(f"no session {self.id!r} in {store.url_for_display} (run 'tape sessions')")
            try:
                self._append_events([SessionStarted(tapevm_version=_tapevm_version(), vm_version=VM_VERSION)])
            except ConflictError:  # another process created it at the same moment: open theirs
                self._state = fold_fields(store.read_fields(self.id), State(session=self.id))
        self.world = World()
        self.interpreter = Interpreter(self.world)
        load_world(self._state, self.world, self.interpreter)
        self._builder = FormEventBuilder(self._state.nodes, self._state.blobs)
        log.debug("session_opened", session=self.id, head=self._state.seq)

    # -- reading ---------------------------------------------------------------
    @property
    def head(self) -> int:
        """The last event number of this session."""
        return self._state.seq

    @property
    def state(self) -> State:
        """The folded state at the head (a copy: callers may keep it)."""
        return self._state.copy()

    def state_at(self, n: int) -> State:
        """The state after event ``n`` (by folding the log from the start)."""
        if n < 0 or n > self.head:
            raise UsageError(f"session {self.id!r} has events 1..{self.head}; there is no event {n}")
        return fold_fields(self.store.read_fields(self.id, 1, n), State(session=self.id))

    def events(self, start: int = 1, stop: int | None = None) -> Iterator[RecordedEvent]:
        """Recorded events with ``start <= seq <= stop``."""
        return self.store.read(self.id, start, stop)

    # -- writing -------------------------------------------------------------------
    def run(self, source: str, file: str = "<input>", *, stop_on_error: bool = False) -> list[FormOutcome]:
        """Evaluate every top-level form of ``source``, committing each as it completes.

        A syntax error anywhere refuses the whole source before anything runs.
        A Lisp error in a form is committed (as that form's outcome); the
        following forms still run, as at a REPL, unless ``stop_on_error``.
        """
        forms = self.interpreter.read_forms(source, file)
        outcomes = []
        for form, line, column, text in forms:
            outcome = self._run_form(form, line, column, text, file)
            outcomes.append(outcome)
            if stop_on_error and not outcome.ok:
                break
        return outcomes

    def eval(self, source: str, file: str = "<eval>") -> Any:
        """Evaluate ``source`` and return the value of its last form; raise EvalError on a Lisp error."""
        outcomes = self.run(source, file)
        for outcome in outcomes:
            if not outcome.ok:
                raise EvalError(outcome)
        return outcomes[-1].value if outcomes else None

    def _run_form(self, form: Any, line: int, column: int, text: str, file: str) -> FormOutcome:
        world = self.world
        world.begin()
        submitted = FormSubmitted(source=text, file=file, line=line, column=column)
        try:
            value = self.interpreter.eval_form(form)
        except VMError as e:
            printed_out = world.rollback()
            error_value = getattr(e, "error", None)
            kind = getattr(error_value, "kind", "error")
            message = getattr(error_value, "message", str(e))
            outcome = FormEvaluated(ok=False, error_kind=kind, error_message=message)
            events = self._builder.build(submitted, printed_out, outcome)
            try:
                recorded = self._append_events(events)
            except BaseException:
                self._builder.discard()
                raise
            self._builder.commit()
            return FormOutcome(recorded[0].seq, recorded[-1].seq, False, None, "",
                               _output_of(events), kind, message)
        mutations = world.take_mutations()
        printed = to_source(value)
        outcome = FormEvaluated(ok=True, printed=printed)
        try:
            events = self._builder.build(submitted, mutations, outcome, value, has_result=True)
            recorded = self._append_events(events)
        except BaseException:
            world.rollback()
            self._builder.discard()
            raise
        world.commit()
        self._builder.commit()
        return FormOutcome(recorded[0].seq, recorded[-1].seq, True, value, printed, _output_of(events))

    def _append_events(self, events: list[Event]) -> list[RecordedEvent]:
        """Number, store and fold ``events``; the first one is the cause of the rest."""
        first = self._state.seq + 1
        now = time.time()
        recorded = [RecordedEvent(self.id, first + i, first, now, e) for i, e in enumerate(events)]
        self.store.append(recorded)
        for r in recorded:
            fold_event(self._state, r)
        return recorded

    # -- lifetime --------------------------------------------------------------------
    def close(self) -> None:
        if self._owns_store:
            self.store.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _output_of(events: list[Event]) -> str:
    return "".join(e.text for e in events if isinstance(e, OutputWritten))


def open_session(
    session_id: str = "default",
    store: EventStore | str | None = None,
    *,
    create: bool = True,
    durability: str | None = None,
) -> Session:
    """Open (creating unless ``create=False``) a session in ``store`` (an EventStore, a path or a URL).

    ``durability`` ("full", the default, or "fast") applies when a SQLite store is opened here.
    """
    if isinstance(store, EventStore):
        return Session(store, session_id, create=create)
    opened = open_store(store, durability=durability)
    try:
        return Session(opened, session_id, create=create, owns_store=True)
    except BaseException:
        opened.close()
        raise
