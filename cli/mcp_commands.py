"""``tape mcp``: serve one session to MCP clients over stdio (the server itself is ``mcp_server.py``).

This module imports nothing of the optional ``mcp`` extra: the server's module
is imported when the command runs, and without the extra the command says
what to install (exit 2) instead of failing on an import.
"""

from __future__ import annotations

import click

from tapevm.cli.options import session_option, store_location
from tapevm.domain.errors import UsageError

INSTALL = "tape mcp needs the MCP SDK: install the extra with  pip install 'tapevm[mcp]'"


@click.command("mcp")
@session_option
@click.option("--store", "store", default=None, metavar="PATH|URL",
              help="The event store (as tape's global --store, which it overrides).")
@click.pass_context
def mcp(ctx: click.Context, session_id: str, store: str | None) -> None:
    """Serve session ID over MCP on stdio: eval, state, log, blame, snapshot, restore, fork, diff, replay_verify.

    Every eval is recorded like a form typed at `tape eval`; the session's writer lease is held while serving.
    """
    try:
        from tapevm.cli import mcp_server  # the mcp extra: only here, and only when the command runs
    except ModuleNotFoundError as e:
        if (e.name or "").partition(".")[0] == "mcp":
            raise UsageError(INSTALL) from None
        raise
    if store is not None:
        ctx.ensure_object(dict)["store"] = store  # (so an error line masks its password too)
    mcp_server.serve(store_location(ctx), session_id, ctx.obj.get("durability") if ctx.obj else None)
