"""Forms interrupted between their effects and their end, and how to finish them.

A form with effects commits its FormSubmitted and each effect before it ends
(see :mod:`tapevm.infrastructure.session.effects`).  If the process dies in between,
the log ends with a FormSubmitted (and maybe effects) but no FormEvaluated.
The session notices this when it opens (:func:`find_unfinished_form`) and
refuses to run new forms until the form is finished: ``Session.resume`` re-runs
it (:func:`form_to_resume` reads it back) with every recorded effect answered
from the log (nothing paid for is asked again, nothing is recorded twice) and
performs the remaining effects for real; its mutations and FormEvaluated then
commit as usual.

Or the form is *abandoned* on purpose (``Session.abandon``, ``tape resume
--abandon``): a form that would only run away again (a loop with an effect in
it) must not hold its session hostage.  Abandoning commits the form's end as a
``FormEvaluated`` with the error kind ``abandoned`` (:func:`abandoned_outcome`):
like any failed form it changes nothing, what it recorded (its effects) stays in
the log, and a replay re-appends those events as they are instead of running
the form again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple, Protocol

from tapevm.domain.errors import UsageError
from tapevm.domain.events import (
    Event,
    FormEvaluated,
    FormSubmitted,
    ImageLoaded,
    RecordedEvent,
    SessionStarted,
)
from tapevm.domain.ports import EventStore
from tapevm.domain.state import State
from tapevm.infrastructure.session.effects import RecordedAnswers, SessionEffects, recorded_effects_of
from tapevm.infrastructure.stores.named_sessions import NamedSessions
from tapevm.vm.interpreter import Interpreter
from tapevm.vm.world import World
from tapevm.vm.world_state import make_decoder

# The error kind of a form abandoned after it was interrupted.
ABANDONED = "abandoned"

# Events a session writes outside any form: a log ending with one does not end inside a form.
_NEVER_IN_A_FORM = (FormEvaluated, ImageLoaded, SessionStarted)
_NEVER_IN_A_FORM_NAMES = frozenset(t.type_name for t in _NEVER_IN_A_FORM)


def find_unfinished_form(store: EventStore, name: str, head: int,
                         read: Callable[[int, int], Iterable[RecordedEvent]] | None = None,
                         head_type: str | None = None) -> int | None:
    """The event number of the FormSubmitted whose form never ended, if the log ends inside one.

    ``name`` is the session's name.  ``read(a, b)`` reads the session's events ``a..b`` (the session passes its lineage, already
    resolved, so that opening does not look up the session's first record again: after ``tape
    image load`` that record holds the whole image, and each look-up decoded it).  ``head_type``,
    the type of event ``head`` when the caller knows it (it just folded it), saves reading the head
    record in the usual case of a log that ends between forms.
    """
    if head_type in _NEVER_IN_A_FORM_NAMES:
        return None
    if read is None:
        named = NamedSessions.of(store)

        def read(a: int, b: int) -> Iterable[RecordedEvent]:
            return named.read(name, a, b)

    if head < 2:
        return None
    last = next(iter(read(head, head)), None)
    if last is None or type(last.event) in _NEVER_IN_A_FORM:
        return None
    first = last if last.cause == last.seq else next(iter(read(last.cause, last.cause)), None)
    if first is None or type(first.event) is not FormSubmitted:
        return None
    # What a form asked of the session ((snapshot! ...), (restore! ...)) is appended after its
    # FormEvaluated, in the same commit: a form that ended has one among its events.
    if last is not first and any(type(r.event) is FormEvaluated for r in read(first.seq, head)):
        return None
    return first.seq


class AbandoningSession(Protocol):
    """What abandoning needs of a session: its unfinished form, and a commit caused by it."""

    unfinished: int | None

    def append_caused(self, events: list[Event], cause: int) -> list[RecordedEvent]: ...


def abandon(session: AbandoningSession) -> int | None:
    """Commit the end of the session's unfinished form (:func:`abandoned_outcome`); its event number, or
    None when no form is unfinished."""
    seq = session.unfinished
    if seq is None:
        return None
    recorded = session.append_caused([abandoned_outcome()], seq)
    session.unfinished = None
    return recorded[0].seq


class InterruptedSession(Protocol):
    """What reading back an unfinished form needs of its session: its events, its live VM and state
    (to decode the recorded effect results) and its effect port (for the effects still to perform)."""

    def events(self, start: int = 1, stop: int | None = None) -> Iterator[RecordedEvent]: ...
    @property
    def live_state(self) -> State: ...
    @property
    def world(self) -> World: ...
    @property
    def interpreter(self) -> Interpreter: ...
    @property
    def effects(self) -> SessionEffects: ...


class FormToResume(NamedTuple):
    """An unfinished form read back from the log, and the answers its recorded effects get."""

    form: Any
    submitted: FormSubmitted
    answers: RecordedAnswers


def form_to_resume(session: InterruptedSession, seq: int) -> FormToResume:
    """The form whose FormSubmitted is event ``seq``, parsed again, with its recorded effects as answers
    (decoded against the session's state; effects the log lacks are performed for real)."""
    events: list[RecordedEvent] = list(session.events(seq))
    submitted = events[0].event
    assert isinstance(submitted, FormSubmitted)
    parsed = session.interpreter.read_forms(submitted.source, submitted.file)
    if len(parsed) != 1:
        raise UsageError(f"event {seq}: the recorded form does not read back as one form")
    decoder = make_decoder(session.live_state, session.world, session.interpreter)
    answers = RecordedAnswers(recorded_effects_of(events), decoder.decode, fallback=session.effects.live,
                              record_known=False)
    return FormToResume(parsed[0][0], submitted, answers)


def abandoned_outcome() -> FormEvaluated:
    """The end of an interrupted form that is abandoned, not resumed (appended with its FormSubmitted as cause)."""
    return FormEvaluated(ok=False, error_kind=ABANDONED,
                         error_message="the form was interrupted and then abandoned ('tape resume --abandon'): "
                                       "nothing it changed was kept; its recorded effects stay in the log")
