"""``tape checkpoints``: list, rebuild and verify a session's checkpoint cache."""

from __future__ import annotations

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from tapevm.cli import render
from tapevm.cli.options import MAX_COUNT, err, json_option, open_session_for, out, print_json, session_option
from tapevm.domain.errors import UsageError
from tapevm.domain.ports import CheckpointMeta


def _meta_json(m: CheckpointMeta) -> dict[str, object]:
    return {"seq": m.seq, "kind": m.kind, "base": m.base, "stored_bytes": m.stored_size, "raw_bytes": m.raw_size,
            "projection_version": m.projection_version, "events_hash": m.events_hash, "created_at": m.created_at,
            "pack": m.pack or None}


_KIND_NAMES = {"I": "keyframe", "D": "delta keyframe", "P": "delta"}


def _show(session_id: str, metas: list[CheckpointMeta], as_json: bool, interval: int) -> None:
    total = sum(m.stored_size for m in metas)
    if as_json:
        print_json({"session": session_id, "interval": interval, "count": len(metas), "stored_bytes": total,
                    "checkpoints": [_meta_json(m) for m in metas]})
        return
    keys = sum(1 for m in metas if m.kind in ("I", "D"))
    table = Table(title=f"session {session_id}: {len(metas)} checkpoints ({keys} keyframes), "
                        f"{total:,} bytes, every {interval:,} events")
    for col in ("event", "kind", "base", "pack", "bytes", "raw bytes", "written"):
        table.add_column(col, justify="right" if col not in ("kind", "written") else "left")
    for m in metas:
        table.add_row(str(m.seq), _KIND_NAMES.get(m.kind, m.kind), str(m.base or ""), str(m.pack or ""),
                      f"{m.stored_size:,}", f"{m.raw_size:,}", render.iso_time(m.created_at))
    out.print(table)


@click.group(invoke_without_command=True)
@session_option
@json_option
@click.pass_context
def checkpoints(ctx: click.Context, session_id: str, as_json: bool) -> None:
    """List a session's checkpoints (a disposable cache that makes state_at and opening fast)."""
    if ctx.invoked_subcommand is not None:
        return
    with open_session_for(ctx, session_id, create=False) as s:
        _show(session_id, s.checkpoints.metas(), as_json, s.checkpoints.interval)


@checkpoints.command()
@session_option
@click.option("--interval", type=click.IntRange(1, MAX_COUNT), default=None, metavar="K",
              help="Events between checkpoints, saved for the whole store (default 1000).")
@json_option
@click.pass_context
def rebuild(ctx: click.Context, session_id: str, interval: int | None, as_json: bool) -> None:
    """Drop a session's checkpoints and write them again from its log."""
    with open_session_for(ctx, session_id, create=False) as s:
        cp = s.checkpoints
        if interval is not None:
            if cp.cache is None:
                raise UsageError("this store keeps no checkpoints")
            cp.cache.set_setting("checkpoint_interval", str(interval))
            cp.interval = interval
        with Progress(TextColumn("rebuilding checkpoints"), BarColumn(), MofNCompleteColumn(),
                      TimeRemainingColumn(), console=err, transient=True, disable=as_json) as bar:
            task = bar.add_task("rebuild", total=s.head)
            metas = cp.rebuild(lambda done, total: bar.update(task, completed=done, total=total))
        _show(session_id, metas, as_json, cp.interval)


@checkpoints.command()
@session_option
@json_option
@click.pass_context
def verify(ctx: click.Context, session_id: str, as_json: bool) -> None:
    """Check every checkpoint against the whole log (exit 1 if any cannot be trusted; they are dropped)."""
    with open_session_for(ctx, session_id, create=False) as s:
        results = s.checkpoints.verify()
    bad = [(m, r) for m, r in results if r is not None]
    if as_json:
        print_json({"session": session_id, "checked": len(results),
                    "bad": [{"seq": m.seq, "reason": r} for m, r in bad]})
    else:
        out.print(f"{len(results)} checkpoints checked, {len(bad)} bad" + (", dropped" if bad else ""))
        for m, r in bad:
            out.print(f"  event {m.seq}: {r}")
    if bad:
        ctx.exit(1)
