"""World files that grow by appends or change in place: does storage stay linear in what changed?

``--workload append`` (default): an agent that keeps notes appends a line to a
world file at every step.  Each ``append-file!`` is its own form (``s.run``),
``--steps`` of them (default 2,000) of a ~77-byte line.

``--workload rewrite``: an agent keeps a to-do file of 400 lines (~21 KB) and,
at every step, reads it, changes one line and writes it back whole
(``string-replace`` then ``write-file!``).  ``--workload scattered``: the same,
and the step count on the file's first line changes too (two places far apart).

The same program runs twice in the same run:

* tapevm as it is: a version that edits one of at least
  ``form_events.PIECE_MIN`` bytes is stored as the edit (what it appends, a
  splice of the one region that changed, or a zstd patch of it);
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
    .venv/bin/python bench/bench_world_files.py --workload scattered
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


def rewrites(steps: int, counter: bool = False) -> Iterator[str]:
    """Write the to-do file, then change one line of it per step (and, with ``counter``, the step
    count on its first line too: two places far apart)."""
    header = "steps: 0\\n" if counter else ""
    yield '(write-file! "notes.md" "' + header + "".join(TODO_LINE.format(i=i, n=0) for i in range(TODO_LINES)) + '")'
    states = [0] * TODO_LINES
    for k in range(steps - 1):
        i = (k * 37) % TODO_LINES
        old, states[i] = TODO_LINE.format(i=i, n=states[i]), states[i] + 1
        text = f'(string-replace (read-file "notes.md") "{old}" "{TODO_LINE.format(i=i, n=states[i])}")'
        if counter:
            text = f'(string-replace {text} "steps: {k}\\n" "steps: {k + 1}\\n")'
        yield f'(write-file! "notes.md" {text})'


def scattered(steps: int) -> Iterator[str]:
    return rewrites(steps, counter=True)


def run(db: Path, forms: Iterator[str], marks: list[int]) -> dict[str, Any]:
    from tapevm.infrastructure.session.service import open_session

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
    p.add_argument("--workload", choices=("append", "rewrite", "scattered"), default="append")
    args = p.parse_args()
    if args.quick:
        args.steps = 200
    n = args.steps
    marks = [n // 2, n] if args.workload == "append" else [1, n // 2, n]
    workload = {"append": appends, "rewrite": rewrites, "scattered": scattered}[args.workload]

    from tapevm.vm import form_events

    with C.workdir(args) as tmp:
        run(tmp / "warm.db", workload(3), [])  # imports and first-use set-up, outside the timings
        with C.Profiler(args.profile):
            pieces = run(tmp / "pieces.db", workload(n), marks)
        form_events.PIECE_MIN = 10**12  # the baseline: every version whole
        whole = run(tmp / "whole.db", workload(n), marks)

    if args.workload == "append":
        # the growth law: 3x the file (which grows with the steps) plus a constant per record that does not grow
        records_at = {m: pieces["records"] * m // n for m in marks}  # one commit record per form
        constant = {m: (pieces["stored_at"][m] - 3 * pieces["final_file"] * m // n) / records_at[m] for m in marks}
        ok = constant[n] <= max(constant[n // 2], 0) * 1.10 or pieces["stored"] <= 3 * pieces["final_file"]
        law = "target <= 3x final file + constant/record"
        marks_rows = [(f"at {m:,} steps: stored, constant/record beyond 3x file",
                       f"{pieces['stored_at'][m]:,} B, {constant[m]:.1f} B/record") for m in marks]
    else:
        # the file is written whole once; each edit form then costs the same however many came before,
        # and a small share of the file (not the file again)
        at = pieces["stored_at"]
        constant = {n // 2: (at[n // 2] - at[1]) / (n // 2 - 1), n: (at[n] - at[n // 2]) / (n - n // 2)}
        ok = constant[n] <= constant[n // 2] * 1.10 and constant[n] <= pieces["final_file"] / 10
        law = "target: bytes/edit form flat (10%) and <= file/10"
        marks_rows = [(f"forms 2..{n // 2:,} / {n // 2 + 1:,}..{n:,}: stored bytes per form",
                       f"{constant[n // 2]:.1f} / {constant[n]:.1f} B")]
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
    rows += marks_rows
    rows.append((law, C.verdict(ok)))
    C.emit("world_files", rows, {
        "workload": args.workload, "steps": n, "pieces": pieces, "whole": whole, "constant_per_record": constant[n], "pass": ok,
        "quick": args.quick,
    })


if __name__ == "__main__":
    main()
