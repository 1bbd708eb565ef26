"""Fold: rebuild a session's state from 1,000,000 stored events.

Target (issue): rebuilding the state at 200,000 events/s or more, and at least
5x the eventsourcing library's replay of the same number of events
(``repository.get(aggregate_id)`` of one aggregate holding them).  Sessions
rebuild state with ``fold_fields(store.read_fields(session))`` (opening,
``state_at``, checkpoints): that is the target's subject.  ``fold(store.read(session))``,
which builds a validated event model per event first (the path of ``tape log``
and of the Python API's ``events()``), is measured and judged beside it.

The tapevm store is generated quickly by appending RecordedEvents straight to
the store (``open_store(path).append``) in batches: one SessionStarted, then
Defined events ``(define x<i % 100> <i>)`` in causes of 100 (as if each form
defined 100 names).  The library's store gets the same logical events: one
``Namespace`` aggregate whose ``define`` is called the same number of times
(saved in batches; building is not timed).

Both sides are timed end to end (SQL select, record decoding, state update),
best of ``--repeat``; a breakdown of where tapevm's time goes (fetching rows,
decoding records, folding decoded events) is printed too.

    .venv/bin/python bench/bench_fold.py                 # 1,000,000 events
    .venv/bin/python bench/bench_fold.py --events 200000 --es-events 200000
"""

from __future__ import annotations

import gc
import time
from pathlib import Path
from typing import Any

import _common as C


