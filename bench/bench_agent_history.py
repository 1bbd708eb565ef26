"""Agent history: one form per turn consing a message onto a global list -- does cost follow the live state?

Issue 20.  An agent that runs for weeks appends one turn after another to one
session: ``(set! messages (cons MSG messages))`` with MSG 200 to 4,000
characters of ordinary text (words of a fixed vocabulary, seeded).  For each
size (``--turns``, default 1,000 and 10,000; the issue's full run adds
100,000) this reports:

* bytes per turn (the SQLite file: events, checkpoints, the content index);
* ms per turn, over the first and the last 1,000 turns (``Session.eval``);
* open: a fresh process, timed from the ``open_session`` call (imports done)
  to the first form evaluated (``(+ 1 1)``: opening decodes nothing that form does not need);
* ``state_at`` at 100 random turns, median and max (in that process);
* peak RSS above the interpreter's own (measured in that process after its
  imports) after open, and after touching the whole list (``(length
  messages)`` and every message's length);
* ``tape log --json`` of the session (a subprocess, output to a file),
  against reading its events through the store (``store.read``) in a
  fresh process, and its output's bytes per event.

Baseline, in the same run: a plain SQLite table (WAL, ``synchronous=FULL``)
that inserts each turn's message once per commit, as its authors would write
it (``INSERT INTO messages(turn, text) VALUES (?, ?)`` then ``commit()``):
what a store that keeps only the new data needs.

Targets (issue 20): bytes per turn <= 1.5x the baseline's; ms per turn <= 3x
the baseline's per commit, and last-1,000 / first-1,000 <= 1.2; open <= 50 ms
at 100k turns and open@largest / open@smallest <= 1.5; ``state_at`` median
<= 10 ms and max <= 50 ms; RSS after open <= 60 MB above the interpreter's,
after touching the list <= 2x the live data + 60 MB; ``tape log --json`` <=
3x the time of reading its events, its output linear in events.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import _common as C

VOCABULARY = tuple((  # noqa: SIM905 - words read as text
    "the of and to in is it that was for on are with as be at by this from or have an they "
    "which one you had not but what all were when we there can more if no out so said up use "
    "each how their will other about many then them these some her would make like him into "
    "time has look two agent tool model answer request file value list state session event log "
    "replay fork merge image snapshot memory task plan step result error retry search read "
    "write test build run "
).split())
WINDOW = 1_000  # turns in the first and last windows of per-turn time


def messages(seed: int, count: int) -> list[str]:
    """``count`` messages of 200..4,000 characters of words (no quotes or backslashes: a plain literal)."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        size = rng.randint(200, 4000)
        words: list[str] = []
        length = -1
        while length < size:
            word = rng.choice(VOCABULARY)
            words.append(word)
            length += len(word) + 1
        out.append(" ".join(words)[:size].rstrip())
    return out


def run_tapevm(db: Path, texts: list[str]) -> list[float]:
    """Build the session: one ``Session.eval`` per turn; the seconds of each turn."""
    from tapevm import open_session

    times = []
    with open_session("agent", str(db)) as s:
        s.eval("(define messages nil)")
        for text in texts:
            start = time.perf_counter()
            s.eval(f'(set! messages (cons "{text}" messages))')
            times.append(time.perf_counter() - start)
    return times


def run_baseline(db: Path, texts: list[str]) -> list[float]:
    """The anchor: a plain table, WAL, synchronous=FULL, one insert and one commit per turn."""
    conn = sqlite3.connect(str(db))
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE messages (turn INTEGER PRIMARY KEY, text TEXT NOT NULL)")
    conn.commit()
    times = []
    for turn, text in enumerate(texts, 1):
        start = time.perf_counter()
        conn.execute("INSERT INTO messages (turn, text) VALUES (?, ?)", (turn, text))
        conn.commit()
        times.append(time.perf_counter() - start)
    conn.close()
    return times


# The fresh process that opens the session, samples state_at and touches the whole list.
OPEN_PROBE = C.PROBE_HEADER + r"""
db, turns = sys.argv[1], int(sys.argv[2])
base = rss_mb()
start = time.perf_counter()
s = open_session("agent", db, create=False)
first = s.eval("(+ 1 1)")
opened = time.perf_counter() - start
after_open = rss_mb()
head = s.head
times = []
for n in random.Random(1).sample(range(2, head + 1), min(100, head - 1)):
    t = time.perf_counter()
    s.state_at(n)
    times.append(time.perf_counter() - t)
touch_start = time.perf_counter()
length = s.eval("(length messages)")
total = s.eval("(let loop ((m messages) (n 0)) (if (null? m) n (loop (cdr m) (+ n (string-length (car m))))))")
touched = time.perf_counter() - touch_start
after_touch = rss_mb()
s.close()
print(json.dumps({"open_s": opened, "rss_base_mb": base, "rss_open_mb": after_open - base,
                  "rss_touch_mb": after_touch - base, "state_at_ms": [t * 1000 for t in times],
                  "length": length, "chars": total, "touch_s": touched, "head": head}))
"""

