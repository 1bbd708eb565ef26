"""Verify: ``tape verify`` (checksums and hash-chain links) in events per second.

Target (issue 5): at least 500,000 events/s.  Baseline (same run): reading the
same rows with the store's own paging (``SELECT`` only, no checks), so the
ratio shows what the checks cost on top of the I/O.

The main session is recorded with ``(begin ...)`` forms of ``--form-size``
definitions (one commit record of form-size + 2 events each); verify reads the
raw rows and checks each record's xxh3 checksum and BLAKE2b link without
decoding JSON.  Verify's cost is per *record*, so a second, REPL-style session
(one definition per form: 3 events per record, ``--repl-events``) is
measured too and reported without a target.
"""

from __future__ import annotations

import time

import _common as C

from tapevm.infrastructure.integrity import verify_chain
from tapevm.infrastructure.session.service import open_session
from tapevm.infrastructure.stores.factory import open_store


def main() -> None:
    p = C.parser(__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=1_000_000, help="events to record")
    p.add_argument("--form-size", type=int, default=20, help="definitions per form (events per commit record - 2)")
    p.add_argument("--repl-events", type=int, default=100_000, help="events of the REPL-style session")
    args = p.parse_args()
    events = 5_000 if args.quick else args.events
    repeat = args.repeat or 3
    with C.workdir(args) as d:
        path = d / "verify.db"
        with open_session("v", str(path), durability="fast") as s:
            i = 0
            while s.head < events:
                s.run(" ".join("(begin " + " ".join(f"(define x{(i + k + j) % 1000} {i + k + j})"
                                                    for j in range(args.form_size)) + ")"
                               for k in range(0, 100 * args.form_size, args.form_size)))
                i += 100 * args.form_size
            head = s.head
        repl_events = 3_000 if args.quick else args.repl_events
        with open_session("r", str(path), durability="fast") as s:
            i = 0
            while s.head < repl_events:
                s.run(" ".join(f"(define y{(i + j) % 1000} {i + j})" for j in range(100)))
                i += 100
            repl_head = s.head
        with open_store(str(path)) as store:
            def read_only() -> float:
                t = time.perf_counter()
                n = sum(len(rows) for rows in store.records("v"))
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

            def check_repl() -> float:
                t = time.perf_counter()
                assert verify_chain(store, "r").ok
                return time.perf_counter() - t

            repl_s, _ = C.best_of(repeat, check_repl)
    eps = head / verify_s
    C.emit("verify", [
        ("events", head),
        ("read rows only", f"{read_s:.3f} s = {head / read_s:,.0f} events/s"),
        ("verify (checksums + chain)", f"{verify_s:.3f} s = {eps:,.0f} events/s"),
        ("verify / read", f"{verify_s / read_s:.2f}x the time"),
        ("target >= 500,000 events/s", C.verdict(eps >= 500_000)),
        ("REPL-style session (3 events/record)", f"{repl_head:,} events: {repl_head / repl_s:,.0f} events/s"),
    ], {"quick": args.quick, "events": head, "repl_events": repl_head, "repl_eps": repl_head / repl_s, "verify_s": verify_s, "verify_times": times, "read_s": read_s,
        "verify_eps": eps, "read_eps": head / read_s, "pass": eps >= 500_000})


if __name__ == "__main__":
    main()
