"""Forms interrupted between their effects and their end, and how to finish them.

A form with effects commits its FormSubmitted and each effect before it ends
(see :mod:`tapevm.infrastructure.session.effects`).  If the process dies in between,
the log ends with a FormSubmitted (and maybe effects) but no FormEvaluated.
The session notices this when it opens (:func:`find_unfinished_form`) and
refuses to run new forms until the form is finished: :func:`resume_form`
re-runs it with every recorded effect answered from the log (nothing paid for
is asked again, nothing is recorded twice) and performs the remaining effects
for real; its mutations and FormEvaluated then commit as usual.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from tapevm.domain.errors import UsageError
from tapevm.domain.events import FormEvaluated, FormSubmitted, ImageLoaded, RecordedEvent, SessionStarted
from tapevm.infrastructure.session.effects import RecordedAnswers, RecordedEffect
from tapevm.infrastructure.stores.named_sessions import NamedSessions
from tapevm.domain.ports import EventStore
from tapevm.vm.world_state import make_decoder

if TYPE_CHECKING:
    from tapevm.infrastructure.session.service import FormOutcome, Session


# Events a session writes outside any form: a log ending with one does not end inside a form.
_NEVER_IN_A_FORM = (FormEvaluated, ImageLoaded, SessionStarted)
_NEVER_IN_A_FORM_NAMES = frozenset(t.type_name for t in _NEVER_IN_A_FORM)


def find_unfinished_form(store: EventStore, session_id: str, head: int,
                         read: Callable[[int, int], Iterable[RecordedEvent]] | None = None,
                         head_type: str | None = None) -> int | None:
    """The event number of the FormSubmitted whose form never ended, if the log ends inside one.

    ``read(a, b)`` reads the session's events ``a..b`` (the session passes its lineage, already
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
            return named.read(session_id, a, b)

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


def resume_form(session: Session) -> FormOutcome | None:
    """Finish the session's unfinished form (None when there is none); see the module docstring."""
    from tapevm.infrastructure.session.replay import _effects_of  # the same grouping replay uses

    seq = session.unfinished
    if seq is None:
        return None
    events: list[RecordedEvent] = list(session.events(seq))
    submitted = events[0].event
    assert isinstance(submitted, FormSubmitted)
    parsed = session.interpreter.read_forms(submitted.source, submitted.file)
    if len(parsed) != 1:
        raise UsageError(f"event {seq}: the recorded form does not read back as one form")
    decoder = make_decoder(session._state, session.world, session.interpreter)
    recorded: dict[int, RecordedEffect] = _effects_of(events)
    session.effects.source = RecordedAnswers(recorded, decoder.decode, fallback=session.effects.live,
                                             record_known=False)
    try:
        outcome = session._run_form(parsed[0][0], submitted.line, submitted.column, submitted.source,
                                    submitted.file, committed_seq=seq)
    finally:
        session.effects.source = session.effects.live
    session.unfinished = None
    return outcome
