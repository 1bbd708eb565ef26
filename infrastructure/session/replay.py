"""Deterministic replay: re-execute a session's recorded inputs with every effect answered from its log.

``replay(store, session)`` reads the recorded log once, front to back.  Each
recorded FormSubmitted is run again, in order, on a fresh VM whose effect port
answers from the log (:class:`~tapevm.infrastructure.session.effects.RecordedAnswers`):
no provider or tool is called.  Session actions that no form produced (a
FileImported, and what other features add: snapshots, restores, forks...) are
re-applied from the log as they are.

* ``verify=True``: the replay writes into a :class:`VerifyingStore`, which
  compares every produced event with the recorded one at the same number
  (ignoring wall-clock time, effect durations and the tapevm version) and stops
  at the first difference with a :class:`DivergenceReport`.
* ``program=...``: the recorded forms are replaced, one for one, by the forms
  of a new program (what changed code does against the recorded effects);
  FormSubmitted events are then not compared.
* ``fork=NEW``: the replay writes a NEW, ordinary session in the same store;
  with ``live_from=N`` every form from event N on performs its effects for
  real (a what-if run), earlier forms get the recorded answers.  A fork
  compares no event: its final state is compared with the record's.

Pure VM behaviour is deterministic, so a divergence always has a cause the
report names: changed code (another tapevm, a changed program) or an effect
requested with other arguments.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tapevm.domain.content import ContentTable, canonical_bytes
from tapevm.domain.errors import (
    FormPending,
    HistoryIsArchived,
    ReplayDivergence,
    SessionExists,
    SessionNotFound,
    TapeError,
    UsageError,
)
from tapevm.domain.events import (
    ContentStored,
    EffectCompleted,
    EffectRequested,
    Event,
    FormEvaluated,
    FormSubmitted,
    FormSuspended,
    RecordedEvent,
    SessionStarted,
)
from tapevm.domain.fold import fold_event, fold_fields
from tapevm.domain.ports import EventStore, SessionHead
from tapevm.domain.state import State
from tapevm.infrastructure.logs import get_logger
from tapevm.infrastructure.session import time_travel
from tapevm.infrastructure.session.effects import (
    EffectArgumentsDiffer,
    RecordedAnswers,
    effect_key,
    recorded_effects_of,
)
from tapevm.infrastructure.session.service import Session
from tapevm.infrastructure.session.unfinished_form import ABANDONED
from tapevm.infrastructure.stores.named_sessions import NamedSessions
from tapevm.projections.divergence import explain_divergence
from tapevm.projections.state_diff import StateChange, diff_states, state_changes
from tapevm.vm.limits import FormLimits, replay_limits
from tapevm.vm.reader import read_forms
from tapevm.vm.value_codec import ValueDecoder
from tapevm.vm.values import Atom

log = get_logger("tapevm.replay")

# Fields a replay may legitimately change: not compared.
IGNORED_FIELDS: dict[str, frozenset[str]] = {
    SessionStarted.type_name: frozenset({"tapevm_version"}),
    EffectCompleted.type_name: frozenset({"duration_ms"}),
    FormSuspended.type_name: frozenset({"deadline_ms"}),  # from the wall clock when it suspended
}
PROGRAM_IGNORED = frozenset({"source", "file", "line", "column"})


# -- the report -------------------------------------------------------------------------
@dataclass
class DivergenceReport:
    """The first event where a replay disagrees with the record, and why."""

    seq: int                         # the event number where they differ
    cause: str                       # what a person should look at
    form_seq: int | None             # the recorded input being replayed
    form_file: str = ""
    form_line: int = 0
    form_source: str = ""
    expected: RecordedEvent | None = None
    actual: RecordedEvent | None = None
    state_diff: list[StateChange] = field(default_factory=list)
    expected_state: State | None = None   # to print the diff's values
    actual_state: State | None = None


@dataclass
class ReplayResult:
    """What a replay did, and what it compared.

    ``compared``: every produced event was compared with the recorded one (a replay in memory; a fork
    writes a real session and compares no event).  ``recorded``: the events the replay was to cover (the
    record's head, or the end of ``to``'s form); ``complete``: it got there (a recording that ends inside
    an interrupted form stops before it).  ``state_changes``: for a fork, how its final state differs from
    the record's at the same point (what ``tape diff`` would show), empty when they agree.  ``ok`` only
    when no event diverged AND the whole of ``recorded`` was covered; ``identical``: ok, and a fork's
    state equals the record's too.
    """

    session: str
    target: str                   # the session written (== session unless forked)
    events: int                   # events produced
    forms: int
    seconds: float
    compared: bool
    divergence: DivergenceReport | None = None
    note: str = ""
    recorded: int = 0
    complete: bool = True
    state_changes: list[StateChange] = field(default_factory=list)
    compared_states: tuple[State, State] | None = None  # (record's, fork's): to print state_changes

    @property
    def ok(self) -> bool:
        return self.divergence is None and self.complete

    @property
    def identical(self) -> bool:
        return self.ok and not self.state_changes

    @property
    def verified(self) -> bool:
        """Every event of ``recorded`` was compared and agreed with the record."""
        return self.compared and self.ok


class _Diverged(ReplayDivergence):
    """Raised inside a replay's append: the produced commit differs from the record at ``seq``."""

    def __init__(self, seq: int, expected: RecordedEvent | None, actual: RecordedEvent,
                 commit: Sequence[RecordedEvent]) -> None:
        super().__init__(f"event {seq} differs from the record")
        self.seq = seq
        self.expected = expected
        self.actual = actual
        self.commit = list(commit)


