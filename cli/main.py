"""The ``tape`` command: a thin layer over the Python API.

Every command is one call into the library plus rendering.  Errors are one
line on stderr and a non-zero exit (2 for usage, 1 otherwise); ``--debug``
shows the traceback instead.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import orjson
import structlog
from rich.console import Console

from tapevm.cli import render
from tapevm.domain.errors import TapeError, UsageError
from tapevm.infrastructure.session import FormOutcome, Session, open_session
from tapevm.infrastructure.store_factory import open_store

F = TypeVar("F", bound=Callable[..., Any])

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def configure_logging(debug: bool) -> None:
    level = logging.DEBUG if debug else logging.WARNING
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        processors=[structlog.processors.add_log_level, structlog.processors.KeyValueRenderer(sort_keys=False)],
    )


class TapeGroup(click.Group):
    """Turns every TapeError (and any unexpected error) into one line and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TapeError as e:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            err.print(f"[red]error:[/red] {e}", markup=True, highlight=False)
            ctx.exit(e.exit_code)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except KeyboardInterrupt:
            err.print("interrupted")
            ctx.exit(130)
        except BrokenPipeError:
            # The reader went away (``tape log | head``): stop quietly, as Unix tools do.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            ctx.exit(141)
        except Exception as e:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            err.print(f"internal error: {type(e).__name__}: {e} (run with --debug for a traceback)", markup=False)
            ctx.exit(1)


@click.group(cls=TapeGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--store", envvar="TAPE_STORE", metavar="PATH|URL",
              help="Event store: a SQLite file or postgresql://... URL [env TAPE_STORE; default $TAPE_HOME/store.db].")
@click.option("--durability", type=click.Choice(["full", "fast"]), envvar="TAPE_DURABILITY", default="full",
              show_default=True,
              help="SQLite commit durability: 'full' survives power loss; 'fast' may lose the last commits "
                   "on power loss (never corrupts) [env TAPE_DURABILITY].")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
@click.version_option(package_name="tapevm", prog_name="tape")
@click.pass_context
def cli(ctx: click.Context, store: str | None, durability: str, debug: bool) -> None:
    """tapevm: an event-sourced Lisp VM. Every change is an event; state is a projection of the log."""
    configure_logging(debug)
    ctx.ensure_object(dict)
    ctx.obj["store"] = store
    ctx.obj["durability"] = durability
    ctx.obj["debug"] = debug


def session_option(f: F) -> F:
    return click.option("-i", "--session", "session_id", default="default", show_default=True,
                        metavar="ID", help="Session id.")(f)


def json_option(f: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON output.")(f)


def _store_arg(ctx: click.Context) -> str | None:
    return ctx.obj.get("store") if ctx.obj else None


def _open(ctx: click.Context, session_id: str, create: bool = True) -> Session:
    return open_session(session_id, _store_arg(ctx), create=create, durability=ctx.obj.get("durability"))


def _print_json(data: Any) -> None:
    click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())


def _show_outcome(outcome: FormOutcome, echo_value: bool) -> None:
    if outcome.output:
        click.echo(outcome.output, nl=False)
    if not outcome.ok:
        err.print(f"[red]error[/red] (event {outcome.last_seq}): {outcome.error_kind}: {outcome.error_message}",
                  markup=True, highlight=False)
    elif echo_value:
        click.echo(outcome.printed)


# -- running code ---------------------------------------------------------------
@cli.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@session_option
@click.pass_context
def run(ctx: click.Context, file: Path, session_id: str) -> None:
    """Run a Lisp FILE in a session, one committed transaction per top-level form.

    Stops at the first form that raises an error (its error is recorded) and exits 1.
    """
    try:
        source = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"no such file: {file}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"cannot read {file}: {e}") from None
    with _open(ctx, session_id) as s:
        for outcome in s.run(source, str(file), stop_on_error=True):
            _show_outcome(outcome, echo_value=False)
            if not outcome.ok:
                ctx.exit(1)


