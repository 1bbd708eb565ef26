"""``tape replay``: re-execute a session from its log and check it against the record."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import orjson
from rich.table import Table

from tapevm.cli import render
from tapevm.cli.options import (
    EVENT_NUMBER_1,
    json_option,
    limit_options,
    limits_given,
    open_session_for,
    open_store_for,
    out,
    print_json,
    read_program,
    runs_forms,
    session_option,
    show_outcome,
)
from tapevm.cli.tool_options import tool_options
from tapevm.domain.errors import UsageError
from tapevm.domain.events import RecordedEvent
from tapevm.infrastructure.images.operations import save_image_from_language
from tapevm.infrastructure.session.replay import DivergenceReport, ReplayResult, check_live_effects, replay
from tapevm.vm.reader import read_forms
from tapevm.vm.state_printer import StatePrinter


@click.command("replay")
@session_option
@click.option("--to", "to", type=EVENT_NUMBER_1, default=None, metavar="N", help="Stop after the form that holds event N (forms are re-executed whole).")
@click.option("--verify", is_flag=True,
              help="Compare every produced event with the recorded one; report the first divergence (exit 1).")
@click.option("--program", "program", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Replay the forms of this Lisp file instead of the recorded ones (changed code vs recorded effects).")
@click.option("--fork", "fork", metavar="NEW", default=None, help="Write the replay into a NEW session.")
@click.option("--live-effects", is_flag=True, help="With --fork: perform effects for real (from --from N on).")
@click.option("--from", "live_from", type=EVENT_NUMBER_1, default=None, metavar="N",
              help="With --live-effects: forms from event N on perform effects for real (default: all).")
@limit_options
@tool_options
@json_option
@click.pass_context
def replay_(ctx: click.Context, session_id: str, to: int | None, verify: bool, program: Path | None,
            fork: str | None, live_effects: bool, live_from: int | None, as_json: bool) -> None:
    """Re-execute a session's recorded inputs with every effect answered from the log.

    No provider or tool is called again.  With --verify, stops at the first event that differs
    from the record and explains it: the event, the form, both events side by side, the state diff.
    """
    if live_from is not None and not live_effects:
        raise UsageError("--from N needs --live-effects")
    check_live_effects(live_effects, fork)  # before --program is read
    forms = None
    if program is not None:
        text = read_program(program)
        forms = [(f, line, col, src, str(program)) for f, line, col, src in read_forms(text, str(program))]
    with open_store_for(ctx) as store:
        result = replay(store, session_id, to=to, verify=verify or program is not None, program=forms, fork=fork,
                        live_from=(live_from if live_from is not None else 1) if live_effects else None,
                        limits=limits_given(ctx))
    if as_json:
        print_json(result_json(result))
    else:
        show_result(result)
    # a check that was asked for and found a difference, or did not cover the whole record, fails
    if result.divergence is not None or ((verify or program is not None) and not result.identical):
        ctx.exit(1)


def result_json(result: ReplayResult) -> dict[str, Any]:
    data: dict[str, Any] = {
        "session": result.session, "target": result.target, "ok": result.ok, "verified": result.verified,
        "identical": result.identical,
        "events": result.events, "forms": result.forms, "seconds": round(result.seconds, 6),
        "compared": "events" if result.compared else "final state" if result.target != result.session else "nothing",
        "recorded": result.recorded, "complete": result.complete,
    }
    if result.target != result.session:
        data["state_differences"] = _state_differences(result)
    if result.note:
        data["note"] = result.note
    d = result.divergence
    if d is not None:
        data["divergence"] = {
            "seq": d.seq, "cause": d.cause,
            "form": {"seq": d.form_seq, "file": d.form_file, "line": d.form_line, "source": d.form_source},
            "expected": _event(d.expected), "actual": _event(d.actual),
            "state_diff": [_change(d, c) for c in d.state_diff],
        }
    return data


def _event(r: RecordedEvent | None) -> dict[str, Any] | None:
    return None if r is None else render.event_json(r)


def _change(d: DivergenceReport, c: Any) -> dict[str, Any]:
    show_e = StatePrinter(d.expected_state) if d.expected_state else None
    show_a = StatePrinter(d.actual_state) if d.actual_state else None
    return {"what": c.what,
            "expected": None if c.expected is None or show_e is None else show_e(c.expected),
            "actual": None if c.actual is None or show_a is None else show_a(c.actual)}


def show_result(result: ReplayResult) -> None:
    d = result.divergence
    where = f" into session {result.target}" if result.target != result.session else ""
    if d is None:
        click.echo(f"replayed session {result.session}{where}: {result.forms} forms, {result.events} events "
                   f"in {result.seconds:.3f} s; {_verdict(result)}")
        if result.note:
            click.echo(result.note)
        for c in _state_differences(result):
            click.echo(f"    {c['what']}: {render.short(str(c['recorded']), 60)} -> {render.short(str(c['replayed']), 60)}")
        return
    click.echo(f"divergence at event {d.seq} of session {result.session}")
    if d.form_source:
        click.echo(f"  form:  {d.form_file}:{d.form_line}  {render.short(d.form_source, 100)}")
    click.echo(f"  cause: {d.cause}")
    table = Table(show_header=True, title=None)
    table.add_column("")
    table.add_column("recorded", overflow="fold")
    table.add_column("replayed", overflow="fold")
    exp, act = _event(d.expected), _event(d.actual)
    table.add_row("type", exp["type"] if exp else "(none)", act["type"] if act else "(none)")
    if exp or act:
        table.add_row("cause", str(exp["cause"]) if exp else "", str(act["cause"]) if act else "")
        keys = list((exp or {}).get("data", {})) + [k for k in (act or {}).get("data", {}) if k not in (exp or {}).get("data", {})]
        for k in keys:
            a = (exp or {}).get("data", {}).get(k, "")
            b = (act or {}).get("data", {}).get(k, "")
            mark = "" if a == b else " *"
            table.add_row(k + mark, render.short(_text(a), 200), render.short(_text(b), 200))
    out.print(table)
    changes = [_change(d, c) for c in d.state_diff]
    if changes:
        click.echo("  state after the form (recorded -> replayed):")
        for c in changes:
            click.echo(f"    {c['what']}: {render.short(str(c['expected']), 60)} -> {render.short(str(c['actual']), 60)}")


def _verdict(result: ReplayResult) -> str:
    """What was compared, and what it found: never "identical" for what was not compared."""
    if result.target != result.session:
        if not result.state_changes:
            return f"its state equals the record's after event {result.recorded} (events were not compared)"
        return (f"its state differs from the record's after event {result.recorded} in "
                f"{len(result.state_changes)} item(s) (record -> fork; events were not compared):")
    if not result.complete:
        return f"NOT verified: compared {result.events} of {result.recorded} events"
    return f"identical to the record ({result.events} of {result.recorded} events compared)"


def _state_differences(result: ReplayResult) -> list[dict[str, Any]]:
    """A fork's differences from the record, values as Lisp source (None: absent on that side)."""
    if result.compared_states is None:
        return []
    show_r, show_f = (StatePrinter(s) for s in result.compared_states)
    return [{"what": c.what, "recorded": None if c.expected is None else show_r(c.expected),
             "replayed": None if c.actual is None else show_f(c.actual)} for c in result.state_changes]


def _text(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode()


@click.command("resume")
@session_option
@click.option("--abandon", is_flag=True,
              help="Give the form up instead: record its end (error kind abandoned) without running it again.")
@limit_options
@tool_options
@click.pass_context
def resume(ctx: click.Context, session_id: str, abandon: bool) -> None:
    """Finish a form that was interrupted between its effects and its end.

    Effects already recorded are answered from the log (not performed again); the rest are
    performed for real; then the form commits as usual.  With --abandon the form is not run
    again: its end is recorded as an error (kind abandoned), and nothing it changed is kept.
    """
    with runs_forms(ctx, open_session_for(ctx, session_id, create=False, writable=True,
                                          image_writer=save_image_from_language)) as s:
        if s.unfinished is None:
            click.echo(f"session {s.id} has no unfinished form")
            return
        if abandon:
            form = s.unfinished
            click.echo(f"abandoned the form at event {form} (recorded as event {s.abandon()})")
            return
        outcome = s.resume()
        assert outcome is not None
        show_outcome(outcome, echo_value=True)
        if not outcome.ok:
            ctx.exit(1)
