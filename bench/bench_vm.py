"""VM speed: ``(fib 25)`` in tapevm's interpreter vs the lis.py-style baseline, same run.

The baseline is ``bench/baseline_lisp.py`` (a recursive AST walker over Python
lists with ``operator`` primitives).  Both sides are timed on the evaluation
of ``(fib N)`` only (definition and reading excluded), best of ``--repeat``,
alternating baseline and tapevm so machine noise hits both.  The issue sets
no threshold: the ratio is reported (tapevm time / baseline time; lower is
better for tapevm).
"""

from __future__ import annotations

import _common as C
import baseline_lisp


def main() -> None:
    p = C.parser(__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=25, help="fib argument (default 25)")
    args = p.parse_args()
    if args.quick:
        args.n = 12
    repeat = args.repeat or (1 if args.quick else 3)
    expected = _fib(args.n)

    base_times, vm_times = [], []
    with C.Profiler(args.profile):
        for _ in range(repeat):
            t, r = baseline_lisp.time_baseline(args.n)
            assert r == expected, r
            base_times.append(t)
            t, r = baseline_lisp.time_tapevm(args.n)
            assert r == expected, r
            vm_times.append(t)
    base, vm = min(base_times), min(vm_times)
    calls = _calls(args.n)
    rows = [
        ("fib argument", args.n),
        ("calls of fib", calls),
        ("baseline lis.py best (s)", base),
        ("tapevm best (s)", vm),
        ("tapevm calls/s", calls / vm),
        ("ratio tapevm/baseline time", vm / base),
        ("speed tapevm vs baseline", f"{base / vm:.2f}x"),
        ("repeat (best of)", repeat),
    ]
    C.emit("vm", rows, {
        "n": args.n, "baseline_s": base, "tapevm_s": vm, "baseline_times": base_times, "tapevm_times": vm_times,
        "ratio_time": vm / base, "speedup": base / vm, "repeat": repeat, "quick": args.quick,
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
