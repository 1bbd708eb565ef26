"""state_at through checkpoints: 1,000,000 events over 10,000 bindings, and what the checkpoints cost.

Targets (issue 3): ``state_at(n)`` for 100 random n, median 20 ms or less and
at least 100x faster than folding from the start in the same run; checkpoint
storage with K = 1,000 (about 1,000 checkpoints) at most 3x the size of one
full image of the final state.  Storage is the checkpoint table's rows as SQLite
stores them (``dbstat``'s payload: record headers, every metadata column and the
payloads); the pages the table and its index take, free space included, are
printed too.

Workload (the store is written directly with ``store.append``, one commit record
per form as a session writes them, so reading one event decodes one small record): forms of 100 ``define``s create the 10,000 bindings (values: strings,
integers and small lists, so the state has content nodes); then forms
``FormSubmitted, Assigned, FormEvaluated`` update a hot set of ``--hot``
bindings (default 100) until the log holds ``--events`` events.  Each window
of K = 1,000 events makes 333 assignments: with ``--hot 10`` 0.1% of the
state changes per window (the "slowly changing state" the storage target is
phrased for), with the default 100 about 1% (every checkpoint then carries
~100 new values, ~5 images' worth over 1,000 checkpoints); both are reported
in RESULTS.md.  ``--hot 10000`` makes every
binding churn instead (storage then cannot be small: each window of 1,000
events changes ~333 distinct values).

Checkpoints are written by ``Checkpoints.rebuild`` (timed too).  The baseline
is ``fold_fields(store.read_fields(session, 1, n))`` for ``--baseline-n`` of the
same random n (each takes seconds), compared median to median.

    .venv/bin/python bench/bench_state_at.py
    .venv/bin/python bench/bench_state_at.py --events 200000 --hot 10000
"""

from __future__ import annotations

import random
import statistics
import time
from pathlib import Path
from typing import Any

import _common as C

SESSION = "bench"


def build(path: Path, events: int, bindings: int, hot: int) -> float:
    from tapevm.domain.events import (
        Assigned,
        Defined,
        FormEvaluated,
        FormSubmitted,
        RecordedEvent,
        SessionStarted,
    )
    from tapevm.infrastructure.stores.factory import open_store

    start = time.perf_counter()
    rng = random.Random(7)
    with open_store(str(path), durability="fast") as store:
        now = time.time()
        batch: list[RecordedEvent] = [RecordedEvent(SESSION, 1, 1, now, SessionStarted(tapevm_version="bench",
                                                                                         vm_version=1))]
        seq = 2

        def push(event: Any, cause: int) -> None:
            nonlocal seq
            batch.append(RecordedEvent(SESSION, seq, cause, now, event))
            seq += 1

        def flush() -> None:
            if batch:
                store.append(batch)
                batch.clear()

        i = 0
        while i < bindings and seq <= events:
            cause = seq
            push(FormSubmitted(source="(define ...)", file="<bench>", line=1, column=1), cause)
            for _ in range(min(100, bindings - i)):
                # values with the entropy of real data (random tokens, numbers, big numbers),
                # not templated text that compresses to nothing
                value: Any = (rng.randbytes(8).hex() if i % 3 == 0 else rng.randrange(10**9) if i % 3 == 1
                              else ["I", str(rng.randrange(10**20, 10**21))])
                push(Defined(ns="user", name=f"x{i}", value=value), cause)
                i += 1
            push(FormEvaluated(ok=True, printed="nil"), cause)
            flush()  # one commit record per form, as a session writes them
        step = 0
        while seq + 2 <= events:
            cause = seq
            name = f"x{rng.randrange(hot)}"
            push(FormSubmitted(source=f"(set! {name} ...)", file="<bench>", line=1, column=1), cause)
            push(Assigned(ns="user", name=name, value=step), cause)
            push(FormEvaluated(ok=True, printed=str(step)), cause)
            step += 1
            flush()
        while seq <= events:
            push(FormEvaluated(ok=True, printed="nil"), seq)
        flush()
    return time.perf_counter() - start


