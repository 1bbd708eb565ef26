"""World files that grow by appends or change in place: does storage stay linear in what changed?

``--workload append`` (default): an agent that keeps notes appends a line to a
world file at every step.  Each ``append-file!`` is its own form (``s.run``),
``--steps`` of them (default 2,000) of a ~77-byte line.

``--workload rewrite``: an agent keeps a to-do file of 400 lines (~10 KB) and,
at every step, reads it, changes one line and writes it back whole
(``string-replace`` then ``write-file!``).

The same program runs twice in the same run:

* tapevm as it is: a version that edits one of at least
  ``form_events.PIECE_MIN`` bytes is stored as the edit (a piece: what it
  appends, or a splice of the one region that changed);
* the baseline: ``PIECE_MIN`` set out of reach, so every version is stored
  whole (what tapevm did before pieces).

Reported for each: the bytes of the session's records (the ``state`` column),
the bytes of file content the reopened session holds in memory (its blob
table), and the time to reopen the session (its latest checkpoint and the
tail, as every open does).  The target mirrors the growth benchmark's: stored bytes at most 3x
the final file plus a constant per commit record (one per form), the constant not growing with the
number of steps (within 10%, from half the steps to all of them).

    .venv/bin/python bench/bench_world_files.py
    .venv/bin/python bench/bench_world_files.py --workload rewrite
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import _common as C

SESSION = "notes"
LINE = "step {i:05d}: read the inbox, summarised 3 messages, nothing urgent\\n"
TODO_LINES = 400
TODO_LINE = "item {i:05d}: state {n}, owner ops, next look in an hour\\n"


def appends(steps: int) -> Iterator[str]:
    for i in range(steps):
        yield f'(append-file! "notes.md" "{LINE.format(i=i)}")'


def rewrites(steps: int) -> Iterator[str]:
    """Write the to-do file, then change one line of it per step."""
    yield '(write-file! "notes.md" "' + "".join(TODO_LINE.format(i=i, n=0) for i in range(TODO_LINES)) + '")'
    states = [0] * TODO_LINES
    for k in range(steps - 1):
        i = (k * 37) % TODO_LINES
        old, states[i] = TODO_LINE.format(i=i, n=states[i]), states[i] + 1
        yield f'(write-file! "notes.md" (string-replace (read-file "notes.md") "{old}" "{TODO_LINE.format(i=i, n=states[i])}"))'


def run(db: Path, forms: Iterator[str], marks: list[int]) -> dict[str, Any]:
    from tapevm.infrastructure.session import open_session

    at: dict[int, int] = {}
    started = time.perf_counter()
    with open_session(SESSION, str(db)) as s:
        for i, form in enumerate(forms):
            outcome = s.run(form)[0]
            assert outcome.ok, outcome
            if i + 1 in marks:
                at[i + 1] = C.stored_bytes(db, SESSION)["state"]
        final_file = len(s.state.file_bytes("notes.md"))
    elapsed = time.perf_counter() - started
    t0 = time.perf_counter()
    with open_session(SESSION, str(db), create=False) as again:
        reopen = time.perf_counter() - t0
        held = again.state.blobs.stored_bytes()
        assert len(again.state.file_bytes("notes.md")) == final_file
    stored = C.stored_bytes(db, SESSION)
    return {"seconds": elapsed, "reopen_s": reopen, "held_blob_bytes": held, "final_file": final_file,
            "stored": stored["state"], "records": stored["events"], "stored_at": at}


def main() -> None:
    p = C.parser(__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=2_000, help="forms that write the file (default 2,000)")
    p.add_argument("--workload", choices=("append", "rewrite"), default="append")
    args = p.parse_args()
    if args.quick:
        args.steps = 200
    n = args.steps
    marks = [n // 2, n]
    workload = appends if args.workload == "append" else rewrites

    from tapevm.vm import form_events

    with C.workdir(args) as tmp:
        run(tmp / "warm.db", workload(3), [])  # imports and first-use set-up, outside the timings
        with C.Profiler(args.profile):
            pieces = run(tmp / "pieces.db", workload(n), marks)
        form_events.PIECE_MIN = 10**12  # the baseline: every version whole
        whole = run(tmp / "whole.db", workload(n), marks)

    records_at = {m: pieces["records"] * m // n for m in marks}  # one commit record per form
    # the file's share: it grows with the steps when appending, it is there at once when rewriting
    file_at = {m: 3 * pieces["final_file"] if args.workload == "rewrite" else 3 * pieces["final_file"] * m // n
               for m in marks}
    constant = {m: (pieces["stored_at"][m] - file_at[m]) / records_at[m] for m in marks}
    ok = constant[n] <= max(constant[n // 2], 0) * 1.10 or pieces["stored"] <= 3 * pieces["final_file"]
    rows: list[tuple[str, Any]] = [
        (f"{args.workload} forms", n),
        ("final file bytes", pieces["final_file"]),
        ("commit records (one per form)", pieces["records"]),
        ("stored bytes: pieces / whole versions", f"{pieces['stored']:,} / {whole['stored']:,}"),
        ("stored / final file: pieces / whole",
         f"{pieces['stored'] / pieces['final_file']:.2f}x / {whole['stored'] / whole['final_file']:.2f}x"),
        ("blob bytes held after reopen: pieces / whole", f"{pieces['held_blob_bytes']:,} / {whole['held_blob_bytes']:,}"),
        ("reopen s: pieces / whole", f"{pieces['reopen_s']:.3f} / {whole['reopen_s']:.3f}"),
        ("forms/s: pieces / whole", f"{n / pieces['seconds']:,.0f} / {n / whole['seconds']:,.0f}"),
        ("whole / pieces, stored bytes", whole["stored"] / pieces["stored"]),
        ("whole / pieces, held bytes", whole["held_blob_bytes"] / pieces["held_blob_bytes"]),
    ]
    for m in marks:
        rows.append((f"at {m:,} steps: stored, constant/record beyond 3x file",
                     f"{pieces['stored_at'][m]:,} B, {constant[m]:.1f} B/record"))
    rows.append(("target <= 3x final file + constant/record", C.verdict(ok)))
    C.emit("world_files", rows, {
        "workload": args.workload, "steps": n, "pieces": pieces, "whole": whole, "constant_per_record": constant[n], "pass": ok,
        "quick": args.quick,
    })


if __name__ == "__main__":
    main()
