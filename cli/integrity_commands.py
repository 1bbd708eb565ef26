"""``tape verify``: check a session's checksums and hash chain."""

from __future__ import annotations

import click

from tapevm.cli.options import json_option, open_store_for, print_json, session_option
from tapevm.domain.errors import UsageError
from tapevm.infrastructure.config import Settings
from tapevm.infrastructure.integrity import verify_chain


@click.command("verify")
@session_option
@click.option("--head", "expected_head", metavar="HEX", default=None,
              help="The chain head you trust (from an image or an earlier verify): also detects a removed tail.")
@json_option
@click.pass_context
def verify(ctx: click.Context, session_id: str, expected_head: str | None, as_json: bool) -> None:
    """Check every record's checksum and hash-chain link; report the first altered, missing or reordered event.

    A fork is checked with the sessions it reads its earlier events from, up to its fork point.  A keyed
    chain needs the same TAPE_CHAIN_KEY it was written with.  Exit 1 when the log is not intact.
    """
    if expected_head is not None and (len(expected_head) != 64 or any(c not in "0123456789abcdefABCDEF"
                                                                    for c in expected_head)):
        raise UsageError("--head takes the 64 hex digits of a chain head")
    with open_store_for(ctx) as store:
        report = verify_chain(store, session_id, Settings.from_environment().chain_key_bytes(), expected_head)
    if as_json:
        print_json(report.as_json())
    elif report.ok:
        note = f" ({report.unlinked} earlier events were written before the chain existed)" if report.unlinked else ""
        covered = f" ({report.coverage()})" if report.coverage() else ""
        click.echo(f"session {session_id}: {report.events} events in {report.records} records intact{covered}; "
                   f"chain head {report.head or '(none)'}{note}")
    else:
        click.echo(f"session {session_id}: NOT intact: {report.message}")
    if not report.ok:
        ctx.exit(1)
