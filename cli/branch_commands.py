"""Commands that branch and join sessions: ``fork``, ``clone``, ``diff``, ``merge``, ``take``, ``export``."""

from __future__ import annotations

from typing import Any

import click

from tapevm.cli import render
from tapevm.cli.ui_links import print_ui_link, ui_option
from tapevm.cli.options import NEW_SESSION_ID, SESSION_ID, err, json_option, open_store_for, out, print_json
from tapevm.domain.addresses import parse_address
from tapevm.domain.state import MISSING, split_fact
from tapevm.infrastructure.branches.compare import compare
from tapevm.infrastructure.branches.forks import ForkResult, resolve_address
from tapevm.infrastructure.branches.forks import clone as clone_session
from tapevm.infrastructure.branches.forks import fork as fork_session
from tapevm.infrastructure.branches.merging import MergeResult, item_label
from tapevm.infrastructure.branches.merging import merge as merge_sessions
from tapevm.infrastructure.branches.merging import take as take_binding
from tapevm.infrastructure.session.time_travel import state_of
from tapevm.vm.state_export import export_state
from tapevm.vm.state_printer import StatePrinter


def _fork_json(r: ForkResult) -> dict[str, Any]:
    return {"session": r.session, "source": r.source, "at": r.at}


@click.command()
@click.argument("source", type=SESSION_ID, metavar="SRC[@N]")
@click.argument("new", type=NEW_SESSION_ID)
@json_option
@click.pass_context
def fork(ctx: click.Context, source: str, new: str, as_json: bool) -> None:
    """Start session NEW from SRC's state after event N (default: its head), copying no event."""
    with open_store_for(ctx) as store:
        r = fork_session(store, source, new)
    if as_json:
        print_json(_fork_json(r))
    else:
        click.echo(f"forked {r.source}@{r.at} as {r.session}")


@click.command()
@click.argument("source", type=SESSION_ID, metavar="SRC[@N]")
@click.argument("new", type=NEW_SESSION_ID)
@json_option
@click.pass_context
def clone(ctx: click.Context, source: str, new: str, as_json: bool) -> None:
    """Start session NEW as a copy of SRC at its head, or after event N (a fork; no event is copied)."""
    with open_store_for(ctx) as store:
        r = clone_session(store, source, new)
    if as_json:
        print_json(_fork_json(r))
    else:
        click.echo(f"cloned {r.source}@{r.at} as {r.session}")


def change_json(c: Any, show_a: StatePrinter, show_b: StatePrinter) -> dict[str, Any]:
    if c.kind == "binding":
        key = f"{c.key[0]}/{c.key[1]}"
    elif c.kind == "atom":
        key = f"#{c.key[0]}"
    elif c.kind == "fact":
        key = show_a(split_fact(c.a)[0]) if c.a is not MISSING else show_b(split_fact(c.b)[0])  # (not its evidence)
    else:
        key = str(c.key[0])

    def value(enc: Any, show: StatePrinter) -> Any:
        if enc is MISSING:
            return None
        if c.kind in ("file", "namespace"):
            return enc
        return show(enc)

    return {"kind": c.kind, "key": key, "status": c.status, "a": value(c.a, show_a), "b": value(c.b, show_b)}


@click.command()
@click.argument("a", type=SESSION_ID, metavar="A[@N]")
@click.argument("b", type=SESSION_ID, metavar="B[@M]")
@click.option("--events", "with_events", is_flag=True,
              help="Also report the first event number at which the logs differ and the common ancestor.")
@json_option
@ui_option
@click.pass_context
def diff(ctx: click.Context, a: str, b: str, with_events: bool, as_json: bool, ui_link: bool) -> None:
    """State differences between two sessions (or points): bindings, atoms, facts, files."""
    print_ui_link(ui_link, "diff", a=a, b=b)
    with open_store_for(ctx) as store:
        cmp = compare(store, a, b, events=with_events)
    show_a, show_b = StatePrinter(cmp.a_state), StatePrinter(cmp.b_state)
    changes = [change_json(c, show_a, show_b) for c in cmp.diff.changes]
    data: dict[str, Any] = {"a": cmp.a, "b": cmp.b, "changes": changes}
    if with_events:
        data["events"] = {"common_ancestor": cmp.common_ancestor, "first_difference": cmp.first_difference}
    if as_json:
        print_json(data)
        return
    rows: list[render.Row] = [((c["kind"], c["key"], c["status"], str(c["a"] if c["a"] is not None else ""),
                                str(c["b"] if c["b"] is not None else "")), None) for c in changes]
    if not rows:
        out.print(f"{cmp.a} -> {cmp.b}: no differences")
    for text in render.titled_table(f"{cmp.a} -> {cmp.b}: {len(changes)} difference{'s' * (len(changes) != 1)}",
                                    ("kind", "key", "status", cmp.a, cmp.b), rows, out, compared=(3, 4)
                                    ) if rows else ():
        click.echo(text, nl=False, color=render.colored(out))
    if with_events:
        first = cmp.first_difference
        out.print(f"common ancestor: event {cmp.common_ancestor}" if cmp.common_ancestor else "no common ancestor")
        out.print("the logs are identical" if first is None else f"the logs first differ at event {first}")


