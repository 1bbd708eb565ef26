"""Follower lag: a follower keeps up with a writer appending 10,000 events/s.

Target (issue 6): a follower keeps up with a writer appending 10,000 events/s
with under 1 s of lag.

A writer process appends commit records of ``--form-size`` ``Defined`` events
(default 100, over 1,000 names, so most replace a binding) at ``--rate``
events/s (paced: commit k is due at k x form-size / rate seconds; a writer
that falls behind does not sleep, and the rate it actually achieved is
reported), for ``--seconds``.  A follower process runs ONE projection
(``--projection sql`` or ``checkpoints``; default: each in its own run) from
before the first commit.  Each projection batch reports the wall time at which
it committed; a record's lag = that time minus the record's recorded time
(stamped by the writer just before its insert, so it includes the insert's
own commit: an upper bound of commit-to-applied).  Record-count lag = commits
the writer had made minus records the follower had applied, sampled every
10 ms over the run.

Baseline in the same run: the projection's catch-up throughput from zero over
the same log once the writer is done (a fresh read-model file / an
independent tracking name with the checkpoints dropped), as a ratio to the
writer's rate: the follower's headroom.

Writers keep no inline checkpoints (``TAPE_INLINE_CHECKPOINTS=0``), so the
``checkpoints`` follower writes every one (K = 1,000 events).

    .venv/bin/python bench/bench_follow.py                          # SQLite, 10 s, both projections
    .venv/bin/python bench/bench_follow.py --backend postgres       # TAPE_BENCH_POSTGRES or the test server
"""

from __future__ import annotations

import bisect
import contextlib
import multiprocessing as mp
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import _common as C

TARGET_RATE = 10_000
TARGET_LAG_S = 1.0


def writer(url: str, rate: float, seconds: float, size: int, start: Any, out: Any) -> None:
    """Append ``size``-event commit records at ``rate`` events/s; send back each commit's wall time."""
    os.environ["TAPE_INLINE_CHECKPOINTS"] = "0"
    from tapevm.domain.events import Defined, RecordedEvent, SessionStarted
    from tapevm.infrastructure.stores.factory import open_store

    with open_store(url) as store:
        now = time.time()
        store.append([RecordedEvent("w", 1, 1, now, SessionStarted(tapevm_version="bench", vm_version=1))])
        seq = 2
        start.wait()
        commits: list[float] = []
        interval = size / rate
        t0 = time.perf_counter()
        k = 0
        while time.perf_counter() - t0 < seconds:
            due = t0 + k * interval
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            stamp = time.time()
            store.append([RecordedEvent("w", j, seq, stamp, Defined(ns="user", name=f"x{j % 1000}", value=j))
                          for j in range(seq, seq + size)])
            commits.append(time.time())
            seq += size
            k += 1
        elapsed = time.perf_counter() - t0
    out.put({"commits": commits, "events": len(commits) * size, "elapsed": elapsed})


def follower(url: str, projection: str, ready: Any, writer_done: Any, out: Any) -> None:
    """Follow ``projection`` until the writer is done and everything is applied; send back (applied at, recorded at)."""
    os.environ["TAPE_INLINE_CHECKPOINTS"] = "0"
    from tapevm.infrastructure.followers.catalog import open_projection
    from tapevm.infrastructure.followers.runner import Follower
    from tapevm.infrastructure.stores.factory import open_store
    from tapevm.infrastructure.stores.log_tail import LogTail

    applied: list[tuple[float, float]] = []

    def on_batch(name: str, batch: Any, now: float) -> None:
        applied.extend((now, t) for t in batch.record_times)

    with open_store(url) as store:
        f = Follower(store, [open_projection(store, projection)], on_batch=on_batch)
        stop = threading.Event()
        tail = LogTail(store)  # type: ignore[arg-type]

        def stopper() -> None:
            writer_done.wait()
            while not stop.is_set():
                last = tail.last_position()
                if all(w.position == last for w in f.workers):
                    stop.set()
                time.sleep(0.05)

        threading.Thread(target=stopper, daemon=True).start()
        ready.set()
        f.run(stop, status_every=0.5)
        f.close()
    out.put({"applied": applied})


def baseline(url: str, projection: str, tmp: Path) -> tuple[int, float]:
    """Catch-up from zero over the finished log: (events, seconds)."""
    from tapevm.infrastructure.followers.checkpoints import CheckpointProjection
    from tapevm.infrastructure.followers.read_model import ReadModel
    from tapevm.infrastructure.followers.runner import Follower
    from tapevm.infrastructure.stores.checkpoint_tables import checkpoint_store_for
    from tapevm.infrastructure.stores.factory import open_store

    with open_store(url) as store:
        if projection == "sql":
            p: Any = ReadModel(store, tmp / "baseline.readmodel.db")
        else:
            checkpoint_store_for(store).delete("w")  # type: ignore[union-attr]
            p = CheckpointProjection(store, tracking_name="bench-baseline")
        f = Follower(store, [p])
        t0 = time.perf_counter()
        [status] = f.run_once()
        took = time.perf_counter() - t0
        f.close()
    return status.events, took


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def record_lag(commits: list[float], applied_at: list[float]) -> int:
    """The largest (commits made - records applied) over the run, sampled every 10 ms."""
    if not commits:
        return 0
    applied_sorted = sorted(applied_at)
    worst, t = 0, commits[0]
    end = max(commits[-1], applied_sorted[-1] if applied_sorted else commits[-1])
    while t <= end:
        worst = max(worst, bisect.bisect_right(commits, t) - bisect.bisect_right(applied_sorted, t))
        t += 0.01
    return worst


