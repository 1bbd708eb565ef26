"""What each view of ``tape ui`` shows, as data: the library's answers in the JSON shapes of ``--json``.

Every function here is one call into the library the CLI calls (``Store.sessions``, a session's
``events`` and ``state_at``, ``Store.compare``, ``Store.blame``, ``Store.replay``) plus the CLI's own
JSON rendering (``cli/render.py``, ``delta_render``, the commands' ``*_json``), so a page and
``tape ... --json`` cannot disagree.  Nothing here writes: sessions are opened read-only, and replay
verifies in memory (``replay`` never writes to the session it replays; no ``fork`` is passed).

A timeline page reads one window of the log (``PAGE`` events, or up to ``SCAN_LIMIT`` events when
a filter skips some), so its cost does not grow with the session: the session opens from its
nearest checkpoint, and the window is read by event number.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from tapevm.cli import render
from tapevm.cli.branch_commands import change_json
from tapevm.cli.delta_render import delta_json
from tapevm.cli.durable_commands import pending_json
from tapevm.cli.provenance_commands import blame_json, describer
from tapevm.cli.replay_commands import result_json
from tapevm.domain.delta import diff as state_delta
from tapevm.domain.errors import UsageError
from tapevm.domain.events import EVENT_TYPES, MergeApplied, StateRestored
from tapevm.domain.state import State
from tapevm.infrastructure.provenance import audit
from tapevm.infrastructure.session.service import Session
from tapevm.infrastructure.store import Store
from tapevm.infrastructure.stores.registry import resolve_stream
from tapevm.projections.audit import AUDIT_KINDS, SHOWN_WIDTH
from tapevm.vm.state_printer import StatePrinter

PAGE = 100          # events on one timeline page
SCAN_LIMIT = 5_000  # events a filtered page reads at most before it offers to go on
RESTORE_SCAN = 200_000  # the longest session whose restores the slider marks (found by reading its log)


@dataclass(frozen=True)
class TimelineQuery:
    """A timeline view's parameters, as its URL carries them."""

    start: int = 1
    types: tuple[str, ...] = ()
    text: str = ""
    kinds: tuple[str, ...] = ()   # tape audit's kinds: effect, define, fact, file, output, error
    ns: str = ""                  # events naming this namespace (definitions, assignments)
    page: int = PAGE

    def filtered(self) -> bool:
        return bool(self.types or self.text or self.kinds or self.ns)


@dataclass
class Timeline:
    """One page of a session's events (each as ``tape log --json`` prints it) and where to go on."""

    session: str
    head: int
    start: int
    events: list[dict[str, Any]] = field(default_factory=list)
    next_start: int | None = None    # the first event not read yet (None: the head was reached)
    snapshots: list[dict[str, Any]] = field(default_factory=list)
    pending: list[dict[str, Any]] = field(default_factory=list)  # a form suspended at (await ...), as tape pending

    def as_json(self) -> dict[str, Any]:
        return {"session": self.session, "head": self.head, "from": self.start, "next": self.next_start,
                "events": self.events, "snapshots": self.snapshots, "pending": self.pending}


