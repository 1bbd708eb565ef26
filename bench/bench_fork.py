"""Fork: branch a 1,000,000-event session, then open the fork.

Target (issue 4): under 50 ms and under 10 KB of new storage.  Baseline in the
same run: a naive fork that copies the source's commit records into the new
stream (re-encoded, because each record's checksum covers its stream id).

The first open of each fork is timed against opening the source (both start
from the source's latest checkpoint, K = 1,000) and against folding the
source's log from event 1 (what a fork's first open cost before it read its
source's checkpoints).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import _common as C


def build(path: Path, session: str, events: int, batch: int = 100) -> None:
    from tapevm.domain.events import Defined, RecordedEvent, SessionStarted
    from tapevm.infrastructure.stores.factory import open_store

    with open_store(str(path), durability="fast") as store:
        now = time.time()
        store.append([RecordedEvent(session, 1, 1, now, SessionStarted(tapevm_version="bench", vm_version=1))])
        seq = 2
        while seq <= events:
            n = min(batch, events - seq + 1)
            store.append([RecordedEvent(session, k, seq, now, Defined(ns="user", name=f"x{k % 1000}", value=k))
                          for k in range(seq, seq + n)])
            seq += n


def _open_forks(store: Any, repeat: int) -> dict[str, float]:
    """Checkpoints of the source, then the first open of each fork ``f0..``, the source's open, and
    the fold of the source from event 1 (seconds)."""
    from tapevm.domain.fold import fold_fields
    from tapevm.domain.state import State
    from tapevm.infrastructure.session.checkpoints import open_checkpoints as Checkpoints
    from tapevm.infrastructure.session.service import open_session

    t0 = time.perf_counter()
    Checkpoints(store, "src").rebuild()
    rebuild_s = time.perf_counter() - t0

    def open_once(name: str) -> float:
        t0 = time.perf_counter()
        with open_session(name, store, create=False):
            return time.perf_counter() - t0

    fork_open = min(open_once(f"f{i}") for i in range(repeat))
    source_open = min(open_once("src") for _ in range(repeat))
    t0 = time.perf_counter()
    fold_fields(store.read_fields("src"), State(session="src"))
    return {"rebuild_s": rebuild_s, "fork_open_s": fork_open, "source_open_s": source_open,
            "fold_s": time.perf_counter() - t0}


def main() -> None:
    p = C.parser(__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=1_000_000, help="events in the source session")
    args = p.parse_args()
    events = 2_000 if args.quick else args.events
    repeat = args.repeat or 5
    from tapevm.infrastructure.branches.forks import fork
    from tapevm.infrastructure.stores.factory import open_store
    from tapevm.infrastructure.stores.registry import SessionRegistry

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
            opened = _open_forks(store, repeat)
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
        **opened,
    }
    C.emit("fork", [
        ("source events", events), (f"fork (best of {repeat})", f"{fork_s * 1000:.2f} ms"),
        ("fork storage (record bytes)", fork_bytes), ("naive copy", f"{copy_s:.2f} s, {copy_bytes:,} B"),
        ("speed-up vs copy", f"{copy_s / fork_s:,.0f}x"),
        ("checkpoints of the source (rebuild, untimed)", f"{opened['rebuild_s']:.1f} s"),
        (f"first open of a fork (best of {repeat})", f"{opened['fork_open_s'] * 1000:.1f} ms"),
        (f"open of the source (best of {repeat})", f"{opened['source_open_s'] * 1000:.1f} ms"),
        ("fold of the source from event 1", f"{opened['fold_s'] * 1000:.0f} ms"),
        ("fork open / source open", f"{opened['fork_open_s'] / opened['source_open_s']:.2f}x"),
        ("fold from event 1 / fork open", f"{opened['fold_s'] / opened['fork_open_s']:,.0f}x"),
        ("< 50 ms", C.verdict(result["pass_time"])), ("< 10 KB", C.verdict(result["pass_bytes"])),
    ], result)


if __name__ == "__main__":
    main()
