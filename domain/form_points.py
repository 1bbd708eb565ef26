"""Form boundaries: the event numbers a session can be cut at.

A form (or a session action) is one commit: its FormSubmitted, what it
changed, its FormEvaluated, all caused by the first.  A point *inside* one
("after event 12" where 12 is a FormSubmitted and 13..14 are its output and
end) names a state no run ever had: the form has begun and not ended.  A fork,
a snapshot or an image taken there would start from half a form, and a replay
of the fork would stop at that half form.  So the operations that start
something new from a point (``fork``, ``snapshot --at``, ``image save --at``)
refuse such points, naming the nearest boundaries; reads (``state --at``) may
still look inside a form.

Cost: reads the events from ``at`` to the end of the commit holding it (a
form's events), nothing more.
"""

from __future__ import annotations

from tapevm.domain.errors import BadAddress
from tapevm.domain.events import FormSubmitted
from tapevm.domain.lineage import read
from tapevm.domain.ports import EventStore


def commit_around(store: EventStore, stream: str, at: int) -> tuple[int, int, bool] | None:
    """``(first, last, is_form)`` of the commit that holds event ``at`` when ``at`` is inside it
    (not its last event); None when ``at`` is a boundary (or past the head)."""
    events = read(store, stream, at)  # through a fork's lineage
    here = next(events, None)
    if here is None:
        return None
    last = at
    for r in events:
        if r.cause != here.cause or r.cause == r.seq:
            break
        last = r.seq
    if last == at:
        return None
    first = here.cause if 1 <= here.cause <= at else at
    is_form = False
    if first != at or type(here.event) is FormSubmitted:
        start = here if first == at else next(read(store, stream, first, first), None)
        is_form = start is not None and type(start.event) is FormSubmitted
    return first, last, is_form


def refuse_mid_form(store: EventStore, stream: str, at: int, point: str) -> None:
    """BadAddress (a usage error) when ``at`` lies inside a form or session action.

    ``point`` shows a usable point for an event number, with ``{n}`` where the
    number goes: ``"work@{n}"`` for an address, ``"--at {n}"`` for an option.
    """
    found = commit_around(store, stream, at)
    if found is None:
        return
    first, last, is_form = found
    what = "form" if is_form else "commit"
    choices = [point.format(n=n) for n in (first - 1, last) if n >= 1]
    raise BadAddress(f"event {at} is inside {what} {first}..{last}: use {' or '.join(choices)} "
                     f"(a point inside a {what} is a state no run had)")
