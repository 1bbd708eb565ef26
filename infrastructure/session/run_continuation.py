"""Continuing a program run after an exit or a crash (``tape run -u FILE``).

A run commits one form at a time, so after a crash the session holds a prefix
of the program's forms.  Running the same file again with ``-u`` must run only
the rest: this module finds how many of the file's forms the session's latest
run of it committed successfully, by matching the recorded FormSubmitted
events (file, line, column and source text) against the file's forms.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from tapevm.domain.events import FormEvaluated, FormSubmitted, RecordedEvent


class SessionLog(Protocol):
    """All a continuation reads of a session: its events."""

    def events(self, start: int = 1, stop: int | None = None) -> Iterator[RecordedEvent]: ...


def committed_forms(session: SessionLog, file: str, forms: list[tuple[int, int, str]]) -> int:
    """How many leading forms of ``file`` (``(line, column, text)`` each) the latest run committed.

    The latest run starts at the last FormSubmitted of the file's first form;
    a form counts once its FormEvaluated says it succeeded.  Counting stops at
    the first form that failed or differs from the file (it was fixed or
    edited since): the run continues from there.
    """
    if not forms:
        return 0
    count = 0
    pending: tuple[int, int] | None = None  # (event number, index in forms) of a submitted form
    for r in session.events():
        e = r.event
        if isinstance(e, FormSubmitted) and e.file == file:
            key = (e.line, e.column, e.source)
            if key == forms[0]:
                count, pending = 0, (r.seq, 0)
            elif count < len(forms) and pending is None and key == forms[count]:
                pending = (r.seq, count)
            else:
                pending = None
        elif isinstance(e, FormEvaluated) and pending is not None and r.cause == pending[0]:
            if e.ok and pending[1] == count:
                count += 1
            pending = None
    return count