# -- the record, read once -----------------------------------------------------------------
class RecordWindow:
    """Random access by event number over a forward-only read of the recorded log.

    Keeps the events from ``floor`` on; feeds every recorded ContentStored into
    ``content`` (effect results are decoded against the record's own content).
    """

    def __init__(self, events: Iterator[RecordedEvent]) -> None:
        self._events = events
        self._by_seq: dict[int, RecordedEvent] = {}
        self._last = 0
        self.content = ContentTable()

    def get(self, seq: int) -> RecordedEvent | None:
        while self._last < seq:
            r = next(self._events, None)
            if r is None:
                return None
            self._last = r.seq
            self._by_seq[r.seq] = r
            if type(r.event) is ContentStored:
                for key, node in r.event.nodes:
                    self.content.add(key, canonical_bytes(node))
        return self._by_seq.get(seq)

    def drop_before(self, seq: int) -> None:
        for k in [k for k in self._by_seq if k < seq]:
            del self._by_seq[k]


def same_event(expected: RecordedEvent, actual: RecordedEvent, ignore_input: bool = False) -> bool:
    """Equal for replay purposes: type, cause and fields, minus wall-clock and version fields."""
    if expected.event.type_name != actual.event.type_name or expected.cause != actual.cause:
        return False
    a, b = expected.event.__dict__, actual.event.__dict__
    ignored = IGNORED_FIELDS.get(expected.event.type_name)
    if ignore_input and type(expected.event) is FormSubmitted:
        ignored = PROGRAM_IGNORED
    if type(expected.event) is ContentStored:
        # a blob is its key (the hash of the whole content); whether it was stored whole or as
        # what it appends to the file's previous version is storage, which a newer tapevm may do better
        return a["nodes"] == b["nodes"] and [e[0] for e in a["blobs"]] == [e[0] for e in b["blobs"]]
    if ignored is None:
        return a == b
    return {k: v for k, v in a.items() if k not in ignored} == {k: v for k, v in b.items() if k not in ignored}


