"""What checking a checkpoint's seal costs at open, as the history grows (issue 21's "within noise").

A checkpoint is checked against the log before it is served.  Three ways of reading what that needs,
each on the same SQLite events table (two streams of N records of three events, tapevm's schema and
the deleted-records trigger), for a checkpoint and two keyframes of its chain:

* ``tip read``: the lookups the tip check made before issue 21 (one index seek per event): the
  baseline, "today's open";
* ``count``: the seal of frame-9, a range count of the stream's records up to each (what saw a
  record deleted behind a checkpoint, linear in the history);
* ``witness``: the seal of frame-10, an index seek per event in one statement plus one look-up in
  ``tape_deleted_records`` (``stores/records/deleted_records.py``).

Timed in the process's CPU time (not wall time: the machine is shared), rounds alternating.

    .venv/bin/python bench/bench_seal.py --records 1000 63000 333000
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tapevm.infrastructure.stores.records.deleted_records import DELETED_TABLE, SQLITE_STATEMENTS, first_deleted_sql
from tapevm.infrastructure.stores.records.events_table import EVENTS_TABLE, start_query


def _store(path: Path, records: int) -> sqlite3.Connection:
    db = sqlite3.connect(path)
    db.execute(f"CREATE TABLE {EVENTS_TABLE} (originator_id TEXT, originator_version INTEGER, topic TEXT, "
               "state BLOB, PRIMARY KEY (originator_id, originator_version))")
    for statement in SQLITE_STATEMENTS:
        db.execute(statement)
    db.executemany(f"INSERT INTO {EVENTS_TABLE} VALUES (?,?,?,?)",
                   ((s, 1 + 3 * i, "tapevm#3", b"x" * 100) for s in ("a", "b") for i in range(records)))
    db.commit()
    return db


def _ways(db: sqlite3.Connection, bounds: list[int]) -> dict[str, Callable[[], object]]:
    count = " UNION ALL ".join(
        f"SELECT {i}, MAX(originator_version), COUNT(*) FROM {EVENTS_TABLE} WHERE originator_id=? "
        "AND originator_version>? AND originator_version<=?" for i in range(len(bounds)))
    count_params = [p for lo, hi in zip([0, *bounds], bounds) for p in ("a", lo, hi)]
    tip = f"SELECT MAX(originator_version) FROM {EVENTS_TABLE} WHERE originator_id=? AND originator_version<=?"
    starts, start_params = start_query(EVENTS_TABLE, "?", len(bounds)), [p for b in bounds for p in ("a", b)]
    deleted = first_deleted_sql(EVENTS_TABLE, DELETED_TABLE, "?")
    return {
        "tip read (before issue 21)": lambda: [db.execute(tip, ("a", b)).fetchone() for b in bounds],
        "count (frame-9 seal)": lambda: db.execute(count, count_params).fetchall(),
        "witness (frame-10 seal)": lambda: (db.execute(deleted, ("a", bounds[-1])).fetchone(),
                                            db.execute(starts, start_params).fetchall()),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--records", type=int, nargs="+", default=[1_000, 63_000, 333_000])
    p.add_argument("--rounds", type=int, default=200)
    args = p.parse_args()
    print(f"{'records':>9}  {'way':28} {'median us':>10} {'x tip read':>11}")
    for records in args.records:
        with tempfile.TemporaryDirectory() as d:
            db = _store(Path(d) / "s.db", records)
            head = 3 * records - 2
            ways = _ways(db, sorted({head, max(1, head - 16_000), max(1, head - 32_000)}))
            times: dict[str, list[float]] = {name: [] for name in ways}
            for _ in range(args.rounds):
                for name, way in ways.items():
                    t = time.process_time_ns()
                    way()
                    times[name].append((time.process_time_ns() - t) / 1e3)
            base = statistics.median(times["tip read (before issue 21)"])
            for name, ts in times.items():
                print(f"{records:>9,}  {name:28} {statistics.median(ts):>10.1f} {statistics.median(ts) / base:>10.2f}x")
            db.close()


if __name__ == "__main__":
    main()
