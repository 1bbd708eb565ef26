"""Shared helpers of the benchmarks: flags, temp stores, timing, result lines.

Every benchmark prints aligned text for people and exactly one line that is a
JSON object with a ``"bench"`` key, which ``run_all.py`` collects (and from
which ``RESULTS.md`` can be regenerated).  Store files live in a fresh temp
dir that is removed at exit, never in the repository.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import platform
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Self

import structlog

# Quiet the session's debug logging (structlog prints to stdout by default).
structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

JSON_PREFIX = '{"bench"'


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run that checks the benchmark works")
    p.add_argument("--repeat", type=int, default=None, help="best-of-N repetitions of the cheap measurements")
    p.add_argument("--tmpdir", default=None, help="directory for the store files (default: a fresh temp dir)")
    p.add_argument("--keep", action="store_true", help="keep the store files (prints where they are)")
    p.add_argument("--profile", default=None, metavar="FILE",
                   help="cProfile the tapevm side and write the stats to FILE (also prints the top entries)")
    return p


@contextlib.contextmanager
def workdir(args: argparse.Namespace) -> Iterator[Path]:
    base = args.tmpdir or None
    path = Path(tempfile.mkdtemp(prefix="tapevm-bench-", dir=base))
    try:
        yield path
    finally:
        if args.keep:
            print(f"store files kept in {path}")
        else:
            shutil.rmtree(path, ignore_errors=True)


def best_of(n: int, fn: Callable[[], float]) -> tuple[float, list[float]]:
    """Run ``fn`` (which returns seconds) ``n`` times; the best and all times."""
    times = [fn() for _ in range(max(1, n))]
    return min(times), times


def machine() -> dict[str, Any]:
    cpu = platform.processor() or ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "cpu": cpu,
        "cores": os.cpu_count(),
        "platform": platform.platform(),
    }


def emit(name: str, rows: list[tuple[str, Any]], result: dict[str, Any]) -> None:
    """Print ``rows`` as aligned text, then the JSON line."""
    width = max((len(k) for k, _ in rows), default=0)
    print(f"== {name} ==")
    for key, value in rows:
        print(f"  {key:<{width}}  {fmt(value)}")
    line = {"bench": name, **result, "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": machine()}
    print(json.dumps(line, sort_keys=False, default=str))
    sys.stdout.flush()


def fmt(value: Any) -> str:
    if isinstance(value, float):
        if value == 0:
            return "0"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.3g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def sqlite_file_bytes(path: Path) -> int:
    """The database file plus its WAL and shared-memory files."""
    total = 0
    for suffix in ("", "-wal", "-shm"):
        p = Path(str(path) + suffix)
        if p.exists():
            total += p.stat().st_size
    return total


def stored_bytes(path: Path, session: str) -> dict[str, Any]:
    """What one session's rows take in a SQLite store: events, the ``state`` column, whole rows, by topic."""
    import sqlite3

    conn = sqlite3.connect(str(path))
    try:
        n, state, row = conn.execute(
            "SELECT COUNT(*), SUM(LENGTH(state)), SUM(LENGTH(state) + LENGTH(CAST(topic AS BLOB)) "
            "+ LENGTH(CAST(originator_id AS BLOB)) + 8) FROM stored_events WHERE originator_id=?",
            (session,),
        ).fetchone()
        by_type = {t: (c, b) for t, c, b in conn.execute(
            "SELECT topic, COUNT(*), SUM(LENGTH(state)) FROM stored_events WHERE originator_id=? GROUP BY topic",
            (session,))}
    finally:
        conn.close()
    return {"events": n, "state": state, "row": row, "by_type": by_type}


class Profiler:
    """Optional cProfile around the tapevm side of a benchmark."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self._prof: Any = None

    def __enter__(self) -> Self:
        if self.path:
            import cProfile

            self._prof = cProfile.Profile()
            self._prof.enable()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._prof is None:
            return
        self._prof.disable()
        import io
        import pstats

        self._prof.dump_stats(self.path)
        out = io.StringIO()
        stats = pstats.Stats(self._prof, stream=out)
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumulative").print_stats(25)
        print(out.getvalue())


# The start of a script a benchmark runs in a fresh process to time an open: quiet logs, the API
# imported (so the clock starts after imports), and ``rss_mb()``: the current resident set (VmRSS), in
# MB (``ru_maxrss`` is a peak, and imports already set it).
PROBE_HEADER = r"""
import json, random, resource, sys, time
import logging, structlog
structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
from tapevm import open_session
import tapevm.infrastructure.free_functions
def rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0
"""
