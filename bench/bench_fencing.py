"""The lease fence's cost: a lease-holding writer's append (fenced) against today's unfenced append.

Target (issue 21): the fencing check within noise of the append without it.
The fence is one more indexed read of the session's lease row inside the
insert's transaction (SQLite: a SELECT under BEGIN IMMEDIATE; PostgreSQL: a
``FOR KEY SHARE`` CTE in the same INSERT statement), so it is measured where
it weighs most: small commits (one ``Defined`` event per record), appended
straight to the store, alternating fenced and unfenced rounds of the same
size on fresh sessions so drift on a busy machine falls on both.  The
unfenced rounds run exactly the statements every append ran before the fence
(a writer without a lease still does).

    .venv/bin/python bench/bench_fencing.py                        # SQLite and PostgreSQL, 2,000 commits a round
    .venv/bin/python bench/bench_fencing.py --commits 500 --repeat 3 --backend sqlite

PostgreSQL is the server in ``TAPE_BENCH_POSTGRES`` / ``TAPE_TEST_POSTGRES``
(default ``postgresql://postgres@127.0.0.1:5432/test``), in a fresh schema.
"""

from __future__ import annotations

import gc
import statistics
import time
from pathlib import Path
from typing import Any

import _common as C
import _pg

from tapevm.domain.events import Defined, RecordedEvent
from tapevm.infrastructure.stores.factory import open_store
from tapevm.infrastructure.stores.leases import WriterLease


def one_round(store: Any, stream: str, commits: int, fenced: bool) -> tuple[float, float]:
    """Microseconds per commit of ``commits`` one-event commits to a new ``stream``: (wall, this process's CPU).

    The CPU time leaves out what the wall time waits for (fsync, the server, other processes on a
    busy machine): on SQLite it is where an extra statement shows first."""
    lease = WriterLease(store, stream) if fenced else None
    try:
        events = [RecordedEvent(stream, i, i, 0.0, Defined(ns="user", name=f"x{i}", value=i))
                  for i in range(1, commits + 1)]
        gc.collect()
        start, cpu = time.perf_counter(), time.process_time()
        for event in events:
            store.append([event])
        return ((time.perf_counter() - start) / commits * 1e6, (time.process_time() - cpu) / commits * 1e6)
    finally:
        if lease is not None:
            lease.release()


def compare(url: str, commits: int, repeat: int) -> dict[str, Any]:
    """Alternating rounds (unfenced first, then fenced, ``repeat`` times); per-commit µs of each."""
    times: dict[str, list[float]] = {"unfenced": [], "fenced": []}
    cpu: dict[str, list[float]] = {"unfenced": [], "fenced": []}
    with open_store(url) as store:
        one_round(store, "warm", 50, True)  # tables created, statements prepared
        for r in range(repeat):
            for kind in ("unfenced", "fenced") if r % 2 == 0 else ("fenced", "unfenced"):
                wall, used = one_round(store, f"{kind}-{r}", commits, kind == "fenced")
                times[kind].append(wall)
                cpu[kind].append(used)
    plain, fenced = statistics.median(times["unfenced"]), statistics.median(times["fenced"])
    spread = max(statistics.pstdev(times["unfenced"]) / plain, statistics.pstdev(times["fenced"]) / fenced)
    plain_cpu, fenced_cpu = statistics.median(cpu["unfenced"]), statistics.median(cpu["fenced"])
    cpu_spread = max(statistics.pstdev(cpu["unfenced"]) / plain_cpu, statistics.pstdev(cpu["fenced"]) / fenced_cpu)
    # each round's fenced time over the unfenced one run right beside it: drift falls on both
    paired = sorted(f / u for f, u in zip(times["fenced"], times["unfenced"], strict=True))
    paired_cpu = sorted(f / u for f, u in zip(cpu["fenced"], cpu["unfenced"], strict=True))
    return {"unfenced_us": plain, "fenced_us": fenced, "cost_pct": (fenced / plain - 1) * 100,
            "paired_cost_pct": (statistics.median(paired) - 1) * 100,
            "paired_iqr_pct": [(q - 1) * 100 for q in _quartiles(paired)],
            "paired_cpu_cost_pct": (statistics.median(paired_cpu) - 1) * 100,
            "paired_cpu_iqr_pct": [(q - 1) * 100 for q in _quartiles(paired_cpu)],
            "noise_pct": spread * 100, "unfenced_cpu_us": plain_cpu, "fenced_cpu_us": fenced_cpu,
            "cpu_cost_pct": (fenced_cpu / plain_cpu - 1) * 100, "cpu_noise_pct": cpu_spread * 100,
            "rounds": times, "cpu_rounds": cpu}


def _quartiles(values: list[float]) -> tuple[float, float]:
    if len(values) < 4:
        return min(values), max(values)
    q = statistics.quantiles(values, n=4)
    return q[0], q[2]


def main() -> None:
    p = C.parser(__doc__.splitlines()[0])
    p.add_argument("--commits", type=int, default=2000, help="one-event commits per round")
    p.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    args = p.parse_args()
    commits = 100 if args.quick else args.commits
    repeat = args.repeat or (2 if args.quick else 6)
    results: dict[str, Any] = {}
    rows: list[tuple[str, Any]] = [("commits per round", commits), ("rounds per kind", repeat)]
    with C.workdir(args) as work:
        for backend in ("sqlite", "postgres") if args.backend == "both" else (args.backend,):
            if backend == "sqlite":
                got = compare(str(Path(work) / "fence.db"), commits, repeat)
            else:
                with _pg.fresh_schema("bench_fence") as schema:
                    got = compare(f"{_pg.server_url()}?schema={schema}", commits, repeat)
            results[backend] = got
            rows += [(f"{backend}: unfenced µs/commit (median)", got["unfenced_us"]),
                     (f"{backend}: fenced µs/commit (median)", got["fenced_us"]),
                     (f"{backend}: fence cost %", got["cost_pct"]),
                     (f"{backend}: round-to-round spread % (stdev)", got["noise_pct"]),
                     (f"{backend}: writer CPU µs/commit unfenced / fenced",
                      f"{got['unfenced_cpu_us']:.0f} / {got['fenced_cpu_us']:.0f}"),
                     (f"{backend}: writer CPU cost % (spread %)", f"{got['cpu_cost_pct']:+.1f} ({got['cpu_noise_pct']:.1f})"),
                     (f"{backend}: paired rounds, wall cost % median [IQR]",
                      f"{got['paired_cost_pct']:+.1f} [{got['paired_iqr_pct'][0]:+.1f}, {got['paired_iqr_pct'][1]:+.1f}]"),
                     (f"{backend}: paired rounds, CPU cost % median [IQR]",
                      (f"{got['paired_cpu_cost_pct']:+.1f} [{got['paired_cpu_iqr_pct'][0]:+.1f}, "
                       f"{got['paired_cpu_iqr_pct'][1]:+.1f}]"))]
    C.emit("fencing", rows, {"quick": args.quick, "commits": commits, "repeat": repeat, **results})


if __name__ == "__main__":
    main()