def _merge_json(r: MergeResult) -> dict[str, Any]:
    return {"source": r.source, "destination": r.destination, "source_seq": r.source_seq, "ancestor": r.ancestor,
            "seq": r.seq, "applied": [item_label(i) for i in r.applied],
            "conflicts": [item_label(i) for i in r.conflicts], "resolved": r.resolved}


@click.command()
@click.argument("source", type=SESSION_ID, metavar="SRC[@N]")
@click.option("-i", "--session", "dest", type=SESSION_ID, default="default", show_default=True, metavar="DST",
              help="Destination session.")
@click.option("--prefer", type=click.Choice(["keep", "take", "fail"]), default="fail", show_default=True,
              help="On a name changed on both sides: keep DST's value, take SRC's, or fail writing nothing.")
@click.option("--keep", "keep", multiple=True, metavar="NAME",
              help="Resolve the conflict on binding NAME (or NS/NAME) with DST's value; repeatable.")
@click.option("--take", "take", multiple=True, metavar="NAME",
              help="Resolve the conflict on binding NAME (or NS/NAME) with SRC's value; repeatable.")
@json_option
@click.pass_context
def merge(ctx: click.Context, source: str, dest: str, prefer: str, keep: tuple[str, ...], take: tuple[str, ...],
          as_json: bool) -> None:
    """Three-way merge of SRC's changes since the common ancestor into DST.

    --keep and --take resolve the named bindings' conflicts before --prefer resolves the rest; a
    name that is not in conflict is a usage error, and nothing is written.
    """
    with open_store_for(ctx) as store:
        r = merge_sessions(store, source, dest, prefer, keep=keep, take=take)
    if as_json:
        print_json(_merge_json(r))
        return
    for c, how in zip(r.conflicts, r.resolved, strict=True):
        err.print(f"conflict: {item_label(c)} (resolved: {how})")
    if r.seq:
        click.echo(f"merged {len(r.applied)} changes from {r.source}@{r.source_seq} into {r.destination} "
                   f"(event {r.seq}; common ancestor: event {r.ancestor})")
    else:
        click.echo(f"nothing to merge from {r.source}@{r.source_seq} into {r.destination}")


@click.command()
@click.argument("source", type=SESSION_ID, metavar="SRC[@N]")
@click.argument("name", metavar="NAME")
@click.option("-i", "--session", "dest", type=SESSION_ID, default="default", show_default=True, metavar="DST",
              help="Destination session.")
@json_option
@click.pass_context
def take(ctx: click.Context, source: str, name: str, dest: str, as_json: bool) -> None:
    """Copy one binding NAME (or NS/NAME) from SRC into DST, recording where it came from."""
    with open_store_for(ctx) as store:
        r = take_binding(store, source, name, dest)
    if as_json:
        print_json(_merge_json(r))
        return
    click.echo(f"took {item_label(r.applied[0])} from {r.source}@{r.source_seq} into {r.destination} (event {r.seq})")


@click.command()
@click.option("-i", "--session", "session_id", type=SESSION_ID, default="default", show_default=True, metavar="ID[@N]",
              help="Session (or session at event N) to export.")
@click.pass_context
def export(ctx: click.Context, session_id: str) -> None:
    """Print Lisp source that recreates the session's state when run in a fresh session.

    What cannot be expressed is listed in comments at the top and on standard error.
    """
    with open_store_for(ctx) as store:
        addr = parse_address(session_id)
        stream, at = resolve_address(store, addr)
        result = export_state(state_of(store, stream, at, addr.session))
    click.echo(result.source, nl=False)
    for problem in result.unexpressible:
        err.print(f"warning: cannot be expressed: {problem}")
