"""Read model: catch up on 1,000,000 events.

Target (issue 4): at least 100,000 events/s.  The log is forms of 100
``define``s over 1,000 names (so most events replace a binding: an UPDATE of
the open row and an INSERT).  The machine these run on is shared, so
the CPU time of the catch-up is reported beside the wall time.  Baseline in the same run: the cheapest possible
pass over the same log, reading every commit record in global order and
decoding it (no writes) - the floor any projection pays.
"""

from __future__ import annotations

import time

import _common as C
from bench_fork import build


def main() -> None:
    p = C.parser(__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=1_000_000, help="events in the store")
    args = p.parse_args()
    events = 5_000 if args.quick else args.events
    from tapevm.infrastructure.followers.read_model import ReadModel
    from tapevm.infrastructure.stores.factory import open_store
    from tapevm.infrastructure.stores.log_tail import LogTail

    with C.workdir(args) as tmp:
        db = tmp / "rm.db"
        build(db, "s", events)
        with open_store(str(db)) as store:
            t0 = time.perf_counter()
            tail = LogTail(store)  # type: ignore[arg-type]  # positions are opaque: read only through LogTail
            codec, pos, n = store.codec, 0, 0  # type: ignore[attr-defined]
            while True:
                records = tail.read_after(pos, 2_000)
                if not records:
                    break
                for x in records:
                    n += len(codec.decode_fields(x.session, x.first_seq, x.topic, x.state))
                pos = records[-1].position
            read_s = time.perf_counter() - t0
            model = ReadModel(store, tmp / "rm.readmodel.db")
            with C.Profiler(args.profile):
                t0, c0 = time.perf_counter(), time.process_time()
                caught = model.catch_up()
                catch_s, catch_cpu = time.perf_counter() - t0, time.process_time() - c0
            t0 = time.perf_counter()
            again = model.catch_up()
            noop_s = time.perf_counter() - t0
            model.close()
        size = C.sqlite_file_bytes(tmp / "rm.readmodel.db")
    eps = caught.events / catch_s
    result = {
        "events": caught.events, "commits": caught.commits, "catch_up_s": catch_s, "catch_up_eps": eps,
        "catch_up_cpu_s": catch_cpu, "catch_up_cpu_eps": caught.events / catch_cpu,
        "read_decode_s": read_s, "read_decode_eps": n / read_s, "ratio_vs_read": read_s / catch_s,
        "noop_catch_up_s": noop_s, "noop_events": again.events, "read_model_bytes": size,
        "target_eps": 100_000, "pass": eps >= 100_000, "quick": args.quick,
    }
    C.emit("readmodel", [
        ("events", caught.events), ("catch-up", f"{catch_s:.2f} s = {eps:,.0f} events/s"),
        ("catch-up CPU time (load-independent)", f"{catch_cpu:.2f} s = {caught.events / catch_cpu:,.0f} events/CPU-s"),
        ("read+decode only (floor)", f"{read_s:.2f} s = {n / read_s:,.0f} events/s"),
        ("catch-up when current", f"{noop_s * 1000:.1f} ms"), ("read model size", size),
        (">= 100,000 events/s", C.verdict(result["pass"])),
    ], result)


if __name__ == "__main__":
    main()
