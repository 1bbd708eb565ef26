"""Diff: two sessions with 100,000 bindings each.

Target (issue 4): under 1 s.  Session B is a fork of A that then changed 1%
of the bindings, removed some and added some (the usual shape: comparing
branches).  Measured: ``compare`` end to end (fold both sessions through their
lineage + the pure state diff) and the pure diff alone.  Baseline in the same
run: a naive diff that decodes every value to a Lisp value and compares the
printed forms, as a tool without content addressing would.
"""

from __future__ import annotations

import time
from pathlib import Path

import _common as C


def build(path: Path, bindings: int) -> int:
    from tapevm.domain.events import Defined, RecordedEvent, SessionStarted
    from tapevm.infrastructure.branches.forks import fork
    from tapevm.infrastructure.stores.factory import open_store

    with open_store(str(path), durability="fast") as store:
        now = time.time()
        store.append([RecordedEvent("a", 1, 1, now, SessionStarted(tapevm_version="bench", vm_version=1))])
        seq = 2
        for start in range(0, bindings, 100):
            store.append([RecordedEvent("a", seq + k, seq, now, Defined(ns="user", name=f"v{i}", value=i))
                          for k, i in enumerate(range(start, min(start + 100, bindings)))])
            seq += min(100, bindings - start)
        fork(store, "a", "b")
        seq = store.last_seq("b") + 1
        changed = max(1, bindings // 100)
        evs = [Defined(ns="user", name=f"v{i}", value=-i) for i in range(0, bindings, bindings // changed)]
        evs += [Defined(ns="user", name=f"new{i}", value=i) for i in range(changed)]
        for j in range(0, len(evs), 100):
            chunk = evs[j:j + 100]
            store.append([RecordedEvent("b", seq + k, seq, now, e) for k, e in enumerate(chunk)])
            seq += len(chunk)
        return len(evs)


def main() -> None:
    p = C.parser(__doc__.splitlines()[0])
    p.add_argument("--bindings", type=int, default=100_000, help="bindings in each session")
    args = p.parse_args()
    bindings = 1_000 if args.quick else args.bindings
    repeat = args.repeat or 3
    from tapevm.infrastructure.branches.compare import compare
    from tapevm.infrastructure.stores.factory import open_store
    from tapevm.projections.state_diff import diff_states
    from tapevm.vm.state_printer import StatePrinter

    with C.workdir(args) as tmp:
        db = tmp / "diff.db"
        build(db, bindings)
        with open_store(str(db)) as store:
            with C.Profiler(args.profile):
                total_s, _ = C.best_of(repeat, lambda: _timed(lambda: compare(store, "a", "b")))
            cmp = compare(store, "a", "b")
            sa, sb = cmp.a_state, cmp.b_state
            pure_s, _ = C.best_of(repeat, lambda: _timed(lambda: diff_states(sa, sb)))

            def naive() -> None:
                pa, pb = StatePrinter(sa), StatePrinter(sb)
                a = {(ns, n): pa(v) for ns, t in sa.namespaces.items() for n, v in t.items()}
                b = {(ns, n): pb(v) for ns, t in sb.namespaces.items() for n, v in t.items()}
                _ = [k for k in a.keys() | b.keys() if a.get(k) != b.get(k)]
            naive_s, _ = C.best_of(1, lambda: _timed(naive))
    result = {
        "bindings": bindings, "differences": len(cmp.diff.changes), "compare_s": total_s, "pure_diff_s": pure_s,
        "naive_s": naive_s, "ratio_vs_naive": naive_s / pure_s, "target_s": 1.0, "pass": total_s < 1.0,
        "repeat": repeat, "quick": args.quick,
    }
    C.emit("diff", [
        ("bindings per session", bindings), ("differences", len(cmp.diff.changes)),
        ("compare (fold both + diff)", f"{total_s:.3f} s"), ("pure state diff", f"{pure_s * 1000:.1f} ms"),
        ("naive decode+print diff", f"{naive_s:.3f} s"), ("pure diff vs naive", f"{naive_s / pure_s:,.0f}x"),
        ("< 1 s end to end", C.verdict(result["pass"])),
    ], result)


def _timed(fn) -> float:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()
