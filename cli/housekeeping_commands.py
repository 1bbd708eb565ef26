"""Commands over the whole store: ``sql`` (the read model) and ``gc``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from tapevm.cli import render
from tapevm.cli.options import err, json_option, open_store_for, out, print_json
from tapevm.domain.errors import UsageError
from tapevm.infrastructure.followers.read_model import rebuild, run_sql
from tapevm.infrastructure.housekeeping import collect_garbage


@click.command()
@click.argument("statement", required=False, metavar='"SELECT ..."')
@click.option("--rebuild", "do_rebuild", is_flag=True, help="Empty the read model and rebuild it from the log.")
@json_option
@click.pass_context
def sql(ctx: click.Context, statement: str | None, do_rebuild: bool, as_json: bool) -> None:
    """Query the read model (sessions, events, bindings, facts, files, snapshots) read-only.

    The read model catches up with the log first; see docs/cli.md for its tables.
    BLOB values are shown as hexadecimal text.
    """
    if statement is not None and not statement.strip():
        raise UsageError('the statement is empty: give one, e.g. tape sql "SELECT * FROM sessions"')
    with open_store_for(ctx) as store:
        if statement is None:
            if not do_rebuild:
                raise UsageError('give a statement, e.g. tape sql "SELECT * FROM sessions", or --rebuild')
            rebuild(store)
            _, caught = run_sql(store, "SELECT 1")
            err.print(f"rebuilt the read model: {caught.events} events from {caught.commits} commits")
            return
        result, _ = run_sql(store, statement, fresh=do_rebuild)
    if as_json:
        keys = json_keys(result.columns)
        print_json([dict(zip(keys, map(_cell, row), strict=True)) for row in result.rows])
        return
    rows: list[render.Row] = [(tuple("NULL" if v is None else str(_cell(v)) for v in row), None)
                              for row in result.rows]
    for text in render.titled_table(f"{len(result.rows)} rows", result.columns, rows, out):
        click.echo(text, nl=False, color=render.colored(out))


def json_keys(columns: Sequence[str]) -> list[str]:
    """One distinct key per column for ``--json``: a repeated name gets a suffix, ``x``, ``x:2``, ``x:3``...

    A row is an object keyed by column, and ``select 'a' as x, 'b' as x`` gave ``{"x": "b"}``: the
    first value was lost.  A suffix is never a name another column has (``x:2`` given as a column
    name keeps it; the second ``x`` becomes ``x:3``), so every value keeps a key of its own.
    """
    taken = set(columns)
    seen: set[str] = set()
    keys = []
    for name in columns:
        key = name
        if name in seen:
            n = 2
            while f"{name}:{n}" in taken:
                n += 1
            key = f"{name}:{n}"
            taken.add(key)
        seen.add(name)
        keys.append(key)
    return keys


def _cell(value: Any) -> Any:
    """A column's value as JSON and text can show it: a BLOB as hexadecimal text."""
    return value.hex() if isinstance(value, (bytes, bytearray, memoryview)) else value


@click.command()
@json_option
@click.pass_context
def gc(ctx: click.Context, as_json: bool) -> None:
    """Remove what can be rebuilt (read model, dead leases), vacuum the database, report what was freed; never an event."""
    with open_store_for(ctx) as store:
        report = collect_garbage(store)
    if as_json:
        print_json(report.as_json())
        return
    for item in report.items:
        click.echo(f"removed {item['what']}: {item['bytes']} bytes")
    click.echo(f"freed {report.freed_bytes} bytes")
