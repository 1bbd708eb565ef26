"""Commands that look at the log: ``log``, ``state``, ``sessions``, ``info``."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import chain
from pathlib import Path

import click
from rich.table import Table

from tapevm.cli import render
from tapevm.cli.ui_links import print_ui_link, ui_option
from tapevm.cli.options import (
    EVENT_NUMBER,
    json_option,
    open_session_for,
    open_store_for,
    out,
    page,
    print_json,
    print_json_line,
    session_option,
)
from tapevm.domain.addresses import parse_address
from tapevm.domain.content import ContentTable, RecentContent
from tapevm.domain.errors import BadAddress, UsageError
from tapevm.domain.events import EVENT_TYPES, ContentStored, RecordedEvent
from tapevm.domain.state import State
from tapevm.infrastructure.lifecycle.archiving import archived_state
from tapevm.infrastructure.session_summaries import list_sessions, session_info
from tapevm.vm.state_printer import StatePrinter


@click.command("log")
@session_option
@click.option("--from", "start", type=EVENT_NUMBER, default=1, show_default=True, help="First event number.")
@click.option("--to", "stop", type=EVENT_NUMBER, default=None, help="Last event number.")
@click.option("--type", "types", multiple=True, metavar="T", help="Only events of this type (repeatable).")
@click.option("--values", "values", type=click.Choice(["summary", "full"]), default="summary", show_default=True,
              help="How values are shown: their first 200 characters and content key, or whole "
                   "(full: costs the size of every value shown).")
@json_option
@ui_option
@click.pass_context
def log_(ctx: click.Context, session_id: str, start: int, stop: int | None, types: tuple[str, ...],
         values: str, as_json: bool, ui_link: bool) -> None:
    """Show a session's events (JSON lines with --json); paged on a terminal."""
    for t in types:
        if t not in EVENT_TYPES:
            _unknown_type(t)
    if stop is not None and stop < start:  # (printed '0 events'; audit refuses it the same way)
        raise UsageError(f"--from {start} is after --to {stop}: give --from <= --to")
    address = parse_address(session_id)  # ID@N: the log up to event N
    if address.at is not None:
        stop = address.at if stop is None else min(stop, address.at)
    with open_session_for(ctx, address.session, create=False) as s:
        if address.at is not None and not 1 <= address.at <= s.head:
            raise BadAddress(f"bad address {address}: session {s.id!r} has events 1..{s.head}")
        upto = s.head if stop is None else min(stop, s.head)
        print_ui_link(ui_link, "s", s.id, **{"from": start if start > 1 else None, "type": ",".join(types) or None})
        state = s.content_through(upto)  # (a copy) whose values are found first among those just read
        recent = RecentContent(state.nodes)
        state.nodes = ContentTable(source=recent)
        events = (r for r in _passing(s.events(start, stop), recent) if not types or r.event.type_name in types)
        show, full = StatePrinter(state), values == "full"
        if as_json:
            for r in events:
                print_json_line(render.event_json(r, show, full))
            return
        title = render.title_line(f"session {s.id}", render.colored(out))
        # paged on a terminal, and streamed into the pager: the first lines show at once
        page(ctx, chain([title], render.event_chunks(events, show, out, upto, full)))


def _passing(events: Iterator[RecordedEvent], recent: RecentContent) -> Iterator[RecordedEvent]:
    """``events``, each ContentStored's nodes told to ``recent`` as it passes."""
    for r in events:
        if type(r.event) is ContentStored:
            recent.add(r.event.nodes)
        yield r


def _unknown_type(t: str) -> None:
    raise UsageError(f"unknown event type {t!r}; known types: {', '.join(sorted(EVENT_TYPES))}")


@click.command()
@session_option
@click.option("--at", type=EVENT_NUMBER, default=None, metavar="N", help="The state after event N (default: the head).")
@click.option("--archive", "archive_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              metavar="FILE", help="Read the state after event N from this archive ('tape archive' wrote it).")
@json_option
@ui_option
@click.pass_context
def state(ctx: click.Context, session_id: str, at: int | None, archive_file: Path | None, as_json: bool,
          ui_link: bool) -> None:
    """Show a session's state: bindings, atoms, facts and files."""
    address = parse_address(session_id)  # ID@N: the state after event N
    if address.at is not None:
        if at is not None and at != address.at:
            raise UsageError(f"give the event number once: -i {address} or --at {at}, not both")
        at = address.at
    print_ui_link(ui_link, "s", address.session, "state", at=at)
    if archive_file is not None:
        if at is None:
            raise UsageError("--archive reads an archived state: give --at N too")
        _show_state(archived_state(archive_file, at), as_json)
        return
    with open_session_for(ctx, address.session, create=False) as s:
        if address.at == 0:  # as log, diff, fork and export say it (past the head: state_at says so)
            raise BadAddress(f"bad address {address}: session {s.id!r} has events 1..{s.head}")
        _show_state(s.state if at is None else s.state_at(at), as_json)


def _show_state(st: State, as_json: bool) -> None:
    if as_json:
        print_json(render.state_json(st))
        return
    for text in render.state_text(st, out):
        click.echo(text, nl=False, color=render.colored(out))


@click.command()
@json_option
@click.pass_context
def sessions(ctx: click.Context, as_json: bool) -> None:
    """List the sessions in the store."""
    with open_store_for(ctx) as store:
        rows = list_sessions(store)
    if as_json:
        print_json([r.as_json() for r in rows])
        return
    table = Table(title=f"{len(rows)} sessions")
    for col in ("id", "events", "bytes", "last activity", "parent", "live writer"):
        table.add_column(col, justify="right" if col in ("events", "bytes") else "left")
    for r in rows:
        table.add_row(render.visible(r.session), str(r.events), str(r.stored_bytes), render.iso_time(r.last_activity),
                      r.parent or "", r.writer or "")
    out.print(table)


@click.command()
@session_option
@json_option
@click.pass_context
def info(ctx: click.Context, session_id: str, as_json: bool) -> None:
    """Summarise one session: events, bytes, bindings, facts, files, times."""
    address = parse_address(session_id)
    if address.at is not None:  # the summary is of the whole session: an event number would be ignored
        raise BadAddress(f"tape info summarises a whole session: give -i {address.session}, not {address} "
                         f"(the state after event {address.at}: tape state -i {address})")
    with open_session_for(ctx, address.session, create=False) as s:
        data = session_info(s)
    if as_json:
        print_json(data)
        return
    table = Table(title=f"session {session_id}", show_header=False)
    table.add_column("key", style="cyan")
    table.add_column("value", overflow="fold")  # a long store URL or path is shown whole
    for k, v in data.items():
        table.add_row(k, render.iso_time(v) if k.endswith("_time") else ("-" if v is None else str(v)))
    out.print(table)
