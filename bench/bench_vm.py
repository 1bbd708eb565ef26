"""VM speed: ``(fib 25)`` in tapevm's interpreter vs Norvig's lis.py, same run.

The baseline is ``bench/baseline_lisp.py``: lis.py as its author wrote it (a
dict ``Env`` chain with ``outer``, ``eval`` recursing on the Python stack,
``Procedure``, ``standard_env``), run where CPython's frame-stack chunks do not
thrash (see its docstring).  Both sides are timed on the evaluation of
``(fib N)`` only (definition and reading excluded), best of ``--repeat``,
alternating baseline and tapevm so machine noise hits both; CPU times
(``time.process_time``) are printed too, being what a shared machine's load
disturbs least.  Target (issue
20): tapevm's time <= 0.5x lis.py's.
"""

from __future__ import annotations

import _common as C
import baseline_lisp

TARGET = 0.5  # tapevm's time over lis.py's


def main() -> None:
    p = C.parser(__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=25, help="fib argument (default 25)")
    args = p.parse_args()
    if args.quick:
        args.n = 12
    repeat = args.repeat or (1 if args.quick else 3)
    expected = _fib(args.n)

    base_times, vm_times, base_cpu, vm_cpu = [], [], [], []
    with C.Profiler(args.profile):
        for _ in range(repeat):
            t, c, r = baseline_lisp.time_baseline(args.n)
            assert r == expected, r
            base_times.append(t)
            base_cpu.append(c)
            t, c, r = baseline_lisp.time_tapevm(args.n)
            assert r == expected, r
            vm_times.append(t)
            vm_cpu.append(c)
    base, vm = min(base_times), min(vm_times)
    calls = _calls(args.n)
    ok = vm / base <= TARGET
    rows = [
        ("fib argument", args.n),
        ("calls of fib", calls),
        ("baseline lis.py best (s)", base),
        ("tapevm best (s)", vm),
        ("tapevm calls/s", calls / vm),
        ("ratio tapevm/baseline time", vm / base),
        ("speed tapevm vs baseline", f"{base / vm:.2f}x"),
        (f"target <= {TARGET}x lis.py's time", C.verdict(ok)),
        ("baseline lis.py best CPU (s)", min(base_cpu)),
        ("tapevm best CPU (s)", min(vm_cpu)),
        ("ratio tapevm/baseline CPU time", min(vm_cpu) / min(base_cpu)),
        ("repeat (best of)", repeat),
    ]
    C.emit("vm", rows, {
        "n": args.n, "baseline_s": base, "tapevm_s": vm, "baseline_times": base_times, "tapevm_times": vm_times,
        "baseline_cpu": base_cpu, "tapevm_cpu": vm_cpu, "ratio_cpu": min(vm_cpu) / min(base_cpu),
        "ratio_time": vm / base, "speedup": base / vm, "target_ratio": TARGET, "pass": ok,
        "baseline": "lis.py (Norvig), roomy stack", "repeat": repeat, "quick": args.quick,
    })


def _fib(n: int) -> int:
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


def _calls(n: int) -> int:
    c = [1, 1]
    for i in range(2, n + 1):
        c.append(c[-1] + c[-2] + 1)
    return c[n]


if __name__ == "__main__":
    main()
