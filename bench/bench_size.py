"""Size: stored bytes per event, tapevm vs the eventsourcing library's default JSON transcoder.

Target (issue): at most half the bytes the library stores for the same
logical events -- ``define name value`` in a namespace.

Both sides store the same ``--defines`` definitions (default 10,000) with the
same names and values, cycling through four kinds: an integer, a string, a
float and a 3-element list.  tapevm runs them through a real session as forms
of ``--form-size`` definitions; the library stores one ``Namespace.Defined``
event per definition (``_es.py``), 100 per ``save``.

Bytes are counted three ways, for each side:

* **row bytes**: what the four columns hold -- ``originator_id`` +
  ``topic`` + ``state`` + 8 for the integer version;
* **state bytes**: the ``state`` column alone (the encoded event);
* **file bytes**: the SQLite file after a checkpoint and VACUUM (pages,
  index and all), per event.

tapevm stores one row per committed form (a commit record holding all of the
form's events, see infrastructure/stores/record_codec.py), so its bytes cannot be split by
event type: "per Defined event" charges the WHOLE log (FormSubmitted with the
source text, ContentStored with the list nodes, FormEvaluated...) to the
definitions, which is the conservative comparison.  Per event (all tapevm
events) is reported too, and a REPL-style run (one definition per form).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import _common as C

SIZE_SQL = (
    "SELECT topic, COUNT(*), SUM(LENGTH(CAST(originator_id AS BLOB))), SUM(LENGTH(CAST(topic AS BLOB))), "
    "SUM(LENGTH(state)) FROM stored_events GROUP BY topic ORDER BY topic"
)


def lisp_value(i: int) -> str:
    k = i % 4
    if k == 0:
        return str(i)
    if k == 1:
        return f'"s{i}"'
    if k == 2:
        return f"{i}.5"
    return f"(list {i} {i + 1} {i + 2})"


def py_value(i: int) -> Any:
    k = i % 4
    if k == 0:
        return i
    if k == 1:
        return f"s{i}"
    if k == 2:
        return i + 0.5
    return [i, i + 1, i + 2]


def table_sizes(path: Path) -> dict[str, dict[str, int]]:
    conn = sqlite3.connect(str(path))
    try:
        out = {}
        for topic, n, ids, topics, states in conn.execute(SIZE_SQL):
            # a tapevm commit row ("commit:<format>:<events>") holds several events
            events = n * int(topic.rsplit(":", 1)[1]) if topic.startswith("commit:") else n
            key = "tapevm commits" if topic.startswith("commit:") else topic
            v = out.setdefault(key, {"count": 0, "rows": 0, "id": 0, "topic": 0, "state": 0, "row": 0})
            v["count"] += events
            v["rows"] += n
            v["id"] += ids
            v["topic"] += topics
            v["state"] += states
            v["row"] += ids + topics + states + 8 * n
        return out
    finally:
        conn.close()


def file_bytes(path: Path) -> int:
    conn = sqlite3.connect(str(path), isolation_level=None)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("VACUUM")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return C.sqlite_file_bytes(path)


def run_tapevm(path: Path, defines: int, form_size: int) -> None:
    from tapevm.infrastructure.session.service import open_session

    with open_session("default", store=str(path)) as s:
        for start in range(0, defines, form_size):
            body = " ".join(f"(define v{i} {lisp_value(i)})" for i in range(start, min(defines, start + form_size)))
            src = f"(begin {body})" if form_size > 1 else body
            outcome = s.run(src)[-1]
            if not outcome.ok:
                raise SystemExit(f"form failed: {outcome.error_kind}: {outcome.error_message}")


def run_es(path: Path, defines: int, batch: int) -> None:
    from _es import Namespace, full_sync_app

    app = full_sync_app(str(path))
    try:
        agg = Namespace("user")
        for start in range(0, defines, batch):
            for i in range(start, min(defines, start + batch)):
                agg.define("user", f"v{i}", py_value(i))
            app.save(agg)
    finally:
        app.close()


def totals(sizes: dict[str, dict[str, int]], only: str | None = None) -> dict[str, int]:
    keys = ("count", "rows", "id", "topic", "state", "row")
    picked = [v for t, v in sizes.items() if only is None or only in t.replace(":", ".").split(".")]
    return {k: sum(v[k] for v in picked) for k in keys}


def main() -> None:
    p = C.parser(__doc__.splitlines()[0])
    p.add_argument("--defines", type=int, default=10_000, help="definitions stored on each side (default 10,000)")
    p.add_argument("--form-size", type=int, default=100, help="definitions per tapevm form / library save")
    p.add_argument("--repl-defines", type=int, default=1_000,
                   help="definitions in the REPL-style run, one per form (0 to skip)")
    args = p.parse_args()
    if args.quick:
        args.defines, args.repl_defines = 200, 20

    with C.workdir(args) as tmp:
        tape_db, es_db, repl_db = tmp / "tape.db", tmp / "es.db", tmp / "repl.db"
        run_tapevm(tape_db, args.defines, args.form_size)
        run_es(es_db, args.defines, args.form_size)
        tape_sizes, es_sizes = table_sizes(tape_db), table_sizes(es_db)
        tape_file, es_file = file_bytes(tape_db), file_bytes(es_db)
        repl: dict[str, Any] = {}
        if args.repl_defines:
            run_tapevm(repl_db, args.repl_defines, 1)
            repl_sizes = table_sizes(repl_db)
            repl_all = totals(repl_sizes)
            repl = {"defines": args.repl_defines, "row_bytes": repl_all["row"], "events": repl_all["count"],
                    "row_per_define": repl_all["row"] / args.repl_defines,
                    "file_per_define": file_bytes(repl_db) / args.repl_defines, "by_type": repl_sizes}

    n = args.defines
    t_all = totals(tape_sizes)
    t_def = t_all  # commit records hold whole forms: the whole log is charged to the definitions
    e_def, e_all = totals(es_sizes, "Defined"), totals(es_sizes)
    assert e_def["count"] == n, (e_def["count"], n)
    per = {
        "tapevm_defined_row": t_def["row"] / n, "tapevm_defined_state": t_def["state"] / n,
        "tapevm_log_row_per_define": t_all["row"] / n, "tapevm_log_state_per_define": t_all["state"] / n,
        "tapevm_log_row_per_event": t_all["row"] / t_all["count"],
        "tapevm_file_per_define": tape_file / n,
        "es_defined_row": e_def["row"] / n, "es_defined_state": e_def["state"] / n,
        "es_log_row_per_define": e_all["row"] / n, "es_file_per_define": es_file / n,
    }
    ratio_event = per["tapevm_defined_row"] / per["es_defined_row"]
    ratio_log = per["tapevm_log_row_per_define"] / per["es_log_row_per_define"]
    ratio_file = per["tapevm_file_per_define"] / per["es_file_per_define"]
    ok_event, ok_log = ratio_event <= 0.5, ratio_log <= 0.5
    rows: list[tuple[str, Any]] = [("definitions", n), ("tapevm events (whole log)", t_all["count"])]
    for topic, v in tape_sizes.items():
        rows.append((f"  tapevm {topic}", (f"{v['rows']:,} rows, {v['count']:,} events, {v['row'] / v['count']:.1f} row B/event "
                                           f"(state {v['state'] / v['count']:.1f})")))
    for topic, v in es_sizes.items():
        rows.append((f"  library {topic}", (f"{v['count']:,} rows, {v['row'] / v['count']:.1f} row B/event "
                                            f"(state {v['state'] / v['count']:.1f})")))
    rows += [
        ("tapevm whole log row B per Defined event", per["tapevm_defined_row"]),
        ("library Defined row B/event", per["es_defined_row"]),
        ("ratio per Defined event (row)", ratio_event),
        ("ratio per Defined event (state only)", per["tapevm_defined_state"] / per["es_defined_state"]),
        ("tapevm whole log row B/define", per["tapevm_log_row_per_define"]),
        ("library whole log row B/define", per["es_log_row_per_define"]),
        ("ratio whole log per define (row)", ratio_log),
        ("tapevm file B/define", per["tapevm_file_per_define"]),
        ("library file B/define", per["es_file_per_define"]),
        ("ratio file bytes", ratio_file),
    ]
    if repl:
        rows.append(("REPL style (1 define/form) row B/define", repl["row_per_define"]))
        rows.append(("REPL style file B/define", repl["file_per_define"]))
    rows += [
        ("target <= 0.5x, per Defined event", C.verdict(ok_event)),
        ("target <= 0.5x, whole log per define", C.verdict(ok_log)),
    ]
    C.emit("size", rows, {
        "defines": n, "form_size": args.form_size, **per,
        "ratio_event": ratio_event, "ratio_log": ratio_log, "ratio_file": ratio_file,
        "target_ratio": 0.5, "pass_event": ok_event, "pass_log": ok_log,
        "tapevm_by_type": tape_sizes, "es_by_type": es_sizes, "tapevm_file": tape_file, "es_file": es_file,
        "repl": repl, "quick": args.quick,
    })


if __name__ == "__main__":
    main()
