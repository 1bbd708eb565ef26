"""Growth: a global list consed onto 10,000 times, one form per step -- does storage stay linear?

Target (issue): ``(define lst nil)`` then 10,000 forms ``(set! lst (cons i
lst))`` (each its own ``s.run``) store at most 3x the bytes of the final
list's own encoding plus a constant per event.

Reported: total stored bytes (the ``state`` column, what ``tape sessions``
shows, plus whole rows and the SQLite file), the final list's own encoding
(a fresh ``ValueEncoder(ContentTable())`` over a copy of the list, summing the
canonical bytes of its nodes), bytes per event and per step, and what storing
a copy of the list at every step would have cost (the list as a flat JSON
array, summed over the steps).

"A constant per event" is checked the only way a single run can: the bytes
left over after ``3 x final encoding``, divided by the events, are computed at
1/4, 1/2, 3/4 and all of the steps; the target holds when that per-event
constant does not grow with the number of steps (within 10%).
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

import _common as C


def list_encoding_bytes(value: Any) -> tuple[int, int, int]:
    """(node bytes, key bytes, nodes) of ``value`` encoded from scratch (on a copy)."""
    from tapevm.domain.content import ContentTable
    from tapevm.vm.value_codec import ValueEncoder
    from tapevm.vm.values import NIL, Pair

    items = list(value) if value is not NIL else []
    copy: Any = NIL
    for item in reversed(items):
        copy = Pair(item, copy)
    enc = ValueEncoder(ContentTable())
    enc.encode(copy)
    nodes = enc.take_new_nodes()
    return sum(len(d) for d in enc.pending.values()), sum(len(k) for k, _ in nodes), len(nodes)


def main() -> None:
    p = C.parser(__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=10_000, help="number of (set! lst (cons i lst)) forms (default 10,000)")
    args = p.parse_args()
    if args.quick:
        args.steps = 200
    n = args.steps
    marks = sorted({max(1, n // 4), max(1, n // 2), max(1, 3 * n // 4), n})

    from tapevm.infrastructure.session.service import open_session

    session = "growth"
    checkpoints: list[dict[str, Any]] = []
    flat_copy_total = 0
    flat_len = 2  # "[]"
    with C.workdir(args) as tmp:
        db = tmp / "growth.db"
        with open_session(session, store=str(db)) as s:
            first = s.run("(define lst nil)")[-1]
            if not first.ok:
                raise SystemExit(f"(define lst nil) failed: {first.error_kind}: {first.error_message}")
            start = time.perf_counter()
            with C.Profiler(args.profile):
                for i in range(n):
                    outcome = s.run(f"(set! lst (cons {i} lst))")[-1]
                    if not outcome.ok:
                        raise SystemExit(f"step {i} failed: {outcome.error_kind}: {outcome.error_message}")
                    flat_len += len(str(i)) + (1 if i else 0)
                    flat_copy_total += flat_len
                    if i + 1 in marks:
                        pause = time.perf_counter()
                        nodes, keys, count = list_encoding_bytes(s.world.lookup("user", "lst"))
                        st = C.stored_bytes(db, session)
                        checkpoints.append({"steps": i + 1, "list_node_bytes": nodes, "list_key_bytes": keys,
                                            "list_nodes": count, "flat_copy_total": flat_copy_total, **st})
                        start += time.perf_counter() - pause
            elapsed = time.perf_counter() - start
            lst = s.world.lookup("user", "lst")
            assert lst.car == n - 1 and len(list(lst)) == n
        file_total = C.sqlite_file_bytes(db)
        conn = sqlite3.connect(str(db), isolation_level=None)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("VACUUM")
        conn.close()
        file_vacuumed = C.sqlite_file_bytes(db)

    for c in checkpoints:
        c["overhead_per_event"] = (c["state"] - 3 * c["list_node_bytes"]) / c["events"]
    final = checkpoints[-1]
    first_c = checkpoints[0]
    constant = final["overhead_per_event"]
    ok = constant <= max(first_c["overhead_per_event"], 0) * 1.10 or final["state"] <= 3 * final["list_node_bytes"]
    rows: list[tuple[str, Any]] = [
        ("steps (forms)", n),
        ("events stored", final["events"]),
        ("seconds (forms only)", elapsed),
        ("forms/s", n / elapsed),
        ("total stored bytes (state column)", final["state"]),
        ("total stored bytes (whole rows)", final["row"]),
        ("SQLite file bytes (as left / vacuumed)", f"{file_total:,} / {file_vacuumed:,}"),
        ("final list encoding, node bytes", final["list_node_bytes"]),
        ("  + content keys", final["list_key_bytes"]),
        ("  nodes (chunks)", final["list_nodes"]),
        ("stored / final encoding", final["state"] / final["list_node_bytes"]),
        ("bytes/event", final["state"] / final["events"]),
        ("bytes/step", final["state"] / n),
        ("copy per step (flat JSON), total bytes", final["flat_copy_total"]),
        ("copy per step / stored", final["flat_copy_total"] / final["state"]),
    ]
    for t, (cnt, b) in sorted(final["by_type"].items()):
        rows.append((f"  {t}", f"{cnt:,} events, {b:,} bytes, {b / cnt:.1f} B/event"))
    for c in checkpoints:
        rows.append((f"at {c['steps']:,} steps: stored, 3x list, constant/event",
                     f"{c['state']:,} B, {3 * c['list_node_bytes']:,} B, {c['overhead_per_event']:.1f} B/event"))
    rows.append(("target <= 3x final + constant/event", C.verdict(ok)))
    C.emit("growth", rows, {
        "steps": n, "events": final["events"], "seconds": elapsed,
        "stored_state_bytes": final["state"], "stored_row_bytes": final["row"],
        "file_bytes": file_total, "file_bytes_vacuumed": file_vacuumed,
        "final_list_node_bytes": final["list_node_bytes"], "final_list_key_bytes": final["list_key_bytes"],
        "bytes_per_event": final["state"] / final["events"], "bytes_per_step": final["state"] / n,
        "copy_per_step_total": final["flat_copy_total"],
        "constant_per_event": constant, "by_type": final["by_type"],
        "checkpoints": [{k: v for k, v in c.items() if k != "by_type"} for c in checkpoints],
        "pass": ok, "quick": args.quick,
    })


if __name__ == "__main__":
    main()
