"""Options and helpers shared by the ``tape`` commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click
import orjson
from rich.console import Console

from tapevm.infrastructure.ports import EventStore
from tapevm.infrastructure.session import FormOutcome, Session, open_session
from tapevm.infrastructure.store_factory import open_store

F = TypeVar("F", bound=Callable[..., Any])

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def session_option(f: F) -> F:
    return click.option("-i", "--session", "session_id", default="default", show_default=True,
                        metavar="ID", help="Session id.")(f)


def json_option(f: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON output.")(f)


def store_location(ctx: click.Context) -> str | None:
    return ctx.obj.get("store") if ctx.obj else None


def open_session_for(ctx: click.Context, session_id: str, create: bool = True) -> Session:
    """The session named on the command line, in the store the global options name."""
    return open_session(session_id, store_location(ctx), create=create, durability=ctx.obj.get("durability"))


def open_store_for(ctx: click.Context) -> EventStore:
    return open_store(store_location(ctx), durability=ctx.obj.get("durability"))


def print_json(data: Any) -> None:
    click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())


def show_outcome(outcome: FormOutcome, echo_value: bool) -> None:
    """A form's output, then its value (or its error, on stderr)."""
    if outcome.output:
        click.echo(outcome.output, nl=False)
    if not outcome.ok:
        err.print(f"[red]error[/red] (event {outcome.last_seq}): {outcome.error_kind}: {outcome.error_message}",
                  markup=True, highlight=False)
    elif echo_value:
        click.echo(outcome.printed)
