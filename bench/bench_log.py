"""``tape log --json`` of a session whose agent conses a ~1 KB message onto a list each turn.

Each turn is ``(set! messages (cons MSG messages))``: the list grows by one message per turn, and
every turn logs an ``Assigned`` of the whole list (by reference) and a ``FormEvaluated`` whose
result is that list.  Printing those values whole made the log's time quadratic in turns (at
10,000 turns it did not finish in 90 s).  Measured for each size N:

* baseline: reading the session's events with the store API (``Store.log``, in process, best of
  ``--repeat``);
* ``tape log -i agent --json`` (the real command, output to a file, wall time including the
  command's start; ``--start`` is that start, the same command on a session of one turn);
* the output's bytes per event, which must not grow with N (linear output).

Target (issue 20): ``tape log --json`` within 3x the time of reading the events, and output
linear in events.  The ratio is given whole and without the command's start.

    .venv/bin/python bench/bench_log.py                  # N = 1,000 and 10,000
    .venv/bin/python bench/bench_log.py --tape /work/main/.venv/bin/tape --sizes 1000 2000   # another build
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import _common as C

import tapevm

MSG = "m" * 1000


def build(path: Path, turns: int) -> None:
    with tapevm.open_session("agent", store=str(path)) as s:
        s.eval("(define messages nil)")
        for i in range(turns):
            s.eval(f'(set! messages (cons "{MSG} {i}" messages))')


def read_events(path: Path, repeat: int) -> tuple[float, int]:
    """Best time of reading every event of the session with the store API, and their count."""
    best, count = float("inf"), 0
    for _ in range(repeat):
        with tapevm.open_store(str(path), create=False) as store:
            t0 = time.perf_counter()
            count = len(store.log("agent"))
            best = min(best, time.perf_counter() - t0)
    return best, count


def tape_log(tape: str, path: Path, out: Path, extra: list[str], repeat: int) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAPE_")}
    best = float("inf")
    for _ in range(repeat):
        with out.open("wb") as f:
            t0 = time.perf_counter()
            subprocess.run([tape, "--store", str(path), "log", "-i", "agent", "--json", *extra], stdout=f,
                           env=env, check=True)
            best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    p = C.parser(__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=None, help="turns per session (default 1000 10000)")
    p.add_argument("--tape", default=None, help="the tape command to time (default: this venv's)")
    p.add_argument("--full", action="store_true", help="also time --values full (quadratic by design)")
    args = p.parse_args()
    sizes = args.sizes or ([50, 100] if args.quick else [1000, 10000])
    repeat = args.repeat or (1 if args.quick else 3)
    tape = args.tape or shutil.which("tape", path=str(Path(sys.executable).parent))
    assert tape, "the 'tape' console script is not installed in this venv"
    rows: list[tuple[str, object]] = [("tape", tape), ("repeat (best of)", repeat)]
    result: dict[str, object] = {"quick": args.quick, "sizes": sizes}
    with C.workdir(args) as tmp:
        build(tmp / "one.db", 1)
        start = tape_log(tape, tmp / "one.db", tmp / "one.json", [], repeat)
        rows.append(("tape log --json of 1 turn (start), s", start))
        result["start_s"] = start
        per_event: list[float] = []
        for n in sizes:
            db = tmp / f"s{n}.db"
            build(db, n)
            read_s, events = read_events(db, repeat)
            log_s = tape_log(tape, db, tmp / "out.json", [], repeat)
            size = (tmp / "out.json").stat().st_size
            per_event.append(size / events)
            ratio, net = log_s / read_s, max(0.0, log_s - start) / read_s
            rows += [(f"N={n}: events", events), (f"N={n}: Store.log, s", read_s),
                     (f"N={n}: tape log --json, s", log_s), (f"N={n}: ratio log/read", ratio),
                     (f"N={n}: ratio without the start", net), (f"N={n}: output bytes/event", size / events)]
            result[f"n{n}"] = {"events": events, "read_s": read_s, "log_s": log_s, "ratio": ratio,
                               "ratio_net": net, "bytes": size, "bytes_per_event": size / events}
            if args.full:
                full_s = tape_log(tape, db, tmp / "full.json", ["--values", "full"], 1)
                rows.append((f"N={n}: tape log --json --values full, s", full_s))
                result[f"n{n}"]["full_s"] = full_s  # type: ignore[index]
    growth = per_event[-1] / per_event[0]
    rows.append(("bytes/event, largest N / smallest N (linear: ~1)", growth))
    last = result[f"n{sizes[-1]}"]
    ok = growth < 1.5 and last["ratio_net"] <= 3  # type: ignore[index]
    rows.append(("target: net ratio <= 3 at the largest N, output linear", C.verdict(ok)))
    result["bytes_per_event_growth"] = growth
    C.emit("log", rows, result)


if __name__ == "__main__":
    main()
