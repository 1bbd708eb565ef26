"""Large sessions: 100,000 compound bindings -- does opening one cost what the first form needs?

Issue 20 (the large-session case of ``bench_image.py``'s images).  Half the
bindings are lists (``(define lI (list I "item I" 'tag))``), half closures
(``(define (fI x) (+ x I))``), defined by forms of 100 definitions each.
Reported, each in a fresh process (imports done before the clock starts; RSS is
the process's resident set above what it held after its imports):

* open + one lookup (``(f99999 1)``) of the session built by forms;
* the same for a session created by ``tape image load`` of its image;
* ``tape run --image IMAGE FILE`` to its first form (the whole command), and with ``--ephemeral``
  (a session in memory);
* one form defining 100,000 compound bindings: its peak RSS, against the live
  data (the bytes of the content its values reach);
* ``tape state --at N`` for an N inside that giant commit.

Targets (issue 20): open + one lookup <= 100 ms and <= 60 MB above the
interpreter, for both sessions; ``tape run --image`` <= 150 ms; the giant form
peaks at <= 2x the live data + 100 MB; ``state --at`` inside it <= 1 s.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import _common as C

PER_FORM = 100


def definition(i: int) -> str:
    return f'(define l{i} (list {i} "item {i}" (quote tag)))' if i % 2 == 0 else f"(define (f{i} x) (+ x {i}))"


def build(db: Path, bindings: int) -> float:
    from tapevm import open_session

    start = time.perf_counter()
    with open_session("big", str(db)) as s:
        for first in range(0, bindings, PER_FORM):
            s.eval("(begin " + " ".join(definition(i) for i in range(first, min(first + PER_FORM, bindings))) + ")")
    return time.perf_counter() - start


PROBE = C.PROBE_HEADER + r"""
base = rss_mb()
start = time.perf_counter()
s = open_session(sys.argv[2], sys.argv[1], create=False)
value = s.eval(sys.argv[3])
print(json.dumps({"ms": 1000 * (time.perf_counter() - start), "rss_mb": rss_mb() - base, "value": value}))
"""

GIANT = r"""
import json, resource, sys, time
import logging, structlog
structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
from tapevm import open_session
from tapevm.domain.state import live_content
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
source = open(sys.argv[3]).read()
with open_session(sys.argv[2], sys.argv[1]) as s:
    start = time.perf_counter()
    s.eval(source)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - base
    live = sum(len(data) for _, data in live_content(s.state)) / 1e6
    print(json.dumps({"s": seconds, "peak_mb": peak, "live_mb": live, "head": s.head}))
"""


def probe(script: str, *args: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, check=False)
    if out.returncode:
        raise SystemExit(f"probe failed: {out.stderr.strip()[-500:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def timed(*cmd: str) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    p = C.parser(__doc__.splitlines()[0])
    p.add_argument("--bindings", type=int, default=100_000)
    args = p.parse_args()
    if args.quick:
        args.bindings = 2_000
    n = args.bindings
    tape = str(Path(sys.executable).with_name("tape"))
    last = f"(f{n - 1} 1)"
    with C.workdir(args) as tmp:
        db, loaded, image = tmp / "big.db", tmp / "loaded.db", tmp / "big.img"
        built_s = build(db, n)
        forms = probe(PROBE, str(db), "big", last)
        save_s = timed(tape, "--store", str(db), "image", "save", "-i", "big", str(image))
        load_s = timed(tape, "--store", str(loaded), "image", "load", str(image), "-i", "L")
        from_image = probe(PROBE, str(loaded), "L", last)
        program = tmp / "first.lisp"
        program.write_text("(+ 1 2)\n")
        run_image_s = timed(tape, "--store", str(tmp / "run.db"), "run", "--image", str(image), str(program))
        ephemeral_s = timed(tape, "--store", str(tmp / "run.db"), "run", "--ephemeral", "--image", str(image),
                            str(program))
        giant_src = tmp / "giant.lisp"
        giant_src.write_text("(begin " + " ".join(definition(i) for i in range(n)) + ")\n")
        giant = probe(GIANT, str(tmp / "giant.db"), "giant", str(giant_src))
        inside = giant["head"] - n // 2
        state_at_s = timed(tape, "--store", str(tmp / "giant.db"), "state", "-i", "giant", "--at", str(inside), "--json")
    checked = forms["value"] == from_image["value"] == n
    rows: list[tuple[str, Any]] = [
        ("bindings", n),
        ("build by forms of 100 (s)", built_s),
        ("open + one lookup, built by forms (ms, MB)", f"{forms['ms']:.0f}, {forms['rss_mb']:.0f}"),
        ("image save, load (s)", f"{save_s:.2f}, {load_s:.2f}"),
        ("open + one lookup, loaded from the image (ms, MB)", f"{from_image['ms']:.0f}, {from_image['rss_mb']:.0f}"),
        ("tape run --image to the first form (ms, whole command)", 1000 * run_image_s),
        ("tape run --image --ephemeral to the first form (ms, whole command)", 1000 * ephemeral_s),
        ("one form of all the definitions: s, peak MB (live data MB)",
         f"{giant['s']:.1f}, {giant['peak_mb']:.0f} ({giant['live_mb']:.0f})"),
        (f"tape state --at {inside} inside it (s, whole command)", state_at_s),
        ("lookups answered right", checked),
    ]
    C.emit("large_session", rows, {"bindings": n, "build_s": built_s, "forms": forms, "from_image": from_image,
                                   "save_s": save_s, "load_s": load_s, "run_image_s": run_image_s,
                                   "run_image_ephemeral_s": ephemeral_s, "giant": giant,
                                   "state_at_s": state_at_s, "checked": checked, "cores": os.cpu_count(), "quick": args.quick})


if __name__ == "__main__":
    main()