class VerifyingStore(EventStore):
    """An in-memory store that compares each appended event with the record before accepting it.

    It keeps only the most recent events (``KEEP``): the replay session needs
    its folded state, not its log, and a million kept events would cost
    hundreds of megabytes.  Reads of older events return nothing.
    """

    KEEP = 1024

    def __init__(self, window: RecordWindow, url_for_display: str, ignore_input: bool = False) -> None:
        self.window = window
        self.url_for_display = f"replay of {url_for_display}"
        self.ignore_input = ignore_input
        self.kept: list[RecordedEvent] = []  # the last events, numbers head-len(kept)+1..head
        self.head = 0

    def append(self, events: Sequence[RecordedEvent], *, fork_start: bool = False) -> None:
        for r in events:
            expected = self.window.get(r.seq)
            if expected is None or not same_event(expected, r, self.ignore_input):
                raise _Diverged(r.seq, expected, r, events)
        self.kept.extend(events)
        self.head = events[-1].seq
        if len(self.kept) > 2 * self.KEEP:
            del self.kept[:-self.KEEP]

    def read(self, session: str, start: int = 1, stop: int | None = None) -> Iterator[RecordedEvent]:
        last = stop if stop is not None else self.head
        return iter([r for r in self.kept if start <= r.seq <= last])

    def read_fields(self, session: str, start: int = 1, stop: int | None = None) -> Iterator[tuple[int, str, dict[str, Any]]]:
        return ((r.seq, r.event.type_name, r.event.__dict__) for r in self.read(session, start, stop))

    def last_seq(self, session: str) -> int:
        return self.head

    def sessions(self) -> list[SessionHead]:
        return []

    def close(self) -> None:
        pass


# -- the driver --------------------------------------------------------------------------------
def check_live_effects(live: bool, fork: str | None) -> None:
    """Live effects are performed for real: only into a fork, so the original stays untouched."""
    if live and fork is None:
        raise UsageError("--live-effects performs effects for real: it needs --fork NEW (the original stays untouched)")


def replay(
    store: EventStore,
    session_id: str,
    *,
    to: int | None = None,
    verify: bool = False,
    program: str | os.PathLike[str] | list[tuple[Any, int, int, str, str]] | None = None,
    fork: str | None = None,
    live_from: int | None = None,
    session_factory: Any = None,
    limits: FormLimits | None = None,
) -> ReplayResult:
    """Replay ``session_id`` (see the module docstring); never writes to ``session_id`` itself.

    ``program``: the forms to run in place of the recorded ones: Lisp source text (a ``str``),
    a path to a file of it (a ``pathlib.Path``), or a list of ``(form, line, column, text,
    file)`` as ``Interpreter.read_forms`` returns them (plus the file name).
    ``session_factory(store, id)`` lets a caller register tools and providers
    on a forked session (live effects need them).  ``limits``: what each replayed form may use (default:
    the replaying session's, from ``TAPE_MAX_*``); a form a limit stopped is stopped as recorded.
    """
    program = program_forms(program)
    store = NamedSessions.of(store)  # the session's name reads its whole lineage (renames, forks)
    started = time.perf_counter()
    window = RecordWindow(store.read(session_id))
    first = window.get(1)
    if first is None:
        if store.last_seq(session_id):  # (its first events were archived: 'tape archive')
            raise HistoryIsArchived(f"session {session_id!r}: its first events are archived; replay an image of it")
        raise SessionNotFound(f"no session {session_id!r} in {store.url_for_display} (run 'tape sessions')")
    check_live_effects(live_from is not None, fork)
    _check_target(store, session_id, to, fork)
    target = fork if fork is not None else session_id
    target_store: EventStore = (store if fork is not None
                                else VerifyingStore(window, store.url_for_display, ignore_input=program is not None))
    recorded_vm: int | None = getattr(first.event, "vm_version", None)  # its values are encoded as it says
    make = session_factory or (lambda st, sid: Session(st, sid, vm_version=recorded_vm))
    run = _ReplayRun(window, iter(program) if program is not None else None, to, fork, live_from, current=first)
    try:
        session = make(target_store, target)
        run.limits = limits if limits is not None else session.limits
        # a replay changes nothing outside the store: (save-image "f") is recorded, but the file the
        # original run wrote is left as it is (a fork's changed program overwrote it with other content)
        session.writes_images = False
        session.image_writer = time_travel.RecordedImages(run.window.get)  # (load-image ...) loads what was loaded
        try:
            note = run.replay_into(session, verify)
            result = _result(session_id, target, session, run.forms, started, fork is None, note=note)
            result.recorded, result.complete = run.covers(store.last_seq(session_id)), not note
            if fork is not None:
                result.compared_states = (_recorded_state(store, session_id, result.recorded), session.state)
                result.state_changes = state_changes(diff_states(*result.compared_states), *result.compared_states)
            return result
        finally:
            session.effects.source = session.effects.live
            if fork is not None:
                session.close()
    except _Diverged as d:
        if not verify and fork is None:
            raise ReplayDivergence(f"event {d.seq}: replay differs from the record (run with --verify for a report)") from None
        report = _report(store, session_id, d, run.current, session, program is not None, run.where,
                         getattr(first.event, "tapevm_version", None))
        return _result(session_id, target, session, run.forms, started, fork is None, divergence=report)
    except ReplayDivergence as d:  # raised by an effect: other arguments, or an effect the record lacks
        seq = session.head + 1
        report = _effect_report(store, session_id, d, seq, window, run.current, session, run.where)
        return _result(session_id, target, session, run.forms, started, fork is None, divergence=report)