def build_tapevm_store(path: Path, session: str, events: int, batch: int) -> float:
    from tapevm.domain.events import Defined, RecordedEvent, SessionStarted
    from tapevm.infrastructure.stores.factory import open_store

    start = time.perf_counter()
    store = open_store(str(path))
    try:
        now = time.time()
        store.append([RecordedEvent(session, 1, 1, now, SessionStarted(tapevm_version="bench", vm_version=1))])
        seq = 2
        total = events  # including SessionStarted
        while seq <= total:
            n = min(batch, total - seq + 1)
            recs = []
            for k in range(seq, seq + n):
                i = k - 2
                cause = 2 + (i // 100) * 100
                recs.append(RecordedEvent(session, k, cause, now, Defined(ns="user", name=f"x{i % 100}", value=i)))
            store.append(recs)
            seq += n
    finally:
        store.close()
    return time.perf_counter() - start


def time_tapevm_fold(path: Path, session: str, fast: bool = False) -> tuple[float, Any]:
    """``fold(store.read(session))``, or with ``fast`` the path Session uses:
    ``fold_fields(store.read_fields(session))`` (records decoded to field dicts, no model objects)."""
    from tapevm.domain import fold as st
    from tapevm.infrastructure.stores.factory import open_store

    store = open_store(str(path))
    try:
        gc.collect()
        start = time.perf_counter()
        if fast:
            state = st.fold_fields(store.read_fields(session))  # type: ignore[attr-defined]
        else:
            state = st.fold(store.read(session))
        elapsed = time.perf_counter() - start
    finally:
        store.close()
    return elapsed, state


def has_fast_path() -> bool:
    from tapevm.domain import fold as st
    from tapevm.infrastructure.stores.event_store import RecorderEventStore

    return hasattr(st, "fold_fields") and hasattr(RecorderEventStore, "read_fields")


def tapevm_breakdown(path: Path, session: str) -> dict[str, float]:
    """Seconds spent fetching rows, checking+parsing records, building event objects, folding (GC off)."""
    from tapevm.domain import fold as st
    from tapevm.infrastructure.stores.event_store import READ_PAGE
    from tapevm.infrastructure.stores.factory import open_store

    store = open_store(str(path))
    out: dict[str, float] = {}
    try:
        recorder = store.recorder  # type: ignore[attr-defined]
        codec = store.codec  # type: ignore[attr-defined]
        gc.collect()
        gc.disable()  # holding every row and event at once would otherwise trigger full collections
        t0 = time.perf_counter()
        rows: list[tuple[int, str, bytes]] = []
        after = 0
        while True:
            page = recorder.select_rows(session, after, None, READ_PAGE)
            rows.extend(page)
            if len(page) < READ_PAGE:
                break
            after = page[-1][0]
        out["fetch_s"] = time.perf_counter() - t0
        if hasattr(codec, "decode_fields"):
            t0 = time.perf_counter()
            fields = [codec.decode_fields(session, seq, topic, state) for seq, topic, state in rows]
            out["decode_fields_s"] = time.perf_counter() - t0
            triples = [(seq, t, f) for record in fields for seq, t, f, _, _ in record]
            del fields
            t0 = time.perf_counter()
            st.fold_fields(triples)
            out["fold_fields_s"] = time.perf_counter() - t0
            del triples
        t0 = time.perf_counter()
        events = [e for seq, topic, state in rows for e in codec.decode(session, seq, topic, state)]
        out["decode_events_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        st.fold(events)
        out["fold_events_s"] = time.perf_counter() - t0
        del events
    finally:
        gc.enable()
        store.close()
    return out


def build_es_store(path: Path, events: int, batch: int) -> tuple[Any, Any, float]:
    from _es import Namespace, full_sync_app

    start = time.perf_counter()
    app = full_sync_app(str(path))
    agg = Namespace("user")  # version 1: the Created event
    i = 0
    target = events - 1
    while i < target:
        n = min(batch, target - i)
        for k in range(i, i + n):
            agg.define("user", f"x{k % 100}", k)
        app.save(agg)
        i += n
    return app, agg.id, time.perf_counter() - start


def time_es_replay(app: Any, agg_id: Any) -> tuple[float, Any]:
    gc.collect()
    start = time.perf_counter()
    agg = app.repository.get(agg_id)
    return time.perf_counter() - start, agg


def main() -> None:
    p = C.parser(__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=1_000_000, help="events in the tapevm session (default 1,000,000)")
    p.add_argument("--es-events", type=int, default=None,
                   help="events in the library's aggregate (default: same as --events)")
    p.add_argument("--batch", type=int, default=10_000, help="events per append when building the stores")
    args = p.parse_args()
    if args.quick:
        args.events, args.batch = 2_000, 500
        args.es_events = args.es_events or 2_000
    es_events = args.es_events or args.events
    repeat = args.repeat or (1 if args.quick else 3)
    session = "fold"

    with C.workdir(args) as tmp:
        tape_db = tmp / "tape.db"
        build_s = build_tapevm_store(tape_db, session, args.events, args.batch)
        print(f"built tapevm store: {args.events:,} events in {build_s:.1f}s")
        fast = has_fast_path()
        times, fast_times = [], []
        for _ in range(repeat):
            t, state = time_tapevm_fold(tape_db, session)
            check(state, args.events)
            times.append(t)
            del state
            if fast:
                t, state = time_tapevm_fold(tape_db, session, fast=True)
                check(state, args.events)
                fast_times.append(t)
                del state
        tape_best = min(times)
        fast_best = min(fast_times) if fast else None
        breakdown = tapevm_breakdown(tape_db, session)
        if args.profile:
            with C.Profiler(args.profile):
                time_tapevm_fold(tape_db, session)
            if fast:
                with C.Profiler(args.profile + ".fast"):
                    time_tapevm_fold(tape_db, session, fast=True)

        es_db = tmp / "es.db"
        app, agg_id, es_build_s = build_es_store(es_db, es_events, args.batch)
        print(f"built library store: {es_events:,} events in {es_build_s:.1f}s")
        es_times = []
        for _ in range(repeat):
            t, agg = time_es_replay(app, agg_id)
            es_times.append(t)
            assert agg.version == es_events, (agg.version, es_events)
            del agg
        es_best = min(es_times)
        app.close()

    tape_rate = args.events / tape_best
    es_rate = es_events / es_best
    ratio = tape_rate / es_rate
    ok_rate = tape_rate >= 200_000
    ok_ratio = ratio >= 5
    rows: list[tuple[str, Any]] = [
        ("tapevm events", args.events),
        ("fold(store.read()) best (s)", tape_best),
        ("fold(store.read()) events/s", tape_rate),
    ]
    result: dict[str, Any] = {}
    if fast_best is not None:
        fast_rate = args.events / fast_best
        result = {"fast_s": fast_best, "fast_times": fast_times, "fast_eps": fast_rate,
                  "fast_ratio_vs_es": fast_rate / es_rate,
                  "pass_fast_eps": fast_rate >= 200_000, "pass_fast_ratio": fast_rate / es_rate >= 5}
        rows += [
            ("fold_fields(store.read_fields()) best (s)", fast_best),
            ("fold_fields(store.read_fields()) events/s", fast_rate),
        ]
    rows += [(f"  breakdown: {k[:-2].replace('_', ' ')} (s)", v) for k, v in breakdown.items()]
    rows += [
        ("library events", es_events),
        ("library replay best (s)", es_best),
        ("library replay (events/s)", es_rate),
        ("ratio fold(read)/library (per event)", ratio),
    ]
    if fast_best is not None:
        rows.append(("ratio fold_fields(read_fields)/library", result["fast_ratio_vs_es"]))
    rows += [
        ("target >= 200,000 events/s: fold(read)", C.verdict(ok_rate)),
        ("target >= 5x library: fold(read)", C.verdict(ok_ratio)),
    ]
    if fast_best is not None:
        rows += [
            ("target >= 200,000 events/s: fold_fields", C.verdict(result["pass_fast_eps"])),
            ("target >= 5x library: fold_fields", C.verdict(result["pass_fast_ratio"])),
        ]
    rows.append(("repeat (best of)", repeat))
    C.emit("fold", rows, {
        "events": args.events, "tapevm_s": tape_best, "tapevm_times": times, "tapevm_eps": tape_rate,
        **result, "breakdown": breakdown,
        "es_events": es_events, "es_s": es_best, "es_times": es_times, "es_eps": es_rate,
        "ratio_vs_es": ratio, "target_eps": 200_000, "target_ratio": 5,
        "pass_eps": ok_rate, "pass_ratio": ok_ratio, "repeat": repeat, "quick": args.quick,
    })


def check(state: Any, events: int) -> None:
    assert state.seq == events, (state.seq, events)
    if events > 101:
        assert state.namespaces["user"]["x99"] is not None


if __name__ == "__main__":
    main()
