"""``tape verify``: check a session's checksums and hash chain."""

from __future__ import annotations

from pathlib import Path

import click

from tapevm.cli.options import json_option, open_store_for, print_json, session_option
from tapevm.domain.errors import UsageError
from tapevm.infrastructure.config import Settings
from tapevm.infrastructure.integrity import verify_archive, verify_chain


@click.command("verify")
@session_option
@click.option("--head", "expected_head", metavar="HEX", default=None,
              help="The chain head you trust (from an image or an earlier verify): also detects a removed tail.")
@click.option("--archive", "archive_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              metavar="FILE", help="Check the archive 'tape archive' wrote on its own, and that it joins the live log.")
@json_option
@click.pass_context
def verify(ctx: click.Context, session_id: str, expected_head: str | None, archive_file: Path | None,
           as_json: bool) -> None:
    """Check every record's checksum and hash-chain link; report the first altered, missing or reordered event.

    A fork is checked with the sessions it reads its earlier events from, up to its fork point.  A keyed
    chain needs the same TAPE_CHAIN_KEY it was written with.  Exit 1 when the log is not intact.
    """
    if expected_head is not None and (len(expected_head) != 64 or any(c not in "0123456789abcdefABCDEF"
                                                                    for c in expected_head)):
        raise UsageError("--head takes the 64 hex digits of a chain head")
    key = Settings.from_environment().chain_key_bytes()
    if archive_file is not None and expected_head is not None:
        raise UsageError("--archive checks an archive file, --head the live log's head: give one of them")
    with open_store_for(ctx) as store:
        report = (verify_chain(store, session_id, key, expected_head) if archive_file is None
                  else verify_archive(store, session_id, archive_file, key))
    if as_json:
        print_json(report.as_json())
    elif report.ok and archive_file is not None:
        click.echo(f"archive {archive_file}: events 1-{report.events} in {report.records} records intact; "
                   f"it joins session {session_id} at event {report.events + 1} (chain link {report.head or '(none)'})")
    elif report.ok:
        note = f" ({report.unlinked} earlier events were written before the chain existed)" if report.unlinked else ""
        covered = f" ({report.coverage()})" if report.coverage() else ""
        if report.archived is not None:
            covered += (f" (events 1-{report.archived[0] - 1} archived in {report.archived[1]}: "
                        "'tape verify --archive FILE' checks them)")
        click.echo(f"session {session_id}: {report.events} events in {report.records} records intact{covered}; "
                   f"chain head {report.head or '(none)'}{note}")
    else:
        click.echo(f"session {session_id}: NOT intact: {report.message}")
    if not report.ok:
        ctx.exit(1)
