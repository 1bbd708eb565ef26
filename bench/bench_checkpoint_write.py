"""What inline checkpoints cost a writer whose world is large: forms on a session of 100,000 bindings.

A session writes a checkpoint after the commit that takes it ``interval`` events
(K, default 1,000) past the last one; a checkpoint diffs the head state with its
keyframe.  A form that sets a few bindings should not cost much more because
the world it changes is large.  No target in the issues; reported so that the
cost of checkpoints on large sessions shows, against the same forms in the
same run with inline checkpoints off (``TAPE_INLINE_CHECKPOINTS=0``: what a
writer pays when a ``tape follow`` process keeps the checkpoints):

* the session: ``--bindings`` definitions (bench_image.py's log: one commit record per form of 100);
* the forms: ``--forms`` forms of 10 ``set!``s of bindings spread over the whole world, on a copy of
  that store, with inline checkpoints on and off, alternating, best of ``--repeat``;
* reported: ms per form each way, the overhead per form, and how many checkpoints were written.

    .venv/bin/python bench/bench_checkpoint_write.py
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import _common as C
from bench_image import SESSION, build


def forms(count: int, bindings: int) -> list[str]:
    return ["(begin " + " ".join(f"(set! b{(r * 37 + i * 101) % bindings} {r * 10 + i})" for i in range(10)) + ")"
            for r in range(count)]


def run(store_path: Path, program: list[str], inline: bool) -> tuple[float, int]:
    """Seconds to run ``program`` on the session in ``store_path``, and the checkpoints it wrote."""
    from tapevm.infrastructure.session.service import Session
    from tapevm.infrastructure.stores.factory import open_store

    os.environ["TAPE_INLINE_CHECKPOINTS"] = "1" if inline else "0"
    try:
        with open_store(str(store_path), durability="fast") as store:
            session = Session(store, SESSION, create=False)
            before = len(session.checkpoints.metas())
            t0 = time.perf_counter()
            for source in program:
                session.run(source)
            seconds = time.perf_counter() - t0
            written = len(session.checkpoints.metas()) - before
            session.close()
    finally:
        os.environ.pop("TAPE_INLINE_CHECKPOINTS", None)
    return seconds, written


def copy_store(source: Path, target: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        src = Path(str(source) + suffix)
        dst = Path(str(target) + suffix)
        dst.unlink(missing_ok=True)
        if src.exists():
            shutil.copyfile(src, dst)


def main() -> None:
    p = C.parser(__doc__.splitlines()[0])
    p.add_argument("--bindings", type=int, default=100_000)
    p.add_argument("--forms", type=int, default=1000, help="forms of 10 set!s run each way (default 1,000)")
    args = p.parse_args()
    if args.quick:
        args.bindings, args.forms = 2_000, 100
    repeat = args.repeat or (1 if args.quick else 3)
    from tapevm.infrastructure.session.service import Session
    from tapevm.infrastructure.stores.factory import open_store

    with C.workdir(args) as tmp:
        source = tmp / "world.db"
        build(source, args.bindings)
        with open_store(str(source)) as store:  # the session's own checkpoints, as a session opening writes
            Session(store, SESSION, create=False).close()
        program = forms(args.forms, args.bindings)
        best: dict[bool, float] = {True: float("inf"), False: float("inf")}
        written = 0
        with C.Profiler(args.profile):
            for _ in range(repeat):
                for inline in (True, False):
                    copy_store(source, tmp / "run.db")
                    seconds, n = run(tmp / "run.db", program, inline)
                    best[inline] = min(best[inline], seconds)
                    written = max(written, n) if inline else written
    with_ms, without_ms = best[True] * 1000 / args.forms, best[False] * 1000 / args.forms
    rows = [("bindings", args.bindings), ("forms (10 set!s each)", args.forms),
            ("checkpoints written (inline)", written),
            ("ms per form, inline checkpoints", with_ms), ("ms per form, no inline checkpoints", without_ms),
            ("overhead per form (ms)", with_ms - without_ms), ("ratio", with_ms / without_ms),
            ("ms per checkpoint (overhead / checkpoints)",
             (best[True] - best[False]) * 1000 / written if written else 0.0)]
    C.emit("checkpoint_write", rows, {
        "bindings": args.bindings, "forms": args.forms, "checkpoints": written, "ms_per_form_inline": with_ms,
        "ms_per_form_without": without_ms, "ratio": with_ms / without_ms, "repeat": repeat, "quick": args.quick,
    })


if __name__ == "__main__":
    main()
