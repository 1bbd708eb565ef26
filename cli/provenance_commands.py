"""Commands that explain a session: ``audit`` (timeline), ``blame`` (provenance), ``world`` (its files)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import click

from tapevm.cli import render
from tapevm.cli.ui_links import print_ui_link, ui_option
from tapevm.cli.options import (
    EVENT_NUMBER,
    json_option,
    open_session_for,
    page,
    print_json,
    print_json_line,
    session_option,
)
from tapevm.domain.errors import UsageError
from tapevm.domain.state import State
from tapevm.infrastructure.provenance import audit, blame_binding, blame_fact, blame_file
from tapevm.infrastructure.session.world_import import read_host_file, world_path
from tapevm.projections.audit import AUDIT_KINDS, SHOWN_WIDTH, AuditEntry
from tapevm.projections.provenance import Blame, BlameEntry
from tapevm.vm.state_printer import StatePrinter


def _check_range(start: int, stop: int | None, head: int) -> None:
    if start < 1 or (stop is not None and stop < start):
        raise UsageError(f"--from/--to must satisfy 1 <= from <= to (got {start}..{stop})")
    if start > head:
        raise UsageError(f"the session has events 1..{head}; --from {start} is past its end")


@click.command("audit")
@session_option
@click.option("--from", "start", type=EVENT_NUMBER, default=1, show_default=True, help="First event number.")
@click.option("--to", "stop", type=EVENT_NUMBER, default=None, help="Last event number.")
@click.option("--kind", "kinds", multiple=True, type=click.Choice(AUDIT_KINDS),
              help="Only entries of this kind (repeatable).")
@json_option
@click.pass_context
def audit_(ctx: click.Context, session_id: str, start: int, stop: int | None, kinds: tuple[str, ...],
           as_json: bool) -> None:
    """A readable timeline: what changed, when, which form caused it, effect calls with duration and size.

    Pages when the output is a terminal; --json streams one JSON object per line.
    """
    with open_session_for(ctx, session_id, create=False) as s:
        _check_range(start, stop, s.head)
        printer = StatePrinter(s.state)
        entries = audit(s.store, s.id, printer.cut_at(SHOWN_WIDTH), start, stop, kinds, printer.decoder.decode)
        if as_json:
            for entry in entries:
                print_json_line(entry.as_json())
            return
        page(ctx, _lines(entries))


def _lines(entries: Iterable[AuditEntry]) -> Iterator[str]:
    for e in entries:
        yield _line(e) + "\n"


def _line(e: AuditEntry) -> str:
    extra = ""
    if e.duration_ms is not None:
        extra = f"  [{e.duration_ms:.1f} ms, {e.size} B]"
    cause = "" if e.kind == "input" or e.cause == e.seq else f"  <- {e.form or f'event {e.cause}'}"
    mark = "!" if e.error else " "
    return f"{e.seq:>7} {render.iso_time(e.time)[11:23]} {mark}{e.kind:<7} {e.what}{extra}{cause}"


@click.command("blame")
@click.argument("name", required=False)
@session_option
@click.option("--fact", "fact", metavar="FACT", default=None, help="A fact, as Lisp data: '(task \"x\" done)'.")
@click.option("--file", "file", metavar="PATH", default=None, help="A file of the VM's world.")
@click.option("--at", type=EVENT_NUMBER, default=None, metavar="N", help="As of event N (default: the head).")
@json_option
@ui_option
@click.pass_context
def blame(ctx: click.Context, name: str | None, session_id: str, fact: str | None, file: str | None,
          at: int | None, as_json: bool, ui_link: bool) -> None:
    """Which event and input form produced NAME's value (or a fact's, or a file's), and its full history."""
    if sum(x is not None for x in (name, fact, file)) != 1:
        raise UsageError("blame takes exactly one of NAME, --fact FACT or --file PATH")
    with open_session_for(ctx, session_id, create=False) as s:
        if at is not None and not 1 <= at <= s.head:
            raise UsageError(f"session {s.id!r} has events 1..{s.head}; there is no event {at}")
        if name is not None:
            result = blame_binding(s.store, s.id, name, at, s.state_at(at).current_ns if at else s.state.current_ns)
        elif fact is not None:
            result = blame_fact(s.store, s.id, fact, at)
        else:
            result = blame_file(s.store, s.id, file or "", at)
        if not result.history:
            raise UsageError(f"nothing in session {s.id!r} up to event {result.at} touched {result.target}")
        qualified = name if name is None or "/" in name else f"{s.state.current_ns}/{name}"
        print_ui_link(ui_link, "s", s.id, "blame", binding=qualified, fact=fact, file=file, at=at)
        describe = describer(result.kind, s.state)
        if as_json:
            print_json(blame_json(result, describe))
            return
        _show_blame(result, describe)


