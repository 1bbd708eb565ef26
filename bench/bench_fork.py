"""Fork: branch a 1,000,000-event session.

Target (issue 4): under 50 ms and under 10 KB of new storage.  Baseline in the
same run: a naive fork that copies the source's commit records into the new
stream (re-encoded, because each record's checksum covers its stream id).
"""

from __future__ import annotations

import time
from pathlib import Path

import _common as C


def build(path: Path, session: str, events: int, batch: int = 100) -> None:
    from tapevm.domain.events import Defined, RecordedEvent, SessionStarted
    from tapevm.infrastructure.store_factory import open_store

    with open_store(str(path), durability="fast") as store:
        now = time.time()
        store.append([RecordedEvent(session, 1, 1, now, SessionStarted(tapevm_version="bench", vm_version=1))])
        seq = 2
        while seq <= events:
            n = min(batch, events - seq + 1)
            store.append([RecordedEvent(session, k, seq, now, Defined(ns="user", name=f"x{k % 1000}", value=k))
                          for k in range(seq, seq + n)])
            seq += n


def main() -> None:
    p = C.parser(__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=1_000_000, help="events in the source session")
    args = p.parse_args()
    events = 2_000 if args.quick else args.events
    repeat = args.repeat or 5
    from tapevm.infrastructure.branching import fork
    from tapevm.infrastructure.session_registry import SessionRegistry
    from tapevm.infrastructure.store_factory import open_store

    with C.workdir(args) as tmp:
        db = tmp / "fork.db"
        build(db, "src", events)
        with open_store(str(db)) as store:
            SessionRegistry(store)  # the registry table exists before timing, as in any used store
            times, sizes = [], []
            with C.Profiler(args.profile):
                for i in range(repeat):
                    before = C.sqlite_file_bytes(db)
                    heads_before = {h.session: h.stored_bytes for h in store.sessions()}
                    t0 = time.perf_counter()
                    fork(store, "src", f"f{i}")
                    times.append(time.perf_counter() - t0)
                    heads = {h.session: h.stored_bytes for h in store.sessions()}
                    sizes.append(sum(heads.values()) - sum(heads_before.values()))
                    del before
            # baseline: copy every record into a new stream
            from tapevm.domain.events import RecordedEvent

            t0 = time.perf_counter()
            batch: list[RecordedEvent] = []
            last_cause = None
            for r in store.read("src"):
                if batch and r.cause != last_cause:
                    store.append(batch)
                    batch = []
                batch.append(RecordedEvent("copy", r.seq, r.cause, r.recorded_at, r.event))
                last_cause = r.cause
            if batch:
                store.append(batch)
            copy_s = time.perf_counter() - t0
            copy_bytes = next(h.stored_bytes for h in store.sessions() if h.session == "copy")
    fork_s = min(times)
    fork_bytes = max(sizes)
    result = {
        "events": events, "fork_s": fork_s, "fork_times": times, "fork_record_bytes": fork_bytes,
        "copy_s": copy_s, "copy_bytes": copy_bytes, "ratio_time": copy_s / fork_s,
        "target_s": 0.05, "target_bytes": 10_240,
        "pass_time": fork_s < 0.05, "pass_bytes": fork_bytes < 10_240, "repeat": repeat, "quick": args.quick,
    }
    C.emit("fork", [
        ("source events", events), (f"fork (best of {repeat})", f"{fork_s * 1000:.2f} ms"),
        ("fork storage (record bytes)", fork_bytes), ("naive copy", f"{copy_s:.2f} s, {copy_bytes:,} B"),
        ("speed-up vs copy", f"{copy_s / fork_s:,.0f}x"),
        ("< 50 ms", C.verdict(result["pass_time"])), ("< 10 KB", C.verdict(result["pass_bytes"])),
    ], result)


if __name__ == "__main__":
    main()
