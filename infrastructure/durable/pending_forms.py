"""Which form of a session is pending, read from its log: pure over the events of its unfinished form.

A form is *pending* when its events (those caused by its FormSubmitted) end with a
FormSuspended that no AwaitAnswered follows.  A form whose last suspension was answered
but that never ended was interrupted after its answer: it is resumed from that
continuation with the recorded answer (see suspension.py), never suspended again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tapevm.domain.events import AwaitAnswered, FormSubmitted, FormSuspended, RecordedEvent


@dataclass(frozen=True)
class PendingForm:
    """A form suspended at ``(await tag ...)``: what ``tape pending`` shows and ``answer`` needs."""

    session: str
    seq: int                    # its FormSubmitted's event number
    suspended_at: int           # the FormSuspended's event number
    tag: str
    payload: Any                # the encoded payload (decode against the session's state)
    since: float                # when it suspended (seconds since the epoch)
    deadline_ms: int | None     # when it times out unanswered (epoch milliseconds), or None
    timeout_ms: int | None      # the await's :timeout-ms
    source: str                 # the form's text
    where: str                  # file:line of the form
    stack: list[dict[str, Any]] = field(default_factory=list)
    continuation: Any = None    # the encoded continuation

    def timed_out(self, now_ms: int) -> bool:
        return self.deadline_ms is not None and now_ms >= self.deadline_ms


@dataclass(frozen=True)
class LastSuspension:
    """The latest suspension of an unfinished form, and its recorded answer if it has one."""

    pending: PendingForm
    answer: AwaitAnswered | None


def last_suspension(session: str, form_events: list[RecordedEvent],
                    submitted_at: RecordedEvent | None = None) -> LastSuspension | None:
    """The latest FormSuspended of one form's events and its answer; None if it never suspended.

    ``form_events`` start with the form's FormSubmitted, or are a tail of its events (then
    ``submitted_at`` is its FormSubmitted): a form of many effects need not be read whole."""
    first = submitted_at if submitted_at is not None else (form_events[0] if form_events else None)
    if first is None or type(first.event) is not FormSubmitted:
        return None
    submitted = first.event
    found: RecordedEvent | None = None
    answer: AwaitAnswered | None = None
    for r in form_events:
        e = r.event
        if type(e) is FormSuspended:
            found, answer = r, None
        elif type(e) is AwaitAnswered and found is not None:
            answer = e
    if found is None:
        return None
    e = found.event
    assert isinstance(e, FormSuspended)
    pending = PendingForm(session, first.seq, found.seq, e.tag, e.payload, found.recorded_at,
                          e.deadline_ms, e.timeout_ms, submitted.source, f"{submitted.file}:{submitted.line}", list(e.stack),
                          e.continuation)
    return LastSuspension(pending, answer)
