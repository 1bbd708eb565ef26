"""Running forms against a session other writers append to too: re-open at the new head and retry.

Writers that share a session on purpose open it with ``lease=False`` (the
writer lease would refuse all but one).  Two such writers are serialised by
the store: the second to commit
at a given event number gets a ConflictError, and its form's changes are
rolled back (the live VM never runs ahead of the log).  The clean recovery is
to re-open the session at its new head (folding what the other writer
committed) and evaluate the form again, now on top of the other writer's
changes.

This is only valid for forms whose evaluation has no effect outside the VM:
a form is evaluated again from scratch, so anything it did to the outside
world would happen twice.  Every form of the tapevm language today is pure in
that sense; when forms with effects exist, callers must not retry those.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from tapevm.domain.errors import ConflictError
from tapevm.infrastructure.logs import get_logger
from tapevm.infrastructure.session.service import FormOutcome, Session

log = get_logger("tapevm.retry")

DEFAULT_ATTEMPTS = 50


def run_retrying(
    session: Session,
    source: str,
    file: str = "<input>",
    *,
    attempts: int = DEFAULT_ATTEMPTS,
    backoff: float = 0.002,
    on_conflict: Callable[[int], None] | None = None,
) -> tuple[Session, list[FormOutcome]]:
    """Run every top-level form of ``source``, retrying each that loses a race to another writer.

    Returns the session to keep using (a re-opened one after any conflict;
    the one passed in is then spent) and one outcome per form.  Forms that
    committed are never run again; a form that conflicts ``attempts`` times in
    a row raises the last ConflictError.  Between attempts it sleeps a random
    time up to ``backoff * 2**attempt`` seconds so contending writers spread out;
    ``on_conflict(attempt)`` is called for each conflict (counting, tests).
    """
    outcomes: list[FormOutcome] = []
    for form, line, column, text in session.interpreter.read_forms(source, file):
        for attempt in range(attempts):
            try:
                outcomes.append(session.run_form(form, line, column, text, file))
                break
            except ConflictError:
                if on_conflict is not None:
                    on_conflict(attempt + 1)
                if attempt == attempts - 1:
                    raise
                log.debug("conflict_retry", session=session.id, attempt=attempt + 1)
                time.sleep(random.uniform(0, backoff * 2 ** min(attempt, 8)))
                session = session.reopen()
                # the form was read by the old session's reader; read it again for the new one
                (form, line, column, text), = _reread(session, text, file, line, column)
    return session, outcomes


def _reread(session: Session, text: str, file: str, line: int, column: int) -> list[tuple[object, int, int, str]]:
    forms = session.interpreter.read_forms(text, file)
    return [(f, line, column, t) for f, _, _, t in forms]
