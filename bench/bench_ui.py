"""``tape ui``: server time of the timeline's first page and of a slider step, and the first load's weight.

Targets: the first page of the timeline of a 1,000,000-event session in 300 ms or less of server
time, and no more than 2x the time for a 1,000-event session; a slider step to any event in 100 ms
or less (it reads through checkpoints); the timeline's first load (HTML, script, CSS, icon) at most
300 KB.

Server time is the request through the real ASGI application (Starlette's TestClient: routing, the
guard, the views, the HTML), on a SQLite store written as ``bench_state_at.py`` writes one (one
commit record per form: ``--bindings`` definitions, then ``set!`` forms of a hot set) with its
checkpoints rebuilt (K = 1,000).  The stores are cached under ``--cache`` (default
``/tmp/tapevm-bench-ui``) so a rerun skips the build; ``--rebuild`` writes them again.  A slider step
is ``/s/bench/state?at=N&prev=M`` to a random N from the previous stop M (the page's own links
and slider do the same): the state at N through checkpoints, the delta from M's (kept from the
previous request).  The first page is timed warm (the app keeps the session open while its head
stays) and cold (a fresh app, so the session is opened from its nearest checkpoint).

    .venv/bin/python bench/bench_ui.py
    .venv/bin/python bench/bench_ui.py --sizes 1000,100000 --samples 20
"""

from __future__ import annotations

import random
import statistics
import time
from pathlib import Path

import _common as C
from bench_state_at import SESSION, build


def ensure_store(cache: Path, events: int, bindings: int, rebuild: bool) -> Path:
    from tapevm.infrastructure.session.checkpoints import open_checkpoints
    from tapevm.infrastructure.stores.factory import open_store

    path = cache / f"ui-{events}-{bindings}.db"
    if path.exists() and not rebuild:
        return path
    cache.mkdir(parents=True, exist_ok=True)
    for old in cache.glob(f"ui-{events}-{bindings}.db*"):
        old.unlink()
    seconds = build(path, events, bindings, min(100, bindings))
    with open_store(str(path)) as store:
        open_checkpoints(store, SESSION, interval=1_000).rebuild()
    print(f"built {events:,} events in {seconds:.1f}s (+ checkpoints) at {path}")
    return path


def timed(client: object, url: str) -> tuple[float, int]:
    t0 = time.perf_counter()
    r = client.get(url)  # type: ignore[attr-defined]
    elapsed = time.perf_counter() - t0
    assert r.status_code == 200, (url, r.status_code, r.text[:300])
    return elapsed, len(r.content)


def measure(path: Path, samples: int) -> dict[str, float]:
    from starlette.testclient import TestClient

    import tapevm
    from tapevm.cli.ui.app import build_app

    with tapevm.open_store(str(path), create=False) as store:
        client = TestClient(build_app(store), base_url="http://127.0.0.1")
        head = store.sessions()[0].events
        timed(client, f"/s/{SESSION}")  # warm: imports, the first connection
        first = [timed(client, f"/s/{SESSION}")[0] for _ in range(samples)]
        cold = []
        for _ in range(min(samples, 5)):  # a fresh app: the session opened from its checkpoint, as after a start
            fresh = TestClient(build_app(store), base_url="http://127.0.0.1")
            cold.append(timed(fresh, f"/s/{SESSION}")[0])
        rng = random.Random(5)
        stops = [rng.randrange(1, head + 1) for _ in range(samples + 1)]
        timed(client, f"/s/{SESSION}/state?at={stops[0]}")
        # each stop names the previous one, as the page does: the state there is the one just shown
        steps = [timed(client, f"/s/{SESSION}/state?at={b}&prev={a}")[0] for a, b in zip(stops, stops[1:])]
        html = timed(client, f"/s/{SESSION}")[1]
        assets = sum(timed(client, f"/static/{name}")[1] for name in ("htmx.min.js", "ui.js", "ui.css", "favicon.svg"))
    return {"head": head, "first_page_ms": statistics.median(first) * 1000,
            "cold_first_page_ms": statistics.median(cold) * 1000,
            "first_page_p90_ms": sorted(first)[int(len(first) * 0.9) - 1] * 1000,
            "step_ms": statistics.median(steps) * 1000, "step_max_ms": max(steps) * 1000,
            "html_bytes": html, "page_weight_bytes": html + assets}


