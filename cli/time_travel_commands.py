"""Commands that move through a session's history: ``snapshot``, ``snapshots``, ``restore``, ``delta``."""

from __future__ import annotations

import click
from rich.table import Table

from tapevm.cli import render
from tapevm.cli.delta_render import delta_json, delta_text
from tapevm.cli.options import EVENT_NUMBER, json_option, open_session_for, out, print_json, session_option
from tapevm.infrastructure.session.service import Session


def _open_writer(ctx: click.Context, session_id: str) -> Session:
    """An existing session, opened to append (snapshot, restore): readers take no writer lease, this does."""
    return open_session_for(ctx, session_id, create=False, writable=True)


@click.command()
@click.argument("name")
@session_option
@click.option("--at", type=EVENT_NUMBER, default=None, metavar="N", help="Name the state after event N (default: the head).")
@click.option("--description", default="", metavar="TEXT", help="What this snapshot is.")
@json_option
@click.pass_context
def snapshot(ctx: click.Context, name: str, session_id: str, at: int | None, description: str, as_json: bool) -> None:
    """Name a point of a session's history (appends a SnapshotTaken event)."""
    with _open_writer(ctx, session_id) as s:
        info = s.snapshot(name, at, description)
    if as_json:
        print_json(info.as_json())
    else:
        out.print(f"snapshot {info.name!r} of session {session_id!r} at event {info.at}")


@click.command()
@session_option
@json_option
@click.pass_context
def snapshots(ctx: click.Context, session_id: str, as_json: bool) -> None:
    """List a session's named snapshots."""
    with open_session_for(ctx, session_id, create=False) as s:
        rows = s.snapshots()
    if as_json:
        print_json([r.as_json() for r in rows])
        return
    table = Table(title=f"session {session_id}: {len(rows)} snapshots")
    table.add_column("name", style="bold")
    table.add_column("event", justify="right")
    table.add_column("description")
    for r in rows:
        table.add_row(r.name, str(r.at), r.description)
    out.print(table)


@click.command()
@click.argument("name")
@session_option
@json_option
@click.pass_context
def restore(ctx: click.Context, name: str, session_id: str, as_json: bool) -> None:
    """Go back to snapshot NAME (appends a StateRestored event; the history stays)."""
    with _open_writer(ctx, session_id) as s:
        recorded = s.restore(name)
        summary = s.delta(recorded.seq - 1, recorded.seq).summary()
    data = {"session": session_id, "snapshot": name, "target": recorded.event.target,  # type: ignore[attr-defined]
            "event": recorded.seq, "summary": summary}
    if as_json:
        print_json(data)
    else:
        changes = sum(summary.values())
        out.print(f"restored session {session_id!r} to snapshot {name!r} (event {data['target']}): "
                  f"{changes} changes, recorded as event {recorded.seq}")


@click.command()
@click.argument("a", type=EVENT_NUMBER)
@click.argument("b", type=EVENT_NUMBER)
@session_option
@json_option
@click.pass_context
def delta(ctx: click.Context, a: int, b: int, session_id: str, as_json: bool) -> None:
    """Show what changed between the states after events A and B."""
    with open_session_for(ctx, session_id, create=False) as s:
        data = delta_json(s.id, a, b, s.delta(a, b), s.content_through(max(a, b)))
    if as_json:
        print_json(data)
    else:
        for text in delta_text(data, out):
            click.echo(text, nl=False, color=render.colored(out))
