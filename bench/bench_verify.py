"""Verify: ``tape verify`` (checksums and hash-chain links) in events per second.

Target (issue 5): at least 500,000 events/s.  Baseline (same run): reading the
same rows with the store's own paging (``SELECT`` only, no checks), so the
ratio shows what the checks cost on top of the I/O.

The session is recorded with forms of ``--form-size`` definitions (one commit
record each); verify reads the raw rows and checks each record's xxh3
checksum and BLAKE2b link without decoding JSON.
"""

from __future__ import annotations

import time

import _common as C

from tapevm.infrastructure.hash_chain import verify_chain
from tapevm.infrastructure.session import open_session
from tapevm.infrastructure.store_factory import open_store


def main() -> None:
    p = C.parser(__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=1_000_000, help="events to record")
    p.add_argument("--form-size", type=int, default=20, help="definitions per form (events per commit record - 2)")
    args = p.parse_args()
    events = 5_000 if args.quick else args.events
    repeat = args.repeat or 3
    with C.workdir(args) as d:
        path = d / "verify.db"
        with open_session("v", str(path), durability="fast") as s:
            i = 0
            while s.head < events:
                s.run(" ".join(f"(define x{(i + j) % 1000} {i + j})" for j in range(args.form_size)))
                i += args.form_size
            head = s.head
        with open_store(str(path)) as store:
            def read_only() -> float:
                t = time.perf_counter()
                n = sum(len(rows) for rows in store._rows("v", 1, None))  # type: ignore[attr-defined]
                assert n > 0
                return time.perf_counter() - t

            def check() -> float:
                t = time.perf_counter()
                with C.Profiler(args.profile):
                    report = verify_chain(store, "v")
                assert report.ok and report.events == head
                return time.perf_counter() - t

            read_s, _ = C.best_of(repeat, read_only)
            verify_s, times = C.best_of(repeat, check)
    eps = head / verify_s
    C.emit("verify", [
        ("events", head),
        ("read rows only", f"{read_s:.3f} s = {head / read_s:,.0f} events/s"),
        ("verify (checksums + chain)", f"{verify_s:.3f} s = {eps:,.0f} events/s"),
        ("verify / read", f"{verify_s / read_s:.2f}x the time"),
        ("target >= 500,000 events/s", C.verdict(eps >= 500_000)),
    ], {"quick": args.quick, "events": head, "verify_s": verify_s, "verify_times": times, "read_s": read_s,
        "verify_eps": eps, "read_eps": head / read_s, "pass": eps >= 500_000})


if __name__ == "__main__":
    main()
