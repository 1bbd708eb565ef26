"""``tape follow``: keep projections (the SQL read model, checkpoints) up to date as the log grows."""

from __future__ import annotations

import threading
import time

import click
from rich.live import Live
from rich.table import Table

from tapevm.cli.options import Seconds, err, json_option, open_store_for, out, print_json
from tapevm.infrastructure.followers.catalog import follow, projection_names
from tapevm.infrastructure.followers.runner import BATCH, FollowStatus, stop_on_signals
from tapevm.infrastructure.stores.log_tail import MIN_POLL_INTERVAL

MAX_POLL = 3600.0  # seconds: --poll is finite, at least MIN_POLL_INTERVAL (no busy loop) and at most an hour
MAX_BATCH = 100_000  # records per transaction: a batch is held in memory
PLAIN_EVERY = 10.0  # seconds between status lines when stderr is not a terminal (a service's log)


def _behind(s: FollowStatus) -> str:
    """Records behind; counting stops at a cap, shown as "1,000+"."""
    return f"{s.records_behind:,}{'+' if s.records_behind_capped else ''}"


def _lag(s: FollowStatus) -> str:
    return f"{_behind(s)} records, {s.lag_seconds:.2f} s"


def _table(statuses: list[FollowStatus], title: str) -> Table:
    # Positions are opaque (on PostgreSQL, 2**40 + a transaction id): they come last, where a narrow
    # terminal may shorten them, and the projection's name is never shortened.
    table = Table(title=title)
    table.add_column("projection", no_wrap=True, min_width=len("checkpoints"))
    for col in ("events", "events/s", "behind", "lag s", "moved", "position", "last"):
        table.add_column(col, justify="right")
    for s in statuses:  # a follower standing by (another one holds the projection) says so in its name column
        table.add_row(f"{s.projection} (standby)" if s.standby else s.projection, f"{s.events:,}", f"{s.events_per_s:,.0f}",
                      _behind(s), f"{s.lag_seconds:.2f}",
                      str(s.moved), str(s.position), str(s.last_position))
    return table


def _line(s: FollowStatus) -> str:
    if s.standby:
        return f"{s.projection}: standing by (another follower applies it), position {s.position} of {s.last_position}"
    return (f"{s.projection}: position {s.position} of {s.last_position}, applied {s.events:,} events, "
            f"{s.events_per_s:,.0f} events/s, lag {_lag(s)}")


@click.command("follow")
@click.option("-p", "--projection", "projections", multiple=True, type=click.Choice(projection_names()),
              help="A projection to keep up to date (repeatable; default: all).")
@click.option("--once", is_flag=True, help="Catch up, print a summary and exit (for scripts and cron).")
@click.option("--poll", type=Seconds(MAX_POLL, MIN_POLL_INTERVAL), default=None, metavar="SECONDS",
              help="SQLite: how often to look for new commits (default 0.05); PostgreSQL: the safety-net "
                   "poll behind LISTEN/NOTIFY (default 2).")
@click.option("--batch", type=click.IntRange(1, MAX_BATCH), default=BATCH, show_default=True, metavar="N",
              help="Commit records applied per transaction (smaller: less work lost to a crash, more fsyncs).")
@json_option
@click.pass_context
def follow_(ctx: click.Context, projections: tuple[str, ...], once: bool, poll: float | None, batch: int,
            as_json: bool) -> None:
    """Run projections as a long-running follower of the log, applying each commit exactly once.

    Tails every session's commits (LISTEN/NOTIFY on PostgreSQL, polling on
    SQLite), keeps each projection's position in the same transaction as its
    writes (kill -9 safe: a restart resumes where it stopped), and shows the
    lag.  Stop with Ctrl-C or SIGTERM.  Several followers may run at once.
    """
    names = list(projections) or projection_names()
    # From the start: a SIGTERM while the store is still opening stops as gracefully as a later one.
    with stop_on_signals(threading.Event()) as stop, open_store_for(ctx, create=True) as store:
        if once:
            statuses = follow(store, names, once=True, poll_interval=poll, batch=batch, stop=stop)
        else:
            statuses = _follow_live(store, names, poll, batch, stop, quiet=as_json)
    interrupted = once and stop.is_set()
    if as_json:
        print_json([s.as_json() for s in statuses])
    else:
        out.print(_table(statuses, "interrupted" if interrupted else "caught up" if once else "stopped"))
    if interrupted:
        ctx.exit(130)


def _follow_live(store: object, names: list[str], poll: float | None, batch: int, stop: threading.Event,
                 quiet: bool) -> list[FollowStatus]:
    if quiet:
        return follow(store, names, poll_interval=poll, batch=batch, stop=stop)  # type: ignore[arg-type]
    if err.is_terminal:
        with Live(_table([], "following"), console=err, refresh_per_second=4, transient=True) as live:
            return follow(store, names, poll_interval=poll, batch=batch, stop=stop,  # type: ignore[arg-type]
                          on_status=lambda st: live.update(_table(st, "following (Ctrl-C to stop)")))
    last = [0.0]

    def plain(statuses: list[FollowStatus]) -> None:
        if time.monotonic() - last[0] >= PLAIN_EVERY:
            last[0] = time.monotonic()
            for s in statuses:
                err.print(_line(s))

    return follow(store, names, poll_interval=poll, batch=batch, stop=stop, on_status=plain)  # type: ignore[arg-type]
