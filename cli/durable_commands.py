"""Commands for forms suspended at ``(await ...)``: ``pending`` lists them, ``answer`` answers one.

Each is one call into the session (``Session.pending``, ``Session.answer``); the form
goes on in the process that answers (see infrastructure/durable/suspension.py).
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import click

from tapevm.cli.options import (
    json_option,
    limit_options,
    open_session_for,
    print_json,
    runs_forms,
    session_option,
    show_outcome,
)
from tapevm.domain.errors import UsageError, ValueCodecError
from tapevm.infrastructure.durable.pending_forms import PendingForm
from tapevm.infrastructure.durable.suspension import lisp_data
from tapevm.infrastructure.images.operations import save_image_from_language
from tapevm.infrastructure.session.service import Session
from tapevm.vm.errors import ReadError
from tapevm.vm.printer import to_source
from tapevm.vm.reader import read_forms
from tapevm.vm.world_state import make_decoder

_ANSWER_LIMIT = 16 * 1024 * 1024  # bytes of an answer read from standard input


def _iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def pending_json(s: Session, p: PendingForm) -> dict[str, Any]:
    """A pending form as ``tape pending --json`` prints it (and ``tape ui`` shows it): its payload decoded."""
    try:
        payload = to_source(make_decoder(s.live_state, s.world, s.interpreter).decode(p.payload), 200)
    except ValueCodecError as e:
        payload = f"<undecodable: {e}>"
    now_ms = int(time.time() * 1000)
    return {"session": s.id, "form": p.seq, "suspended_at": p.suspended_at, "tag": p.tag, "payload": payload,
            "since": _iso(p.since), "where": p.where, "source": p.source, "timeout_ms": p.timeout_ms,
            "deadline": None if p.deadline_ms is None else _iso(p.deadline_ms / 1000),
            "timed_out": p.timed_out(now_ms), "stack": p.stack}


@click.command("pending")
@session_option
@json_option
@click.pass_context
def pending(ctx: click.Context, session_id: str, as_json: bool) -> None:
    """List the session's pending form: the tag it awaits, its payload, since when, and its stack."""
    with open_session_for(ctx, session_id, create=False) as s:
        forms = [pending_json(s, p) for p in s.pending()]
    if as_json:
        print_json(forms)
        return
    if not forms:
        click.echo(f"session {session_id} has no pending form")
        return
    for f in forms:
        late = "  (timed out: settled when the session is next written)" if f["timed_out"] else ""
        deadline = f"  deadline {f['deadline']}" if f["deadline"] else ""
        click.echo(f"{f['session']}  event {f['form']}  awaits {f['tag']}  since {f['since']}{deadline}{late}")
        click.echo(f"  form     {f['where']}  {f['source'][:120]}")
        click.echo(f"  payload  {f['payload']}")
        for frame in f["stack"]:
            local = " ".join(f"{k}={v}" for k, v in frame["locals"].items())
            click.echo(f"  at {frame['function']}  {frame['where']}  {local}".rstrip())
        click.echo(f"  answer:  tape answer -i {f['session']} {f['tag']} VALUE")


def _answer_value(text: str, as_json: bool) -> Any:
    """The answer VALUE: Lisp data (one datum, not evaluated) or JSON; ``-`` reads standard input."""
    if text == "-":
        raw = sys.stdin.buffer.read(_ANSWER_LIMIT + 1)
        if len(raw) > _ANSWER_LIMIT:
            raise UsageError(f"the answer on standard input is larger than {_ANSWER_LIMIT} bytes")
        try:
            text = raw.decode()
        except UnicodeDecodeError:
            raise UsageError("the answer on standard input is not UTF-8 text") from None
    if as_json:
        try:
            return lisp_data(json.loads(text))
        except ValueError as e:
            raise UsageError(f"the answer is not JSON: {e}") from None
    try:
        forms = read_forms(text, "<answer>")
    except ReadError as e:
        raise UsageError(f"the answer is not Lisp data: {e}") from None
    if len(forms) != 1:
        raise UsageError(f"the answer must be one Lisp datum, got {len(forms)} (quote text as a string: '\"yes\"')")
    return forms[0][0]


@click.command("answer")
@session_option
@click.argument("tag")
@click.argument("value")
@click.option("--json", "as_json", is_flag=True, help="VALUE is JSON (objects become maps, arrays lists).")
@limit_options
@click.pass_context
def answer(ctx: click.Context, session_id: str, tag: str, value: str, as_json: bool) -> None:
    """Answer the pending form's (await TAG): VALUE (Lisp data, not evaluated; '-' reads standard input) is the
    value of the await, and the form goes on here from its stored continuation."""
    answer_value = _answer_value(value, as_json)
    with runs_forms(ctx, open_session_for(ctx, session_id, create=False, writable=True,
                                          image_writer=save_image_from_language)) as s:
        outcome = s.answer(tag, answer_value)
        show_outcome(outcome, echo_value=True)
        if not outcome.ok:
            ctx.exit(1)