@contextlib.contextmanager
def store_url(backend: str, tmp: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield str(tmp / "follow.db")
        return
    import _pg

    with _pg.fresh_schema("bench_follow") as schema:
        yield f"{_pg.server_url().split('?')[0]}?schema={schema}"


def _result(proc: Any, queue: Any, what: str) -> dict[str, Any]:
    """The process's result, or an error if it died without one (never hangs on a dead process)."""
    import queue as q

    while True:
        try:
            return queue.get(timeout=1.0)  # type: ignore[no-any-return]
        except q.Empty:
            if not proc.is_alive():
                raise SystemExit(f"the {what} process died (exit code {proc.exitcode})") from None


def one_run(backend: str, projection: str, args: Any, tmp: Path) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    run_dir = tmp / f"{backend}-{projection}"
    run_dir.mkdir()
    os.environ["TAPE_HOME"] = str(run_dir / "home")  # a PostgreSQL store's read model goes here
    with store_url(backend, run_dir) as url:
        from tapevm.infrastructure.stores.factory import open_store

        with open_store(url):
            pass  # tables exist before either process starts
        ready, start, writer_done = ctx.Event(), ctx.Event(), ctx.Event()
        w_out, f_out = ctx.Queue(), ctx.Queue()
        fp = ctx.Process(target=follower, args=(url, projection, ready, writer_done, f_out))
        fp.start()
        ready.wait(timeout=60)
        wp = ctx.Process(target=writer, args=(url, args.rate, args.seconds, args.form_size, start, w_out))
        wp.start()
        start.set()
        w = _result(wp, w_out, "writer")
        wp.join()
        writer_done.set()
        f = _result(fp, f_out, "follower")
        fp.join()
        events, took = baseline(url, projection, run_dir)
    applied = f["applied"][1:] if f["applied"] else []  # the first record is the session start, before the pace
    lags = [a - r for a, r in applied]
    achieved = w["events"] / w["elapsed"]
    catch_up_eps = events / took if took else 0.0
    result = {
        "backend": backend, "projection": projection, "target_rate": args.rate, "seconds": args.seconds,
        "form_size": args.form_size, "writer_events": w["events"], "writer_eps": achieved,
        "writer_kept_pace": achieved >= 0.95 * args.rate,
        "records": len(lags), "lag_max_s": max(lags, default=0.0), "lag_p99_s": percentile(lags, 0.99),
        "lag_p50_s": percentile(lags, 0.5), "record_lag_max": record_lag(w["commits"], [a for a, _ in applied]),
        "catch_up_eps": catch_up_eps, "headroom": catch_up_eps / achieved if achieved else 0.0,
    }
    result["pass"] = bool(result["writer_kept_pace"] and result["lag_max_s"] < TARGET_LAG_S)
    return result


def main() -> None:
    p = C.parser(__doc__.splitlines()[0])
    p.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    p.add_argument("--projection", choices=["sql", "checkpoints", "both"], default="both")
    p.add_argument("--rate", type=float, default=TARGET_RATE, help="events/s the writer appends")
    p.add_argument("--seconds", type=float, default=10.0, help="how long the writer writes")
    p.add_argument("--form-size", type=int, default=100, help="events per commit record")
    args = p.parse_args()
    if args.quick:
        args.seconds, args.rate = 1.0, 2_000
    projections = ["sql", "checkpoints"] if args.projection == "both" else [args.projection]
    with C.workdir(args) as tmp:
        runs = [one_run(args.backend, name, args, tmp) for name in projections]
    rows: list[tuple[str, Any]] = []
    for r in runs:
        n = r["projection"]
        rows += [
            (f"{n}: writer events/s (target {r['target_rate']:,.0f})", r["writer_eps"]),
            (f"{n}: lag max / p99 / p50 s", f"{r['lag_max_s']:.3f} / {r['lag_p99_s']:.3f} / {r['lag_p50_s']:.3f}"),
            (f"{n}: record-count lag max", r["record_lag_max"]),
            (f"{n}: catch-up events/s (baseline)", r["catch_up_eps"]),
            (f"{n}: headroom (catch-up / writer)", f"{r['headroom']:.2f}x"),
            (f"{n}: lag < {TARGET_LAG_S:g} s at the target rate", C.verdict(r["pass"])),
        ]
    name = "follow" if args.backend == "sqlite" else "pg_follow"
    C.emit(name, rows, {"runs": runs, "target_lag_s": TARGET_LAG_S, "pass": all(r["pass"] for r in runs),
                        "quick": args.quick, **({"server": __import__("_pg").server_settings()}
                                                if args.backend == "postgres" else {})})


if __name__ == "__main__":
    main()