def table_bytes(db: Path) -> tuple[int, int]:
    """What the checkpoint tables (rows of their own and packs) hold: their rows as SQLite stores them
    (record headers, every column, the payloads) and the pages they and their primary-key indexes take
    (with their free space)."""
    import sqlite3

    from tapevm.infrastructure.stores.checkpoint_tables import PACKS, TABLE

    with sqlite3.connect(db) as conn:
        indexes = [name for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type='index' AND tbl_name IN (?, ?)", (TABLE, PACKS))]
        records = conn.execute("SELECT SUM(payload) FROM dbstat WHERE name IN (?, ?)", (TABLE, PACKS)).fetchone()[0]
        names = [TABLE, PACKS, *indexes]
        pages = conn.execute(f"SELECT SUM(pgsize) FROM dbstat WHERE name IN ({', '.join('?' * len(names))})",
                             names).fetchone()[0]
    return int(records), int(pages)


def postgres_bytes(db: Path) -> dict[str, int]:
    """The same checkpoint rows copied into the PostgreSQL tables tapevm creates (a fresh schema,
    dropped afterwards): what they take there, table + TOAST + indexes (``pg_total_relation_size``),
    the tables' main fork alone, with their TOAST (``pg_table_size``), and their indexes.  Inserted once each, so no dead rows (a writer that packs
    deletes rows; autovacuum reclaims them)."""
    import sqlite3

    import _pg
    import psycopg

    from tapevm.infrastructure.stores.checkpoint_tables import (
        _META_COLUMNS,
        _PACK_COLUMNS,
        PACKS,
        TABLE,
        checkpoint_store_for,
    )
    from tapevm.infrastructure.stores.factory import open_store

    with _pg.fresh_schema("bench_cp") as schema:
        with open_store(f"{_pg.server_url()}?schema={schema}") as pg_store:
            cache = checkpoint_store_for(pg_store)
            assert cache is not None
            cache.ensure_tables()
        with sqlite3.connect(db) as lite, psycopg.connect(_pg.server_url().split("?")[0]) as pg:
            for table, columns in ((TABLE, _META_COLUMNS), (PACKS, _PACK_COLUMNS)):
                rows = lite.execute(f"SELECT {columns}, payload FROM {table}").fetchall()
                marks = ", ".join(["%s"] * (columns.count(",") + 2))
                with pg.cursor() as cur:
                    cur.executemany(f'INSERT INTO "{schema}"."{table}" ({columns}, payload) VALUES ({marks})', rows)
            pg.commit()
            sizes = {}
            for label, fn in (("total", "pg_total_relation_size"), ("main", "pg_relation_size"),
                              ("with_toast", "pg_table_size"), ("indexes", "pg_indexes_size")):
                sizes[label] = sum(int(pg.execute(f"SELECT {fn}(%s)", (f'"{schema}"."{t}"',)).fetchone()[0])  # type: ignore[index]
                                   for t in (TABLE, PACKS))
    return sizes


def main() -> None:
    p = C.parser(__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--bindings", type=int, default=10_000)
    p.add_argument("--hot", type=int, default=100, help="bindings updated after the first forms")
    p.add_argument("--interval", type=int, default=1_000, help="K: events between checkpoints")
    p.add_argument("--samples", type=int, default=100, help="random n timed through checkpoints")
    p.add_argument("--baseline-n", type=int, default=5, help="random n timed by folding from the start")
    p.add_argument("--postgres", action="store_true",
                   help="also copy the checkpoint rows into PostgreSQL's tables (TAPE_BENCH_POSTGRES) and report their size")
    args = p.parse_args()
    if args.quick:
        args.events, args.bindings, args.hot, args.interval, args.samples, args.baseline_n = 3_000, 300, 20, 200, 10, 2

    from tapevm.domain.fold import fold_fields
    from tapevm.domain.state import State
    from tapevm.infrastructure.images.operations import save_image
    from tapevm.infrastructure.session.checkpoints import open_checkpoints as Checkpoints
    from tapevm.infrastructure.session.service import Session
    from tapevm.infrastructure.stores.factory import open_store
    from tapevm.projections.state_codec import canonical_state_bytes

    with C.workdir(args) as tmp:
        db = tmp / "state_at.db"
        build_s = build(db, args.events, args.bindings, min(args.hot, args.bindings))
        print(f"built {args.events:,} events in {build_s:.1f}s")
        with open_store(str(db)) as store:
            cp = Checkpoints(store, SESSION, interval=args.interval)
            t0 = time.perf_counter()
            with C.Profiler(args.profile):
                metas = cp.rebuild()
            rebuild_s = time.perf_counter() - t0
            cp_bytes = sum(m.stored_size for m in metas)
            keyframes = sum(1 for m in metas if m.kind in ("I", "D"))  # full and delta keyframes

            head = store.last_seq(SESSION)
            rng = random.Random(11)
            ns = [rng.randrange(1, head + 1) for _ in range(args.samples)]
            fresh = Checkpoints(store, SESSION, interval=args.interval)  # a cold reader: nothing cached
            times = []
            for n in ns:
                t0 = time.perf_counter()
                fresh.state_at(n)
                times.append(time.perf_counter() - t0)
            median = statistics.median(times)

            # Opening at the head: a cold Checkpoints each time (nothing checked or cached), its nearest
            # checkpoint's seal and payloads read and checked, no tail (the rebuild wrote one at the head).
            open_times = []
            for _ in range(args.samples):
                t0 = time.perf_counter()
                Checkpoints(store, SESSION, interval=args.interval).state_at(None)
                open_times.append(time.perf_counter() - t0)
            open_median = statistics.median(open_times)

            base_times = []
            checked = 0
            for n in ns[: args.baseline_n]:
                t0 = time.perf_counter()
                full = fold_fields(store.read_fields(SESSION, 1, n), State(session=SESSION))
                base_times.append(time.perf_counter() - t0)
                if canonical_state_bytes(full) == canonical_state_bytes(fresh.state_at(n)):
                    checked += 1
            base_median = statistics.median(base_times)

            with Session(store, SESSION, create=False) as session:
                image = tmp / "final.img"
                save_image(session, image)
            image_bytes = image.stat().st_size
        record_bytes, page_bytes = table_bytes(db)
        pg_sizes = postgres_bytes(db) if args.postgres else {}

    ratio = base_median / median
    storage_ratio = record_bytes / image_bytes
    ok_median, ok_ratio, ok_storage = median <= 0.020, ratio >= 100, storage_ratio <= 3
    rows = [
        ("events", args.events), ("bindings", args.bindings), ("hot bindings", args.hot),
        ("interval K", args.interval), ("checkpoints (keyframes)", f"{len(metas)} ({keyframes})"),
        ("rebuild checkpoints s", rebuild_s),
        ("state_at median ms (100 random n)", median * 1000),
        ("state_at p90 ms", sorted(times)[int(len(times) * 0.9) - 1] * 1000),
        ("open at the head, cold, median ms", open_median * 1000),
        ("fold from start median ms", base_median * 1000), ("ratio", ratio),
        ("states checked equal", f"{checked}/{len(base_times)}"),
        ("checkpoint payload bytes", cp_bytes), ("checkpoint rows as stored (records)", record_bytes),
        ("checkpoint pages (tables + indexes)", page_bytes),
        ("one full image bytes", image_bytes), ("storage / image (records)", storage_ratio),
        ("pages / image", page_bytes / image_bytes),
        *((("PostgreSQL: tables + TOAST + indexes", pg_sizes["total"]),
           ("PostgreSQL total / image", pg_sizes["total"] / image_bytes),
           ("PostgreSQL: tables' main fork", pg_sizes["main"]),
           ("PostgreSQL: TOAST (keyframes)", pg_sizes["with_toast"] - pg_sizes["main"]),
           ("PostgreSQL: indexes", pg_sizes["indexes"])) if pg_sizes else ()),
        ("target median <= 20 ms", C.verdict(ok_median)), ("target >= 100x fold", C.verdict(ok_ratio)),
        ("target storage <= 3x image", C.verdict(ok_storage)),
    ]
    C.emit("state_at", rows, {
        "events": args.events, "bindings": args.bindings, "hot": args.hot, "interval": args.interval,
        "checkpoints": len(metas), "keyframes": keyframes, "rebuild_s": rebuild_s,
        "median_ms": median * 1000, "open_median_ms": open_median * 1000, "fold_median_ms": base_median * 1000, "ratio": ratio,
        "payload_bytes": cp_bytes, "checkpoint_bytes": record_bytes, "page_bytes": page_bytes,
        "image_bytes": image_bytes, "storage_ratio": storage_ratio, "page_ratio": page_bytes / image_bytes,
        "postgres_bytes": pg_sizes or None, "checked_equal": checked, "pass_median": ok_median, "pass_ratio": ok_ratio, "pass_storage": ok_storage,
        "quick": args.quick,
    })


if __name__ == "__main__":
    main()