def measure_diff(cache: Path, bindings: int, samples: int, rebuild: bool) -> dict[str, float]:
    """The diff view of two sessions of ``bindings`` bindings (B a fork of A that changed 1%, added
    some: bench_diff.py's store), server time of the page and of its JSON, a fresh app each time."""
    from starlette.testclient import TestClient

    import tapevm
    from bench_diff import build as build_diff
    from tapevm.cli.ui.app import build_app

    path = cache / f"diff-{bindings}.db"
    if rebuild or not path.exists():
        for old in cache.glob(f"diff-{bindings}.db*"):
            old.unlink()
        cache.mkdir(parents=True, exist_ok=True)
        build_diff(path, bindings)
    page, api = [], []
    with tapevm.open_store(str(path), create=False) as store:
        for _ in range(samples):
            page.append(timed(TestClient(build_app(store), base_url="http://127.0.0.1"), "/diff?a=a&b=b")[0])
            api.append(timed(TestClient(build_app(store), base_url="http://127.0.0.1"), "/api/diff?a=a&b=b")[0])
    return {"diff_page_ms": statistics.median(page) * 1000, "diff_api_ms": statistics.median(api) * 1000}


def main() -> None:
    p = C.parser(__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1000,1000000", help="session sizes in events (the first is the small one)")
    p.add_argument("--bindings", type=int, default=1_000)
    p.add_argument("--samples", type=int, default=30)
    p.add_argument("--cache", default="/tmp/tapevm-bench-ui", help="where the built stores are kept between runs")
    p.add_argument("--rebuild", action="store_true", help="write the cached stores again")
    p.add_argument("--diff-bindings", type=int, default=100_000, help="bindings of each session the diff compares")
    args = p.parse_args()
    if args.quick:
        args.sizes, args.bindings, args.samples, args.diff_bindings = "1000,20000", 300, 5, 2_000
    sizes = [int(s) for s in args.sizes.split(",")]
    cache = Path(args.tmpdir) / "bench-ui" if args.tmpdir else Path(args.cache)  # (--tmpdir: the smoke test's)
    results = {n: measure(ensure_store(cache, n, args.bindings, args.rebuild), args.samples) for n in sizes}
    small, big = results[sizes[0]], results[sizes[-1]]
    ratio = big["first_page_ms"] / small["first_page_ms"]
    ok_first, ok_ratio = big["first_page_ms"] <= 300, ratio <= 2
    ok_step = max(r["step_ms"] for r in results.values()) <= 100
    ok_weight = big["page_weight_bytes"] <= 300_000
    diff = measure_diff(cache, args.diff_bindings, min(args.samples, 5), args.rebuild)
    ok_diff = max(diff.values()) <= 1_000
    rows: list[tuple[str, object]] = []
    for n, r in results.items():
        rows += [(f"{n:,} events: first page median ms", r["first_page_ms"]),
                 (f"{n:,} events: first page after a start (cold) median ms", r["cold_first_page_ms"]),
                 (f"{n:,} events: first page p90 ms",
                 r["first_page_p90_ms"]), (f"{n:,} events: slider step median ms", r["step_ms"]),
                 (f"{n:,} events: slider step max ms", r["step_max_ms"]), (f"{n:,} events: first load bytes",
                 r["page_weight_bytes"])]
    rows += [("big / small first page", ratio), ("target first page <= 300 ms", C.verdict(ok_first)),
             ("target <= 2x small", C.verdict(ok_ratio)), ("target step <= 100 ms", C.verdict(ok_step)),
             ("target first load <= 300 KB", C.verdict(ok_weight)),
             (f"diff of two {args.diff_bindings:,}-binding sessions: page median ms (fresh app)", diff["diff_page_ms"]),
             (f"diff of two {args.diff_bindings:,}-binding sessions: JSON median ms (fresh app)", diff["diff_api_ms"]),
             ("target diff <= 1 s", C.verdict(ok_diff))]
    C.emit("ui", rows, {"sizes": sizes, "bindings": args.bindings, "samples": args.samples,
                        "results": {str(k): v for k, v in results.items()}, "ratio": ratio, "pass_first": ok_first,
                        "pass_ratio": ok_ratio, "pass_step": ok_step, "pass_weight": ok_weight, "diff": diff, "pass_diff": ok_diff,
                        "quick": args.quick})


if __name__ == "__main__":
    main()