def program_forms(program: str | os.PathLike[str] | list[tuple[Any, int, int, str, str]] | None
                  ) -> list[tuple[Any, int, int, str, str]] | None:
    """``replay``'s ``program`` as forms: source text is read as ``<program>``, a path's file as its
    name (a missing or unreadable file is a UsageError; a syntax error a ReadError, before anything runs)."""
    if program is None or isinstance(program, list):
        return program
    text, file = (program, "<program>") if isinstance(program, str) else ("", "")
    if not isinstance(program, str):
        try:
            text, file = Path(program).read_text(encoding="utf-8"), os.fspath(program)
        except (OSError, UnicodeDecodeError) as e:
            raise UsageError(f"cannot read the program {os.fspath(program)!r}: {getattr(e, 'strerror', None) or e}") from None
    return [(form, line, column, source, file) for form, line, column, source in read_forms(text, file)]


def _check_target(store: EventStore, name: str, to: int | None, fork: str | None) -> None:
    """Refuse a ``to`` past the recording's head and a ``fork`` name that is taken."""
    head = store.last_seq(name)
    if to is not None and to > head:
        raise UsageError(f"--to {to}: session {name!r} has events 1..{head}; there is no event {to}")
    if fork is not None and store.last_seq(fork) != 0:
        raise SessionExists(f"session {fork!r} already exists; choose a new name for --fork")


@dataclass
class _ReplayRun:
    """One replay's walk over the record, and how far it got (what a divergence report names)."""

    window: RecordWindow
    program: Iterator[tuple[Any, int, int, str, str]] | None  # the forms replacing the recorded ones
    to: int | None
    fork: str | None
    live_from: int | None
    forms: int = 0
    limits: FormLimits | None = None  # the limits of forms that have no recorded outcome
    current: RecordedEvent | None = None  # the recorded event being replayed
    # file, line and source of the form being replayed (the program's, with ``program``)
    where: tuple[str, int, str] = ("", 0, "")
    last: int = 0  # the last recorded event replayed

    def covers(self, head: int) -> int:
        """The recorded events this replay was to cover: all of them, or up to the end of ``to``'s form."""
        return head if self.to is None else min(head, max(self.to, self.last))

    def replay_into(self, session: Session, verify: bool) -> str:
        """Run the recorded forms and re-apply the session actions into ``session``; a note when the
        recording ends inside a form ("" otherwise)."""
        decoder = _record_decoder(self.window, session)
        rseq = 2  # the next recorded event to replay (event 1 is SessionStarted, made by the Session)
        while (r := self.window.get(rseq)) is not None and (self.to is None or rseq <= self.to):
            self.current = r
            if type(r.event) is FormSubmitted and r.cause == r.seq:
                form_events = _form_events(self.window, r)
                if not _finished(form_events) and self.fork is None and self.live_from is None:
                    return (f"stopped at event {r.seq}: this form has no recorded end (it was interrupted, or the "
                            "session was forked inside it); nothing from it on was replayed")
                if _outcome(form_events, ABANDONED) is not None:  # never ended: what it recorded, as it is
                    _reapply(session, [c.event for c in form_events])
                else:
                    self._replay_form(session, r, form_events, decoder)
                rseq = form_events[-1].seq + 1
            else:
                commit = _commit_events(self.window, r)
                _reapply(session, [c.event for c in commit])
                rseq = commit[-1].seq + 1
            self.last = rseq - 1
            self.window.drop_before(rseq)
        if self.program is not None:
            extra = next(self.program, None)
            if extra is not None and verify:
                raise _ProgramLonger(session.head + 1, extra)
        return ""

    def _replay_form(self, session: Session, r: RecordedEvent, form_events: list[RecordedEvent],
                     decoder: ValueDecoder) -> None:
        """Run the recorded form ``r`` again (or the program's form in its place), its effects answered
        from ``form_events`` unless they are live from here on."""
        e = r.event
        assert isinstance(e, FormSubmitted)
        source = _program_form(self.program, r) if self.program is not None else None
        self.where = (source[4], source[1], source[3]) if source is not None else (e.file, e.line, e.source)
        live = self.live_from is not None and r.seq >= self.live_from
        session.effects.source = (session.effects.live if live else RecordedAnswers(
            recorded_effects_of(form_events), decoder.decode,
            fallback=session.effects.live if self.live_from is not None else None))
        # The recorded outcome's limits (vm/limits.py): a form a limit stopped stops at the same point;
        # the others run under the replay's limits, without a time limit (time is not replayed).
        outcome = _outcome(form_events)
        stopped = None if outcome is None else replay_limits(outcome.error_kind, outcome.error_message)
        if stopped is not None:
            session.limits = stopped
        elif self.limits is not None:
            session.limits = self.limits.with_values(max_time=None)
        if source is None:
            parsed = session.interpreter.read_forms(e.source, e.file)
            if len(parsed) != 1:
                raise UsageError(f"event {r.seq}: the recorded form does not read back as one form")
            source = (parsed[0][0], e.line, e.column, e.source, e.file)
        form, line, column, text, file = source
        try:
            session.run_form(form, line, column, text, file, render_value=False)
        except FormPending:  # it awaited: the recorded answers, in order (infrastructure/durable/)
            session.finish_recorded(form_events, decoder.decode)
        self.forms += 1