READ_PROBE = r"""
import sys, time
import logging, structlog
structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
from tapevm.infrastructure.stores.factory import open_store
from tapevm.infrastructure.stores.named_sessions import NamedSessions
start = time.perf_counter()
with open_store(sys.argv[1]) as store:
    n = sum(1 for _ in NamedSessions(store).read("agent"))
print(time.perf_counter() - start, n)
"""


def probe(script: str, *args: str) -> str:
    out = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, check=False)
    if out.returncode:
        raise SystemExit(f"probe failed: {out.stderr.strip().splitlines()[-1:]}")
    return out.stdout.strip().splitlines()[-1]


def tape_log_json(db: Path, out: Path) -> float:
    """Seconds ``tape log --json`` takes for the whole session (output to a file)."""
    tape = Path(sys.executable).with_name("tape")
    start = time.perf_counter()
    with out.open("wb") as f:
        subprocess.run([str(tape), "--store", str(db), "log", "-i", "agent", "--json"], stdout=f, check=True)
    return time.perf_counter() - start


def measure(tmp: Path, turns: int, seed: int) -> dict[str, Any]:
    texts = messages(seed, turns)
    live_chars = sum(map(len, texts))
    base_db, db = tmp / f"baseline-{turns}.db", tmp / f"agent-{turns}.db"
    base_times = run_baseline(base_db, texts)
    times = run_tapevm(db, texts)
    window = min(WINDOW, max(1, turns // 5))
    opened = json.loads(probe(OPEN_PROBE, str(db), str(turns)))
    read_s, events = probe(READ_PROBE, str(db)).split()
    log_s = tape_log_json(db, tmp / f"log-{turns}.json")
    state_at = opened["state_at_ms"]
    return {
        "turns": turns, "live_mb": live_chars / 1e6,
        "bytes_per_turn": C.sqlite_file_bytes(db) / turns, "baseline_bytes_per_turn": C.sqlite_file_bytes(base_db) / turns,
        "ms_first": 1000 * statistics.fmean(times[:window]), "ms_last": 1000 * statistics.fmean(times[-window:]),
        "baseline_ms": 1000 * statistics.fmean(base_times),
        "open_ms": 1000 * opened["open_s"], "state_at_median_ms": statistics.median(state_at),
        "state_at_max_ms": max(state_at), "rss_open_mb": opened["rss_open_mb"], "rss_touch_mb": opened["rss_touch_mb"],
        "touch_s": opened["touch_s"], "events": int(events), "read_events_s": float(read_s), "log_json_s": log_s,
        "log_bytes_per_event": (tmp / f"log-{turns}.json").stat().st_size / int(events),
        "checked": opened["length"] == turns and opened["chars"] == live_chars,
    }


def rows_of(r: dict[str, Any]) -> list[tuple[str, Any]]:
    n = f"{r['turns']:,} turns"
    return [
        (f"{n}: bytes/turn (baseline, ratio)", (f"{r['bytes_per_turn']:,.0f} ({r['baseline_bytes_per_turn']:,.0f}, "
                                               f"{r['bytes_per_turn'] / r['baseline_bytes_per_turn']:.2f}x)")),
        (f"{n}: ms/turn first, last (baseline/commit)", (f"{r['ms_first']:.2f}, {r['ms_last']:.2f} "
                                                       f"({r['baseline_ms']:.2f}; last {r['ms_last'] / r['baseline_ms']:.2f}x, "
                                                       f"last/first {r['ms_last'] / r['ms_first']:.2f})")),
        (f"{n}: open ms", r["open_ms"]),
        (f"{n}: state_at median, max ms", f"{r['state_at_median_ms']:.1f}, {r['state_at_max_ms']:.1f}"),
        (f"{n}: RSS above interpreter after open, after touch (live data) MB",
         f"{r['rss_open_mb']:.0f}, {r['rss_touch_mb']:.0f} ({r['live_mb']:.0f})"),
        (f"{n}: tape log --json s (read events s, ratio; bytes/event)",
         (f"{r['log_json_s']:.2f} ({r['read_events_s']:.2f}, {r['log_json_s'] / r['read_events_s']:.1f}x; "
         f"{r['log_bytes_per_event']:.0f})")),
        (f"{n}: list read back whole and equal", r["checked"]),
    ]


def main() -> None:
    p = C.parser(__doc__.splitlines()[0])
    p.add_argument("--turns", type=int, nargs="+", default=[1_000, 10_000], help="sizes (default 1,000 10,000)")
    p.add_argument("--seed", type=int, default=20)
    args = p.parse_args()
    if args.quick:
        args.turns = [100, 300]
    results = []
    with C.workdir(args) as tmp:
        for turns in args.turns:
            results.append(measure(tmp, turns, args.seed))
            print(f"  ({turns:,} turns done)", file=sys.stderr)
    rows = [row for r in results for row in rows_of(r)]
    small, large = results[0], results[-1]
    rows.append(("open@largest / open@smallest", large["open_ms"] / small["open_ms"]))
    C.emit("agent_history", rows, {"results": results, "cores": os.cpu_count(), "quick": args.quick})


if __name__ == "__main__":
    main()
