"""Replaying a Python program: the program runs again, its forms checked against the recording in order.

A Python agent records its session by running forms: ``eval``, ``call``,
``define`` and its steps (infrastructure/steps/recorder.py).  To replay it is
to run the *Python program* again on a session that

* answers every effect from the log (a step's function, the model, the clock
  are not called: the recorded result comes back, or the recorded error as
  ``StepFailed``), and
* compares everything the program does with the recording, in order: each
  form's source before it runs (a step called with another name or other
  arguments, a form the recording does not have, a form the program no longer
  runs), then every event it produces (the :class:`VerifyingStore` of
  ``tape replay --verify``).

The first difference raises :class:`ProgramDiverged` naming the event, the
recorded form and the program's.  Nothing is written to the store: the replay
session lives in memory (and holds no writer lease), so a replay may run
while the agent goes on recording.

What the program computes in Python between its steps must be a function of
what its steps and forms returned (as with DBOS steps and Temporal
activities): that is what makes re-running it meaningful.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, Self

from tapevm.domain.errors import ReplayDivergence, SessionNotFound
from tapevm.domain.events import FormSubmitted, RecordedEvent
from tapevm.domain.ports import EventStore
from tapevm.infrastructure.session.effects import Answer, RecordedAnswers, recorded_effects_of
from tapevm.infrastructure.session.replay import RecordWindow, VerifyingStore
from tapevm.infrastructure.session.service import FormOutcome, Session
from tapevm.infrastructure.stores.factory import open_store
from tapevm.infrastructure.stores.named_sessions import NamedSessions
from tapevm.vm.value_codec import ValueDecoder
from tapevm.vm.values import Atom

SHOWN = 160  # characters of a form's source a divergence message shows


class HasEvents(Protocol):
    """A store object that carries its event store (``tapevm.Store``: ``store.events``)."""

    @property
    def events(self) -> EventStore: ...


StoreLike = EventStore | HasEvents | str | None


class ProgramDiverged(ReplayDivergence):
    """The re-run program did something other than what was recorded at ``seq``."""

    def __init__(self, seq: int, message: str) -> None:
        super().__init__(f"divergence at event {seq}: {message}")
        self.seq = seq


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= SHOWN else text[:SHOWN - 1] + "…"


class _LogAnswers:
    """Answers each form's effects from the recording: the form whose FormSubmitted is ``form_seq``."""

    def __init__(self, window: RecordWindow, decode: Callable[[Any], Any]) -> None:
        self.window = window
        self.decode = decode
        self.form: tuple[int, RecordedAnswers] | None = None

    def answer(self, form_seq: int, ordinal: int, kind: str, args: tuple[Any, ...], enc_args: list[Any],
               key: str) -> tuple[Answer, bool]:
        if self.form is None or self.form[0] != form_seq:
            self.form = (form_seq, RecordedAnswers(recorded_effects_of(self._form_events(form_seq)), self.decode))
        return self.form[1].answer(form_seq, ordinal, kind, args, enc_args, key)

    def _form_events(self, form_seq: int) -> list[RecordedEvent]:
        out = []
        seq = form_seq
        while (r := self.window.get(seq)) is not None and r.cause == form_seq:
            out.append(r)
            seq += 1
        return out


class ReplaySession(Session):
    """A session over the recording (see the module docstring): forms are checked before they run."""

    window: RecordWindow
    store_to_close: EventStore | None = None  # the store open_replay opened for it

    def run_form(self, form: Any, line: int, column: int, text: str, file: str,
                 committed_seq: int | None = None, render_value: bool = True,
                 resume: Callable[[], Any] | None = None) -> FormOutcome:
        """Refuse a form the recording does not have at this point, naming both; else run it as recorded."""
        seq = self.head + 1
        expected = self.window.get(seq)
        if expected is None:
            raise ProgramDiverged(seq, f"the program runs {_short(text)} but the recording of session "
                                  f"{self.id!r} ends at event {self.head} (the program does more than recorded)")
        event = expected.event
        if type(event) is not FormSubmitted or expected.cause != expected.seq:
            raise ProgramDiverged(seq, f"the recording has {expected.type_name} (a session action) where the "
                                  f"program runs {_short(text)}")
        if event.source != text:
            raise ProgramDiverged(seq, f"the recording ran {_short(event.source)} ({event.file}:{event.line}) "
                                  f"where the program now runs {_short(text)}")
        return super().run_form(form, line, column, text, file, committed_seq, render_value, resume)

    def finish(self) -> None:
        """Check the program did everything the recording holds (it stopped early otherwise)."""
        rest = self.window.get(self.head + 1)
        if rest is not None:
            what = (_short(rest.event.source) if type(rest.event) is FormSubmitted else rest.type_name)
            raise ProgramDiverged(rest.seq, f"the program ended at event {self.head} but the recording goes on "
                                  f"with {what} (the program does less than recorded)")

    def close(self) -> None:
        super().close()
        if self.store_to_close is not None:
            self.store_to_close.close()
            self.store_to_close = None

    def __exit__(self, *exc: object) -> None:
        try:
            if exc[0] is None:
                self.finish()
        finally:
            self.close()

    def __enter__(self) -> Self:
        return self


def open_replay(name: str, store: StoreLike = None) -> ReplaySession:
    """A session to re-run the Python program that recorded session ``name`` against its recording.

    Use it as a context manager: leaving it without an error checks that the program did all the
    recording holds.  ``store``: a ``tapevm.Store``, an EventStore, a path or a URL (default: ``TAPE_STORE``).
    """
    if not (store is None or isinstance(store, (EventStore, str))):
        store = store.events
    opened = store if isinstance(store, EventStore) else open_store(store, create=False)
    try:
        named = NamedSessions.of(opened)
        window = RecordWindow(named.read(name))
        first = window.get(1)
        if first is None:
            raise SessionNotFound(f"no session {name!r} in {named.url_for_display} (run 'tape sessions')")
        session = ReplaySession(VerifyingStore(window, named.url_for_display), name,
                                vm_version=getattr(first.event, "vm_version", None))
    except BaseException:
        if opened is not store:
            opened.close()
        raise
    session.window = window
    session.writes_images = False
    session.effects.source = _LogAnswers(window, _decoder(window, session).decode)
    if opened is not store:
        session.store_to_close = opened
    return session


def _decoder(window: RecordWindow, session: Session) -> ValueDecoder:
    """Decodes recorded results against the recording's content, closures built with the replay's VM."""
    def atom(atom_id: int) -> Atom:
        found = session.world.atoms.get(atom_id)
        return found if found is not None else Atom(atom_id, None)

    # (through the session each time: a restore reloads its interpreter)
    return ValueDecoder(window.content.get, lambda *a: session.interpreter.make_closure(*a),
                        lambda name: session.interpreter.primitive(name), atom)


@dataclass(frozen=True)
class AgentReplay:
    """A program re-run identical to its recording: its session, the events it reproduced, what it returned."""

    session: str
    events: int
    value: Any


def replay_agent(program: Callable[[Session], Any], name: str, store: StoreLike = None) -> AgentReplay:
    """Run ``program(session)`` again against the recording of ``name``; ProgramDiverged at the first difference.

    Offline: no step function, model or tool is called; every answer comes from the log.
    """
    with open_replay(name, store) as session:
        value = program(session)
        session.finish()
        return AgentReplay(name, session.head, value)
