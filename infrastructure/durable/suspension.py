"""The session's side of ``(await ...)``: store the continuation, list it, answer it, go on from it.

``Session`` takes :class:`DurableForms` as a base (its methods live here, the
service module being full).  The path of an await::

    (await 'approval :payload x)   the port raises Suspend; the machine attaches its stack
      │  evaluate: the continuation (vm/continuation_codec.py) is encoded with the form's
      │  encoder: [ContentStored] FormSuspended, caused by the form's FormSubmitted, ONE commit
      ▼  the live World is rolled back; FormPending is raised (the session is now pending)
    tape answer -i S approval '#t'   any process, any machine that reaches the store
      │  the continuation is decoded against the committed state, the form's mutations made
      │  again, [ContentStored] AwaitAnswered committed, and the machine goes on from the stack
      ▼  the form ends as any form does: its mutations and FormEvaluated in one commit

Contracts: a suspension changes no committed state (the form's mutations commit when it
ends; a form that fails changes nothing); an answer to nothing pending, to another tag, or
of a value that is not data is a UsageError and appends nothing; an await past its deadline
raises ``await-timeout`` (a recorded AwaitAnswered with the error) when the session is next
asked to run a form, to list or to answer it; a form interrupted after its answer was
recorded is resumed (``Session.resume``) from that continuation with the recorded answer,
the effects after it answered from the log.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn, Protocol

from tapevm.domain.errors import FormPending, UsageError, ValueCodecError
from tapevm.domain.events import (
    AwaitAnswered,
    ContentStored,
    Event,
    FormSubmitted,
    FormSuspended,
    RecordedEvent,
)
from tapevm.domain.state import State
from tapevm.infrastructure.durable.pending_forms import LastSuspension, PendingForm, last_suspension
from tapevm.vm.continuation_codec import (
    CodeMaker,
    continuation_of,
    continuation_value,
    replay_journal,
    stack_summary,
    unsupported,
)
from tapevm.vm.errors import LispError
from tapevm.vm.interpreter import Interpreter
from tapevm.vm.nodes import Lambda
from tapevm.vm.suspension import AWAIT_TIMEOUT, Suspend
from tapevm.vm.value_codec import ValueEncoder
from tapevm.vm.values import NIL, Env, ErrorValue, LMap, make_list
from tapevm.vm.world import World
from tapevm.vm.world_state import make_decoder

if TYPE_CHECKING:
    from tapevm.vm.nodes import Node


class Answer(NamedTuple):
    """What an await gets: a value, or an error raised where it stopped."""

    value: Any
    error: ErrorValue | None = None


class _Effects(Protocol):
    ordinal: int  # how many effects the current form performed (a suspended form keeps it)


class SuspendingSession(Protocol):
    """What suspending and resuming need of a session (``Session`` is one)."""

    id: str
    writable: bool
    unfinished: int | None

    @property
    def head(self) -> int: ...
    @property
    def world(self) -> World: ...
    @property
    def interpreter(self) -> Interpreter: ...
    @property
    def effects(self) -> _Effects: ...
    @property
    def live_state(self) -> State: ...
    def events(self, start: int = 1, stop: int | None = None) -> Iterator[RecordedEvent]: ...
    def commit_form_input(self) -> int: ...
    def form_encoder(self) -> ValueEncoder: ...
    def append_caused(self, events: list[Event], cause: int) -> list[RecordedEvent]: ...
    def run_form(self, form: Any, line: int, column: int, text: str, file: str,
                 committed_seq: int | None = None, render_value: bool = True,
                 resume: Callable[[], Any] | None = None) -> Any: ...


def _now_ms() -> int:
    return int(time.time() * 1000)


class DurableForms:
    """Session methods for forms that suspend (see the module docstring)."""

    # -- the form's side: evaluate, and suspend --------------------------------------------
    def evaluate(self: SuspendingSession, form: Any, resume: Callable[[], Any] | None,
                 submitted: FormSubmitted) -> Any:
        """The value of the current form (``resume``: going on with a suspended one); FormPending if it
        suspends (its continuation committed), LispError ``await-unsupported`` if it cannot."""
        try:
            return resume() if resume is not None else self.interpreter.eval_form(form)
        except Suspend as suspend:
            _store_suspension(self, suspend, submitted)

    # -- outside: list, answer ---------------------------------------------------------------
    def pending(self: SuspendingSession) -> list[PendingForm]:
        """The session's pending form (a list of at most one: a session runs one form at a time).

        A writable session first settles an await past its deadline (it raises ``await-timeout`` in the
        form, which goes on), so what is listed is still waiting."""
        last = _last(self)
        if last is None or last.answer is not None:
            return []
        if self.writable and last.pending.timed_out(_now_ms()):
            try:
                _settle_timeout(self, last)
            except FormPending:
                pass  # it went on and awaits again: listed below
            return DurableForms.pending(self)
        return [last.pending]

    def answer(self: SuspendingSession, tag: str, value: Any) -> Any:
        """Answer the pending await ``tag`` with ``value`` (Lisp data, or plain Python data): the form goes on
        from its stored continuation here; its outcome (a FormOutcome), or FormPending if it awaits again."""
        last = _last(self)
        if last is not None and last.answer is None and last.pending.timed_out(_now_ms()):
            seq = last.pending.seq
            try:
                _settle_timeout(self, last)
            except FormPending:
                pass  # it went on and awaits again
            raise UsageError(f"the await {last.pending.tag!r} of the form at event {seq} of session {self.id!r} "
                             "timed out before this answer: the form went on with an await-timeout error")
        if last is None or last.answer is not None:
            raise UsageError(f"session {self.id!r} has no pending form: nothing awaits {tag!r} "
                             f"(see 'tape pending -i {self.id}')")
        if tag != last.pending.tag:
            raise UsageError(f"the pending form of session {self.id!r} (event {last.pending.seq}) awaits "
                             f"{last.pending.tag!r}, not {tag!r}")
        return _resume(self, last, Answer(lisp_data(value)), record=True)

    def refuse_unfinished(self: SuspendingSession) -> None:
        """Before a new form runs in a session with an unfinished form: settle a timed-out await (then the new
        form may run), else refuse with what to do (answer a pending form; resume or abandon another)."""
        seq = self.unfinished
        if seq is None:
            return
        last = _last(self)
        if last is not None and last.answer is None:
            if last.pending.timed_out(_now_ms()):
                _settle_timeout(self, last)
                if self.unfinished is None:
                    return
                DurableForms.refuse_unfinished(self)
                return
            raise UsageError(_pending_message(self.id, last.pending))
        raise UsageError(f"session {self.id!r} has an unfinished form at event {seq} (interrupted); "
                         f"finish it first with 'tape resume -i {self.id}' (Session.resume()), or give it up "
                         f"with 'tape resume --abandon -i {self.id}' (Session.abandon())")

    def resume_suspended(self: SuspendingSession) -> Any:
        """``Session.resume`` of a form that suspended: interrupted after its answer was recorded, it goes on
        from that continuation (the caller answers the effects after it from the log); None for a form that
        never suspended.  A form still pending is refused (it needs an answer, not a resume)."""
        last = _last(self)
        if last is None:
            return None
        if last.answer is None:
            if last.pending.timed_out(_now_ms()):
                return _settle_timeout(self, last)
            raise UsageError(_pending_message(self.id, last.pending))
        return _resume(self, last, _recorded_answer(self, last.answer), record=False)

    def finish_recorded(self: SuspendingSession, form_events: list[RecordedEvent], decode: Callable[[Any], Any]) -> Any:
        """Replay: answer the form just suspended with its recorded answers (their values decoded by ``decode``,
        which reads the record's content), in order, until it ends or the record has no more answers (it was
        still pending there: FormPending)."""
        answers = [r.event for r in form_events if type(r.event) is AwaitAnswered]
        for recorded in answers:
            last = _last(self)
            if last is None or last.answer is not None:
                break
            try:
                return _resume(self, last, _recorded_answer(self, recorded, decode), record=True, as_recorded=recorded)
            except FormPending:
                continue
        last = _last(self)
        assert last is not None
        raise FormPending(_pending_message(self.id, last.pending), self.id, last.pending.seq, last.pending.tag)


def lisp_data(value: Any) -> Any:
    """An answer given as plain Python (None, list, tuple, dict) as Lisp data; Lisp values as they are."""
    if value is None:
        return NIL
    if type(value) is list:
        return make_list([lisp_data(v) for v in value])
    if type(value) is tuple:
        return tuple(lisp_data(v) for v in value)
    if type(value) is dict:
        return LMap((lisp_data(k), lisp_data(v)) for k, v in value.items())
    return value


def _pending_message(session: str, p: PendingForm) -> str:
    since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(p.since))
    return (f"session {session!r} has a pending form at event {p.seq} ({p.where}): it awaits {p.tag!r} since "
            f"{since}; answer it with 'tape answer -i {session} {p.tag} VALUE' (Session.answer), or give it up "
            f"with 'tape resume --abandon -i {session}'")


_TAIL = 16  # events read back from the head first: a suspension is among a form's last events


def _last(session: SuspendingSession) -> LastSuspension | None:
    """The unfinished form's latest suspension, reading its last events first (a form of many effects is
    read whole only when its tail holds no suspension)."""
    seq = session.unfinished
    if seq is None:
        return None
    if session.head - seq > _TAIL:
        tail = list(session.events(session.head - _TAIL, session.head))
        if any(type(r.event) is FormSuspended for r in tail):
            return last_suspension(session.id, tail, next(iter(session.events(seq, seq))))
    return last_suspension(session.id, list(session.events(seq)))


def _store_suspension(session: SuspendingSession, suspend: Suspend, submitted: FormSubmitted) -> NoReturn:
    """Commit ``[ContentStored] FormSuspended`` for the current form, then raise FormPending."""
    interp = session.interpreter
    if suspend.stack is None or interp.unit is None:
        raise unsupported("it is not running a top-level form")
    encoder = session.form_encoder()
    where = f"{submitted.file}:{submitted.line}"
    try:
        cont = continuation_value(suspend.stack, interp.unit, session.world.take_mutations(), interp.gensyms,
                                  session.effects.ordinal, suspend.rest_forms, encoder.encode)
        payload = encoder.encode(suspend.payload)
    except ValueCodecError as e:
        encoder.discard()
        raise unsupported(str(e)) from None
    except LispError:
        encoder.discard()
        raise
    seq = session.commit_form_input()
    deadline = None if suspend.timeout_ms is None else _now_ms() + suspend.timeout_ms
    events: list[Event] = []
    nodes = encoder.take_new_nodes()
    if nodes:
        events.append(ContentStored(nodes=nodes, blobs=[]))
    events.append(FormSuspended(tag=suspend.tag, payload=payload, timeout_ms=suspend.timeout_ms, deadline_ms=deadline,
                                continuation=cont, stack=stack_summary(suspend.stack, where)))
    try:
        session.append_caused(events, seq)
    except BaseException:
        encoder.discard()
        raise
    encoder.commit()
    pending = PendingForm(session.id, seq, 0, suspend.tag, payload, time.time(), deadline, suspend.timeout_ms,
                          submitted.source, where)
    raise FormPending(_pending_message(session.id, pending), session.id, seq, suspend.tag)


def _recorded_answer(session: SuspendingSession, e: AwaitAnswered,
                     decode: Callable[[Any], Any] | None = None) -> Answer:
    if not e.ok:
        return Answer(None, ErrorValue(e.error_kind or AWAIT_TIMEOUT, e.error_message or ""))
    if decode is None:
        decode = make_decoder(session.live_state, session.world, session.interpreter).decode
    return Answer(decode(e.value))


def _settle_timeout(session: SuspendingSession, last: LastSuspension) -> Any:
    p = last.pending
    error = ErrorValue(AWAIT_TIMEOUT, f"await {p.tag}: no answer within {p.timeout_ms} ms")
    return _resume(session, last, Answer(None, error), record=True)


def _record_answer(session: SuspendingSession, p: PendingForm, answer: Answer,
                   as_recorded: AwaitAnswered | None) -> None:
    """Commit ``[ContentStored] AwaitAnswered`` (a replay copies the recorded one's error text)."""
    encoder = session.form_encoder()
    if answer.error is None:
        try:
            enc = encoder.encode(answer.value)
        except ValueCodecError as e:
            encoder.discard()
            raise UsageError(f"cannot answer with that value: {e}") from None
        event = AwaitAnswered(tag=p.tag, ok=True, value=enc)
    else:
        message = answer.error.message if as_recorded is None else as_recorded.error_message
        event = AwaitAnswered(tag=p.tag, ok=False, error_kind=answer.error.kind, error_message=message)
    events: list[Event] = []
    nodes = encoder.take_new_nodes()
    if nodes:
        events.append(ContentStored(nodes=nodes, blobs=[]))
    events.append(event)
    try:
        session.append_caused(events, p.seq)
    except BaseException:
        encoder.discard()
        raise
    encoder.commit()


def _resume(session: SuspendingSession, last: LastSuspension, answer: Answer, record: bool,
            as_recorded: AwaitAnswered | None = None) -> Any:
    """Run the suspended form on from its stored continuation with ``answer`` (recorded first if
    ``record``); its outcome.  Decoding comes first: a continuation that cannot be read appends nothing."""
    p = last.pending
    interp = session.interpreter
    submitted = next(iter(session.events(p.seq, p.seq))).event
    assert isinstance(submitted, FormSubmitted)

    def compile_lambda(params: Any, body: tuple[Any, ...], env: Env | None, name: str | None, ns: str) -> Lambda:
        code: Lambda = interp.make_closure(params, body, env, name, ns).code
        return code

    def compile_unit(source: Any, ns: str) -> Node:
        return interp.compile_unit(source, ns)

    def go_on() -> Any:
        decoder = make_decoder(session.live_state, session.world, interp)
        cont, journal = continuation_of(decoder.decode(p.continuation), CodeMaker(compile_unit, compile_lambda))
        replay_journal(session.world, journal)
        interp.begin_form(p.seq, cont.gensyms)
        interp.unit = cont.unit  # what a suspension of it names again
        session.effects.ordinal = cont.ordinal
        if record:
            _record_answer(session, p, answer, as_recorded)
        return interp.resume(cont.stack, answer.value, answer.error, cont.rest_forms)

    outcome = session.run_form(None, submitted.line, submitted.column, submitted.source, submitted.file,
                               committed_seq=p.seq, resume=go_on)
    session.unfinished = None
    return outcome