class Source:
    """The store, and the sessions the views read, opened to read (no lease, never created) and kept
    open between requests while they are current: a session is reopened only when its name now
    names another stream (a ``-f`` run) or its head moved, so a view of a large session does not
    fold from a checkpoint on every request.  At most ``KEPT`` sessions are kept (least recently
    used first out).  Not thread-safe: the app uses it under one lock."""

    KEPT = 8
    STATES = 4  # states kept: the slider's last stops (a step needs the previous stop's state again)

    def __init__(self, store: Store) -> None:
        self.store = store
        self.kept: OrderedDict[str, tuple[str, int, Session]] = OrderedDict()
        self.states: OrderedDict[tuple[str, int, int], State] = OrderedDict()
        self.restore_marks: dict[str, tuple[int, list[dict[str, Any]]]] = {}
        self.merge_marks: dict[str, tuple[int, list[dict[str, Any]]]] = {}

    def restores(self, s: Session) -> list[dict[str, Any]] | None:
        """The session's restores (``StateRestored``: event, snapshot, target), found by reading its log
        once and then only what was appended since; None for a session longer than ``RESTORE_SCAN``
        events (reading it whole would cost seconds)."""
        if s.head > RESTORE_SCAN:
            return None
        upto, found = self.restore_marks.get(s.stream, (0, []))
        if upto > s.head:  # (the name now names a shorter stream)
            upto, found = 0, []
        found = found + [{"seq": r.seq, "snapshot": r.event.snapshot, "target": r.event.target}
                         for r in s.events(upto + 1, s.head) if isinstance(r.event, StateRestored)]
        self.restore_marks[s.stream] = (s.head, found)
        return found

    def merges(self, name: str) -> list[dict[str, Any]] | None:
        """What was merged or taken into session ``name`` (its own stream's ``MergeApplied`` events),
        found by reading the stream once and then only what was appended; None past ``RESTORE_SCAN``."""
        stream = resolve_stream(self.store.events, name)
        head = self.store.events.last_seq(stream)
        if head > RESTORE_SCAN:
            return None
        upto, found = self.merge_marks.get(stream, (0, []))
        if upto > head:
            upto, found = 0, []
        found = found + [{"seq": r.seq, "kind": r.event.kind, "source": r.event.source_name,
                          "source_seq": r.event.source_seq}
                         for r in self.store.events.read(stream, upto + 1, head) if isinstance(r.event, MergeApplied)]
        self.merge_marks[stream] = (head, found)
        return found

    def state_at(self, s: Session, n: int) -> State:
        """``s.state_at(n)``, kept for the next few requests (read-only: callers do not change it)."""
        key = (s.stream, s.head, n)
        found = self.states.pop(key, None)
        if found is None:
            found = s.state_at(n)
        self.states[key] = found
        while len(self.states) > self.STATES:
            self.states.popitem(last=False)
        return found

    def session(self, name: str) -> Session:
        stream = resolve_stream(self.store.events, name)
        head = self.store.events.last_seq(stream)
        kept = self.kept.pop(name, None)
        if kept is not None and kept[:2] == (stream, head):
            self.kept[name] = kept
            return kept[2]
        if kept is not None:
            kept[2].close()
        session = self.store.session(name, create=False, writable=False)
        self.kept[name] = (session.stream, session.head, session)
        while len(self.kept) > self.KEPT:
            self.kept.popitem(last=False)[1][2].close()
        return session

    def close(self) -> None:
        while self.kept:
            self.kept.popitem()[1][2].close()


def sessions(src: Source, search: str = "") -> list[dict[str, Any]]:
    """``tape sessions --json``, only those whose name holds ``search`` (case-insensitive), each with
    what was merged into it (``Source.merges``)."""
    wanted = search.casefold()
    return [{**r.as_json(), "merges": src.merges(r.session)} for r in src.store.sessions()
            if wanted in r.session.casefold()]


def check_filters(query: TimelineQuery) -> None:
    for t in query.types:
        if t not in EVENT_TYPES:
            raise UsageError(f"unknown event type {t!r}; known types: {', '.join(sorted(EVENT_TYPES))}")
    for k in query.kinds:
        if k not in AUDIT_KINDS:
            raise UsageError(f"unknown kind {k!r}; kinds: {', '.join(AUDIT_KINDS)}")


def _kind_seqs(src: Source, s: Session, show: StatePrinter, start: int, last: int,
               kinds: tuple[str, ...]) -> set[int] | None:
    """The events of ``start..last`` that ``tape audit --kind`` keeps (None: no kind asked)."""
    if not kinds:
        return None
    return {e.seq for e in audit(src.store.events, s.id, show.cut_at(SHOWN_WIDTH), start, last, kinds)}


def timeline(src: Source, name: str, query: TimelineQuery) -> Timeline:
    """A page of ``name``'s events from ``query.start``, filtered by type and text (in the summary)."""
    check_filters(query)
    s = src.session(name)
    head = s.head
    start = max(1, query.start)
    page = Timeline(session=s.id, head=head, start=start, snapshots=[i.as_json() for i in s.snapshots()],
                    pending=[pending_json(s, p) for p in s.pending()])  # (read-only: a timeout is only flagged)
    if start > head:
        return page
    show = StatePrinter(s.content_through(head))
    last = min(head, start + (SCAN_LIMIT if query.filtered() else query.page) - 1)
    needle = query.text.casefold()
    kept = _kind_seqs(src, s, show, start, last, query.kinds)
    for r in s.events(start, last):
        if query.types and r.event.type_name not in query.types:
            continue
        if (kept is not None and r.seq not in kept) or (query.ns and getattr(r.event, "ns", None) != query.ns):
            continue
        shown = render.event_json(r, show)
        if needle and needle not in shown["summary"].casefold():
            continue
        page.events.append(shown)
        if len(page.events) >= query.page:
            last = r.seq
            break
    page.next_start = last + 1 if last < head else None
    return page