class _ProgramLonger(ReplayDivergence):
    def __init__(self, seq: int, form: tuple[Any, int, int, str, str]) -> None:
        super().__init__(f"event {seq}: the program has more forms than the recording")
        self.seq, self.form = seq, form


def _result(name: str, target: str, session: Session, forms: int, started: float, compared: bool,
            divergence: DivergenceReport | None = None, note: str = "") -> ReplayResult:
    return ReplayResult(name, target, session.head, forms, time.perf_counter() - started, compared, divergence, note)


def _record_decoder(window: RecordWindow, session: Session) -> ValueDecoder:
    """Decodes recorded effect results against the record's content, building closures with the replay VM."""
    def atom(atom_id: int) -> Atom:
        found = session.world.atoms.get(atom_id)
        return found if found is not None else Atom(atom_id, None)

    interp = session.interpreter
    return ValueDecoder(window.content.get, interp.make_closure, interp.primitive, atom)


def _form_events(window: RecordWindow, submitted: RecordedEvent) -> list[RecordedEvent]:
    """The recorded events of one form: consecutive, all caused by its FormSubmitted.

    They run past its FormEvaluated when the form made session requests: ``(snapshot! ...)`` and
    ``(restore! ...)`` append their SnapshotTaken / StateRestored after the form's events, in the
    same commit and with the same cause.  Re-running the form produces those again, so they are
    the form's, not a session action to re-apply after it (which would append them twice).
    """
    out = [submitted]
    seq = submitted.seq + 1
    while True:
        r = window.get(seq)
        if r is None or r.cause != submitted.seq or type(r.event) is FormSubmitted:
            return out
        out.append(r)
        seq += 1


def _outcome(form_events: list[RecordedEvent], kind: str | None = None) -> FormEvaluated | None:
    """A recorded form's FormEvaluated (None if it has none, or ``kind`` is given and it is not its error)."""
    for r in form_events:
        if type(r.event) is FormEvaluated:
            return r.event if kind is None or r.event.error_kind == kind else None
    return None


def _finished(form_events: list[RecordedEvent]) -> bool:
    """Whether a recorded form reached its FormEvaluated (else it was interrupted)."""
    return any(type(r.event) is FormEvaluated for r in form_events)


def _commit_events(window: RecordWindow, first: RecordedEvent) -> list[RecordedEvent]:
    """A session action's events: those after ``first`` with the same cause."""
    out = [first]
    seq = first.seq + 1
    while True:
        r = window.get(seq)
        if r is None or r.cause != first.cause or r.cause == r.seq:
            return out
        out.append(r)
        seq += 1