@cli.command("eval")
@click.argument("expr")
@session_option
@click.pass_context
def eval_(ctx: click.Context, expr: str, session_id: str) -> None:
    """Evaluate EXPR (one or more forms) and print the value of the last one."""
    with _open(ctx, session_id) as s:
        outcomes = s.run(expr, "<eval>", stop_on_error=True)
        for outcome in outcomes:
            _show_outcome(outcome, echo_value=outcome is outcomes[-1])
            if not outcome.ok:
                ctx.exit(1)


@cli.command()
@session_option
@click.pass_context
def repl(ctx: click.Context, session_id: str) -> None:
    """An interactive read-eval-print loop; every form is committed as you go."""
    from tapevm.cli.repl import run_repl

    with _open(ctx, session_id) as s:
        run_repl(s, _show_outcome)


# -- inspecting ----------------------------------------------------------------------
@cli.command("log")
@session_option
@click.option("--from", "start", type=int, default=1, show_default=True, help="First event number.")
@click.option("--to", "stop", type=int, default=None, help="Last event number.")
@click.option("--type", "types", multiple=True, metavar="T", help="Only events of this type (repeatable).")
@json_option
@click.pass_context
def log_(ctx: click.Context, session_id: str, start: int, stop: int | None, types: tuple[str, ...],
         as_json: bool) -> None:
    """Show a session's events (JSON lines with --json)."""
    for t in types:
        if t not in _known_types():
            _unknown_type(t)
    with _open(ctx, session_id, create=False) as s:
        events = (r for r in s.events(start, stop) if not types or r.event.type_name in types)
        show = render.ValuePrinter(s.state)  # the head's content can show every value of the log
        if as_json:
            for r in events:
                click.echo(orjson.dumps(render.event_json(r, show)).decode())
            return
        batch = list(events)
        out.print(render.events_table(batch, f"session {s.id}: {len(batch)} events", show, out.width))


def _known_types() -> set[str]:
    from tapevm.domain.events import EVENT_TYPES

    return set(EVENT_TYPES)


def _unknown_type(t: str) -> None:
    raise UsageError(f"unknown event type {t!r}; known types: {', '.join(sorted(_known_types()))}")


@cli.command()
@session_option
@click.option("--at", type=int, default=None, metavar="N", help="The state after event N (default: the head).")
@json_option
@click.pass_context
def state(ctx: click.Context, session_id: str, at: int | None, as_json: bool) -> None:
    """Show a session's state: bindings, atoms, facts and files."""
    with _open(ctx, session_id, create=False) as s:
        st = s.state if at is None else s.state_at(at)
        if as_json:
            _print_json(render.state_json(st))
            return
        for table in render.state_tables(st):
            out.print(table)


@cli.command()
@json_option
@click.pass_context
def sessions(ctx: click.Context, as_json: bool) -> None:
    """List the sessions in the store."""
    from tapevm.infrastructure.session_info import list_sessions

    with open_store(_store_arg(ctx), durability=ctx.obj['durability']) as store:
        rows = list_sessions(store)
    if as_json:
        _print_json([r.as_json() for r in rows])
        return
    from rich.table import Table

    table = Table(title=f"{len(rows)} sessions")
    for col in ("id", "events", "bytes", "last activity"):
        table.add_column(col, justify="right" if col in ("events", "bytes") else "left")
    for r in rows:
        table.add_row(r.session, str(r.events), str(r.stored_bytes), render.iso_time(r.last_activity))
    out.print(table)


@cli.command()
@session_option
@json_option
@click.pass_context
def info(ctx: click.Context, session_id: str, as_json: bool) -> None:
    """Summarise one session: events, bytes, bindings, facts, files, times."""
    from tapevm.infrastructure.session_info import session_info

    with _open(ctx, session_id, create=False) as s:
        data = session_info(s)
    if as_json:
        _print_json(data)
        return
    from rich.table import Table

    table = Table(title=f"session {session_id}", show_header=False)
    table.add_column("key", style="cyan")
    table.add_column("value")
    for k, v in data.items():
        table.add_row(k, render.iso_time(v) if k.endswith("_time") else str(v))
    out.print(table)


def main() -> None:
    """Console entry point."""
    cli(obj={}, prog_name="tape")


if __name__ == "__main__":  # pragma: no cover
    main()
