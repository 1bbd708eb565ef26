"""Replay: ``replay --verify`` of a recorded session vs the original run that recorded it.

Target (issue 5): replay with --verify of a recorded 100,000-event session runs
at least 0.8x the speed of the original run (recording adds little,
verifying adds little).

The session is built by running forms through a real Session on a SQLite
file (``durability="fast"``: the original run's figure is then compute, not
fsyncs, which is the harder baseline for the replay).  Forms cycle through a
definition of a small list, an arithmetic update, and every tenth form a
recorded effect ``(random 1000)``.  The replay reads the log once, re-runs
every form on a fresh VM with the effects answered from the log, and compares
every produced event with the recorded one.  Speed = events per second of each.
"""

from __future__ import annotations

import time

import _common as C

from tapevm.infrastructure.session.replay import replay
from tapevm.infrastructure.session.service import open_session
from tapevm.infrastructure.stores.factory import open_store


def form(i: int) -> str:
    k = i % 10
    if k == 0:
        return f"(define r{i % 97} (random 1000))"
    if k % 2:
        return f"(define v{i % 500} (list {i} (* {i} 2) \"s{i}\"))"
    return f"(define n{i % 50} (+ {i} (* 3 {i % 7})))"


def main() -> None:
    p = C.parser(__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=100_000, help="events to record (approximately)")
    args = p.parse_args()
    events = 2_000 if args.quick else args.events
    repeat = args.repeat or (1 if args.quick else 2)
    with C.workdir(args) as d:
        path = d / "replay.db"
        source_forms: list[str] = []
        with open_session("rec", str(path), durability="fast") as s:
            start = time.perf_counter()
            i = 0
            while s.head < events:
                batch = "\n".join(form(i + j) for j in range(100))
                source_forms.append(batch)
                s.run(batch, "bench.lisp")
                i += 100
            record_s = time.perf_counter() - start
            head = s.head

        def one() -> float:
            with open_store(str(path), durability="fast") as store:
                t = time.perf_counter()
                with C.Profiler(args.profile):
                    result = replay(store, "rec", verify=True)
                elapsed = time.perf_counter() - t
                assert result.ok and result.events == head, result.divergence
                return elapsed

        replay_s, times = C.best_of(repeat, one)
    record_eps = head / record_s
    replay_eps = head / replay_s
    ratio = replay_eps / record_eps
    C.emit("replay", [
        ("events", head),
        ("forms", i),
        ("original run (SQLite, fast durability)", f"{record_s:.2f} s = {record_eps:,.0f} events/s"),
        ("replay --verify", f"{replay_s:.2f} s = {replay_eps:,.0f} events/s"),
        ("ratio (replay speed / original speed)", f"{ratio:.2f}x (target >= 0.8x: {C.verdict(ratio >= 0.8)})"),
    ], {"quick": args.quick, "events": head, "record_s": record_s, "replay_s": replay_s, "replay_times": times,
        "record_eps": record_eps, "replay_eps": replay_eps, "ratio": ratio, "pass": ratio >= 0.8})


if __name__ == "__main__":
    main()