def _program_form(program_iter: Iterator[tuple[Any, int, int, str, str]], r: RecordedEvent) -> tuple[Any, int, int, str, str]:
    form = next(program_iter, None)
    if form is None:
        raise _ProgramShorter(r)
    return form


class _ProgramShorter(ReplayDivergence):
    def __init__(self, r: RecordedEvent) -> None:
        super().__init__(f"event {r.seq}: the program has fewer forms than the recording")
        self.recorded = r


def _reapply(session: Session, events: list[Event]) -> None:
    """Append a recorded session action as it is; rebuild the live VM if it changed the state."""
    before = session.state.semantic()
    session.append_caused(events, session.head + 1)
    if session.state.semantic() != before:
        session.reload()


# -- reports -----------------------------------------------------------------------------------
def _recorded_state(store: EventStore, name: str, upto: int) -> State:
    return fold_fields(store.read_fields(name, 1, upto), State(session=name))


def _report(store: EventStore, name: str, d: _Diverged, current: RecordedEvent | None,
            session: Session, program: bool, where: tuple[str, int, str],
            recorded_version: str | None) -> DivergenceReport:
    exp, act = d.expected, d.actual
    form = current.event if current is not None and type(current.event) is FormSubmitted else None
    cause = explain_divergence(exp, act, program, recorded_version)
    # States after the whole recorded form vs after the produced commit.
    actual_state = session.state
    for r in d.commit:
        fold_event(actual_state, r)
    expected_upto = d.commit[-1].seq
    if current is not None and form is not None:
        last = current.seq
        for x in store.read(name, last + 1):
            if x.cause != current.seq:
                break
            last = x.seq
        expected_upto = last
    expected_state = _recorded_state(store, name, min(expected_upto, store.last_seq(name)))
    return DivergenceReport(
        seq=d.seq, cause=cause, form_seq=current.seq if current is not None else None,
        form_file=where[0], form_line=where[1], form_source=where[2],
        expected=exp, actual=act,
        state_diff=state_changes(diff_states(expected_state, actual_state), expected_state, actual_state),
        expected_state=expected_state, actual_state=actual_state,
    )


def _effect_report(store: EventStore, name: str, d: ReplayDivergence, seq: int, window: RecordWindow,
                   current: RecordedEvent | None, session: Session, where: tuple[str, int, str]) -> DivergenceReport:
    if isinstance(d, _ProgramShorter):
        submitted = d.recorded.event
        assert isinstance(submitted, FormSubmitted)  # _ProgramShorter is raised at a recorded FormSubmitted
        return DivergenceReport(seq=d.recorded.seq, cause="the program has fewer forms than the recording",
                                form_seq=d.recorded.seq, expected=d.recorded,
                                form_file=submitted.file, form_line=submitted.line,
                                form_source=submitted.source)
    if isinstance(d, _ProgramLonger):
        _, line, _, text, file = d.form
        return DivergenceReport(seq=d.seq, cause="the program has more forms than the recording",
                                form_seq=None, form_file=file, form_line=line, form_source=text)
    expected = window.get(seq)
    # The produced request is not an event yet: show the recorded one at this point and the new arguments.
    actual = None
    if isinstance(d, EffectArgumentsDiffer):
        kind, args = d.actual
        actual = RecordedEvent(session.id, seq, d.form_seq, time.time(),
                               EffectRequested(kind=kind, key=effect_key(d.form_seq, d.ordinal, kind, args), args=args))
        # The record may carry a ContentStored first: compare with its request.
        if expected is not None and type(expected.event) is ContentStored:
            nxt = window.get(seq + 1)
            expected = nxt if nxt is not None else expected
    return DivergenceReport(seq=seq if expected is None else expected.seq, cause=str(d),
                            form_seq=current.seq if current is not None else None,
                            form_file=where[0], form_line=where[1],
                            form_source=where[2], expected=expected, actual=actual,
                            expected_state=session.state, actual_state=session.state)


__all__ = ["DivergenceReport", "ReplayResult", "TapeError", "VerifyingStore", "replay", "same_event"]