def describer(kind: str, state: State) -> Callable[[BlameEntry], str]:
    """How an entry's value is shown: Lisp source, or a file version's size and blob key."""
    show = StatePrinter(state)

    def describe(e: BlameEntry) -> str:
        if e.removed and (kind == "file" or e.value is None):
            return "(deleted)" if kind == "file" else "(removed)"
        if kind != "file":
            return show(e.value)
        stored = isinstance(e.value, str) and e.value in state.blobs
        size = e.size if e.size is not None else len(state.blobs.get(e.value)) if stored else None
        return f"{size} bytes, blob {str(e.value)[:12]}" if size is not None else f"blob {str(e.value)[:12]}"

    return describe


def _origin(e: BlameEntry) -> str:
    """Where an entry came from: its form's place, or the session action."""
    if e.form_file:
        return f"{e.form_file}:{e.form_line}"
    return f"{e.op} of {e.detail}" if e.detail else f"event {e.cause}"


def blame_json(b: Blame, describe: Callable[[BlameEntry], str]) -> dict[str, object]:
    def one(e: BlameEntry) -> dict[str, object]:
        return {"seq": e.seq, "op": e.op, "value": describe(e), "removed": e.removed, "cause": e.cause,
                "detail": e.detail, "form": {"file": e.form_file, "line": e.form_line, "source": e.form_source}}
    cur = b.current
    return {"target": b.target, "at": b.at, "current": one(cur) if cur else None,
            "history": [one(e) for e in b.history]}


def _show_blame(b: Blame, describe: Callable[[BlameEntry], str]) -> None:
    cur = b.current
    if cur is None:
        click.echo(f"{b.target} has no value at event {b.at} (last: {b.history[-1].op} at event {b.history[-1].seq})")
    else:
        click.echo(f"{b.target} = {render.short(describe(cur), 100)}")
        source = f"  {render.short(cur.form_source, 80)}" if cur.form_file else ""
        click.echo(f"  set by event {cur.seq} ({cur.op}), caused by event {cur.cause}: {_origin(cur)}{source}")
    click.echo("history:")
    for e in b.history:
        click.echo(f"  {e.seq:>7}  {e.op:<8} {render.short(describe(e), 60):<60}  <- {_origin(e)}")


@click.group("world")
def world() -> None:
    """The VM's sandboxed files: list, show, import from the host."""


@world.command("ls")
@session_option
@click.option("--at", type=EVENT_NUMBER, default=None, metavar="N", help="As of event N (default: the head).")
@json_option
@click.pass_context
def world_ls(ctx: click.Context, session_id: str, at: int | None, as_json: bool) -> None:
    """List the world's files (path, size, content hash)."""
    with open_session_for(ctx, session_id, create=False) as s:
        st = s.state if at is None else s.state_at(at)
        rows: list[dict[str, Any]] = [
            {"path": p, "size": len(st.blobs.get(k)), "content": k} for p, k in sorted(st.files.items())
        ]
    if as_json:
        print_json(rows)
        return
    for r in rows:
        click.echo(f"{r['size']:>10}  {r['content'][:12]}  {r['path']}")


@world.command("cat")
@click.argument("path")
@session_option
@click.option("--at", type=EVENT_NUMBER, default=None, metavar="N", help="As of event N (default: the head).")
@click.pass_context
def world_cat(ctx: click.Context, path: str, session_id: str, at: int | None) -> None:
    """Write a world file's bytes to standard output."""
    with open_session_for(ctx, session_id, create=False) as s:
        st = s.state if at is None else s.state_at(at)
        path = world_path(path)
        if path not in st.files:
            where = f" at event {at}" if at is not None else ""
            raise UsageError(f"no file {path!r} in the world of session {s.id!r}{where} (see 'tape world ls')")
        data = st.file_bytes(path)
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


@world.command("import")
@click.argument("host_path", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("path", required=False)
@session_option
@click.option("--special", is_flag=True,
              help="Also follow a symbolic link, or read a device or pipe (up to 64 MiB).")
@click.pass_context
def world_import(ctx: click.Context, host_path: Path, path: str | None, session_id: str, special: bool) -> None:
    """Record the host file HOST_PATH into the VM's world as PATH (default: its name), as an event.

    Only a regular file (at most 512 MiB) named itself, unless --special.
    """
    host = read_host_file(host_path, path, special=special)  # before the session is opened (or created)
    with open_session_for(ctx, session_id) as s:
        seq = s.import_file(host)
        click.echo(f"imported {host_path} as {path or host_path.name} (event {seq})")
