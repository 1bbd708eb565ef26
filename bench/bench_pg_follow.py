"""Follower lag on PostgreSQL: ``bench_follow.py --backend postgres`` (LISTEN/NOTIFY wakes the follower).

    .venv/bin/python bench/bench_pg_follow.py            # TAPE_BENCH_POSTGRES or the test server
"""

from __future__ import annotations

import sys

import bench_follow

if __name__ == "__main__":
    sys.argv[1:1] = ["--backend", "postgres"]
    bench_follow.main()
