"""A session's lifecycle: ``tape delete`` (with its tombstone), ``tape deleted`` (the tombstones) and
``tape archive`` (the history before an event moved to a file)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from tapevm.cli.options import SESSION_ID, json_option, open_store_for, print_json
from tapevm.domain.errors import UsageError
from tapevm.infrastructure.lifecycle.archiving import archive_session
from tapevm.infrastructure.lifecycle.deletion import delete_session, deletion_plan
from tapevm.infrastructure.lifecycle.tombstones import deleted_sessions
from tapevm.infrastructure.stores.side_tables import SideTables


@click.command()
@click.option("-i", "--session", "session_id", type=SESSION_ID, required=True, metavar="ID",
              help="The session to delete.")
@click.option("--with-forks", is_flag=True, help="Also delete the forks that read through it (and theirs).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask (needed when stdin is not a terminal).")
@json_option
@click.pass_context
def delete(ctx: click.Context, session_id: str, with_forks: bool, yes: bool, as_json: bool) -> None:
    """Delete a session and every row it has; a tombstone records that it existed ('tape deleted').

    Refused while a writer has it open, and while forks read through it unless --with-forks.
    Other sessions are untouched.  'tape gc' reclaims the space.
    """
    with open_store_for(ctx) as store:
        plan = deletion_plan(store, session_id, with_forks=with_forks)
        if not yes:
            if not sys.stdin.isatty():
                raise UsageError("tape delete asks before deleting, and stdin is not a terminal: "
                                 "give --yes to delete without asking")
            shown = ", ".join(f"{name} ({head} events)" for name, head in plan.sessions(store))
            if not click.confirm(f"delete {shown} for good?", default=False, err=True):
                click.echo("nothing was deleted", err=True)
                ctx.exit(1)
        report = delete_session(store, session_id, with_forks=with_forks)
    if as_json:
        print_json(report.as_json())
        return
    for d in report.deleted:
        click.echo(f"deleted session {d.name}: {d.head} events in {d.records} records, {d.stored_bytes} bytes; "
                   f"chain head {d.head_link or '(none)'}")
    click.echo("run 'tape gc' to reclaim the space")


@click.command()
@json_option
@click.pass_context
def deleted(ctx: click.Context, as_json: bool) -> None:
    """Sessions that were deleted: when, by whom, and the head and chain link they had."""
    with open_store_for(ctx) as store:
        rows = deleted_sessions(SideTables(store))
    if as_json:
        print_json([d.as_json() for d in rows])
        return
    if not rows:
        click.echo("no session was deleted")
    for d in rows:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(d.deleted_at))
        note = f" ({d.note})" if d.note else ""
        click.echo(f"{d.name}  deleted {when} UTC by {d.deleted_by}: {d.head} events, chain head "
                   f"{d.head_link or '(none)'}{note}")


@click.command()
@click.option("-i", "--session", "session_id", type=SESSION_ID, required=True, metavar="ID",
              help="The session whose early history to archive.")
@click.option("--before", type=click.IntRange(min=1), required=True, metavar="N",
              help="Archive events 1..N-1 (N must start a commit outside any form; 3..head).")
@click.option("--to", "file", type=click.Path(dir_okay=False, path_type=Path), required=True, metavar="FILE",
              help="The archive file to write (an image with history; an existing image is replaced).")
@click.option("--delete-forks", is_flag=True, help="Delete the forks that read archived events through it (else refused).")
@json_option
@click.pass_context
def archive(ctx: click.Context, session_id: str, before: int, file: Path, delete_forks: bool, as_json: bool) -> None:
    """Move a session's history before event N into one archive file, keeping the rest live.

    The live log keeps a marker (the state after N-1, the chain link it goes on from, the file's name);
    'tape verify' checks the live part, 'tape verify --archive FILE' that the archive joins it, and
    'tape state --at M --archive FILE' reads the archived states.  'tape gc' reclaims the space.
    """
    with open_store_for(ctx) as store:
        report = archive_session(store, session_id, before, file, delete_forks=delete_forks)
    if as_json:
        print_json(report.as_json())
        return
    click.echo(f"archived events 1..{before - 1} of session {session_id} ({report.records} records) to {file} "
               f"({report.file_bytes} bytes); chain link at event {before - 1}: {report.link or '(none)'}")
