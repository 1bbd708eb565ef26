"""PostgreSQL append: events/s of a tapevm session vs the eventsourcing library's Application.save.

Target (issue 6): at least 3x the plain library's ``Application.save`` of
100-event batches, on the same server in the same run.  tapevm runs forms of
100 definitions (``(begin (define x0 v0) ... (define x99 v99))``, each form
one commit record of ~103 events); the library saves an aggregate that
triggered 100 ``Defined`` events per ``save`` (``PERSISTENCE_MODULE=
eventsourcing.postgres``, one row per event).  Both write to a fresh schema
of the server in ``TAPE_BENCH_POSTGRES`` / ``TAPE_TEST_POSTGRES`` (default
``postgresql://postgres@127.0.0.1:5432/test``) with the server's own commit
settings (printed).

    .venv/bin/python bench/bench_pg_append.py                 # 100,000 events each
    .venv/bin/python bench/bench_pg_append.py --events 20000 --repeat 3
    .venv/bin/python bench/bench_pg_append.py --table-lock   # also tapevm's previous write path

``--table-lock`` also times tapevm writing the way it did before issue 6's
lock-free path (the library's table lock and NOTIFY inside each transaction,
head SELECT and INSERT as separate statements).
"""

from __future__ import annotations

import gc
import time
from typing import Any

import _common as C
import _pg


def form_source(rep: int, size: int) -> str:
    return "(begin " + " ".join(f"(define x{i} {rep * size + i})" for i in range(size)) + ")"


def run_tapevm(events: int, size: int, table_lock: bool = False) -> dict[str, Any]:
    from tapevm.infrastructure.session.service import open_session
    from tapevm.infrastructure.stores.postgres.recorder import TapePostgresRecorder

    TapePostgresRecorder.table_lock = table_lock
    TapePostgresRecorder.notify = "in_transaction" if table_lock else "after_commit"
    with _pg.fresh_schema("bench_tape") as schema:
        s = open_session("append", store=f"{_pg.server_url()}?schema={schema}")
        try:
            head0 = s.head
            forms = 0
            gc.collect()
            start = time.perf_counter()
            while s.head - head0 < events:
                outcome = s.run(form_source(forms, size))[-1]
                if not outcome.ok:
                    raise SystemExit(f"form failed: {outcome.error_kind}: {outcome.error_message}")
                forms += 1
            elapsed = time.perf_counter() - start
            stored = s.head - head0
        finally:
            s.close()
    return {"seconds": elapsed, "events": stored, "forms": forms}


def run_library(events: int, size: int) -> dict[str, Any]:
    from _es import NamespaceApp, timed_saves

    with _pg.fresh_schema("bench_es") as schema:
        app = NamespaceApp(env=_pg.library_env(schema))
        try:
            elapsed, stored, rep, _cpu = timed_saves(app, events, size)
        finally:
            app.close()
    return {"seconds": elapsed, "events": stored, "saves": rep}


def main() -> None:
    p = C.parser(__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=100_000, help="events to store on each side (default 100,000)")
    p.add_argument("--form-size", type=int, default=100, help="definitions per form / events per save")
    p.add_argument("--table-lock", action="store_true", help="also time tapevm's previous (table lock) write path")
    args = p.parse_args()
    if args.quick:
        args.events = 1_000
    repeat = args.repeat or 1
    tape_runs, es_runs, locked_runs = [], [], []
    for _ in range(repeat):  # alternate, so drift in the server's state hits both sides
        tape_runs.append(run_tapevm(args.events, args.form_size))
        es_runs.append(run_library(args.events, args.form_size))
        if args.table_lock:
            locked_runs.append(run_tapevm(args.events, args.form_size, table_lock=True))
    tape = max(tape_runs, key=lambda r: r["events"] / r["seconds"])
    es = max(es_runs, key=lambda r: r["events"] / r["seconds"])
    tape_rate = tape["events"] / tape["seconds"]
    es_rate = es["events"] / es["seconds"]
    ratio = tape_rate / es_rate
    settings = _pg.server_settings()
    extra: list[tuple[str, Any]] = []
    result: dict[str, Any] = {}
    if locked_runs:
        locked = max(locked_runs, key=lambda r: r["events"] / r["seconds"])
        locked_rate = locked["events"] / locked["seconds"]
        extra = [("tapevm events/s, previous write path (table lock)", locked_rate),
                 ("ratio previous path / library", locked_rate / es_rate)]
        result = {"table_lock_events_per_s": locked_rate, "table_lock_ratio_vs_library": locked_rate / es_rate}
    C.emit("pg_append", [
        ("server", (f"PostgreSQL {settings['server_version']} (synchronous_commit={settings['synchronous_commit']}, "
                    f"fsync={settings['fsync']})")),
        ("tapevm events/s", tape_rate),
        ("tapevm forms (commits)", tape["forms"]),
        ("library Application.save events/s", es_rate),
        ("library saves", es["saves"]),
        ("ratio tapevm / library", ratio),
        *extra,
        ("target >= 3x library", C.verdict(ratio >= 3)),
    ], result | {
        "quick": args.quick, "events": args.events, "form_size": args.form_size, "repeat": repeat,
        "tapevm_events_per_s": tape_rate, "library_events_per_s": es_rate, "ratio_vs_library": ratio,
        "target": 3.0, "pass": ratio >= 3, "server": settings,
    })


if __name__ == "__main__":
    main()
