"""Checks the reliability tests share: a session's log is whole, gapless and holds each form once."""

from __future__ import annotations

from collections import Counter

from tapevm.domain.ports import EventStore


def check_session_log(store: EventStore, session: str) -> Counter[str]:
    """Assert the session's events are numbered 1..head without gaps; return its forms' sources, counted.

    Reading decodes every record, so this also checks every record's checksum.
    Every FormSubmitted must be followed by its FormEvaluated (a commit is all or nothing).
    """
    head = store.last_seq(session)
    events = list(store.read(session))
    seqs = [e.seq for e in events]
    assert seqs == list(range(1, head + 1)), f"session {session}: event numbers are not 1..{head}"
    sources: Counter[str] = Counter()
    open_form: int | None = None
    for e in events:
        if e.type_name == "FormSubmitted":
            assert open_form is None, f"session {session}: form {open_form} has no FormEvaluated"
            open_form = e.seq
            sources[e.event.source] += 1
        elif e.type_name == "FormEvaluated":
            assert open_form is not None and e.cause == open_form, f"session {session}: stray FormEvaluated {e.seq}"
            open_form = None
        elif open_form is not None:
            assert e.cause == open_form, f"session {session}: event {e.seq} has cause {e.cause}, not {open_form}"
    assert open_form is None, f"session {session}: the last form ({open_form}) is partial"
    return sources