def snapshot_event(src: Source, name: str, snapshot: str) -> int:
    """The event number snapshot ``snapshot`` of ``name`` names (a jump target)."""
    s = src.session(name)
    for info in s.snapshots():
        if info.name == snapshot:
            return info.at
    raise UsageError(f"session {s.id!r} has no snapshot {snapshot!r} (see 'tape snapshots -i {s.id}')")


def state(src: Source, name: str, at: int | None, previous: int | None = None) -> dict[str, Any]:
    """``tape state --json`` after event ``at`` (default the head), the slider's marks, and with
    ``previous``, ``tape delta previous at --json``: what changed since the slider's last stop."""
    s = src.session(name)
    head = s.head
    n = head if at is None else at
    st = src.state_at(s, n)
    data: dict[str, Any] = {"session": s.id, "head": head, "at": n, "state": render.state_json(st),
                            "snapshots": [i.as_json() for i in s.snapshots()], "restores": src.restores(s),
                            "delta": None}
    if previous is not None and previous != n:
        before = src.state_at(s, previous)
        data["delta"] = delta_json(s.id, previous, n, state_delta(before, st), s.content_through(head))
    return data


def diff(src: Source, a: str, b: str) -> dict[str, Any]:
    """``tape diff A B --events --json``, each changed file with its two texts (for a text diff)."""
    cmp = src.store.compare(a, b, events=True)
    show_a, show_b = StatePrinter(cmp.a_state), StatePrinter(cmp.b_state)
    changes = [change_json(c, show_a, show_b) for c in cmp.diff.changes]
    for c in changes:
        if c["kind"] == "file":
            c["a_text"] = file_text(cmp.a_state, c["a"])
            c["b_text"] = file_text(cmp.b_state, c["b"])
    return {"a": cmp.a, "b": cmp.b, "changes": changes,
            "events": {"common_ancestor": cmp.common_ancestor, "first_difference": cmp.first_difference}}


TEXT_LIMIT = 256 * 1024  # bytes of a file shown as text in a diff


def file_text(st: Any, key: str | None) -> str | None:
    """A world file's content as text, when it is UTF-8 and small enough to diff; else None."""
    if key is None or key not in st.blobs:
        return None
    content = bytes(st.blobs.get(key))
    if len(content) > TEXT_LIMIT:
        return None
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        return None


def blame(src: Source, name: str, *, binding: str | None = None, fact: str | None = None,
          file: str | None = None, at: int | None = None) -> dict[str, Any]:
    """``tape blame --json``: the event and form that produced a binding, fact or file, and its history."""
    s = src.session(name)
    if at is not None and not 1 <= at <= s.head:
        raise UsageError(f"session {s.id!r} has events 1..{s.head}; there is no event {at}")
    result = src.store.blame(s.id, binding, fact=fact, file=file, at=at)
    if not result.history:
        raise UsageError(f"nothing in session {s.id!r} up to event {result.at} touched {result.target}")
    return blame_json(result, describer(result.kind, s.state))


def replay(src: Source, name: str) -> dict[str, Any]:
    """``tape replay --verify --json``: re-run offline, answers from the log; nothing is written."""
    return result_json(src.store.replay(name, verify=True))


def head_of(src: Source, name: str) -> int:
    """The session's last event number now (the live view polls it)."""
    return src.session(name).head


def new_events(src: Source, name: str, after: int) -> Iterator[dict[str, Any]]:
    """The events after ``after`` (the live view's news), as ``tape log --json`` lines."""
    s = src.session(name)
    show = StatePrinter(s.content_through(s.head))
    events = [render.event_json(r, show) for r in s.events(after + 1, s.head)]
    yield from events
