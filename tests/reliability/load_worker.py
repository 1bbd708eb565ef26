"""A load-test writer process (run by test_load.py as ``python load_worker.py MODE STORE SESSION N TAG``).

own      N forms ``(define TAG_i i)`` into SESSION, which only this process writes
contend  the same, into a SESSION other processes write too, with conflict retries

Prints one JSON line: {"committed": forms committed, "conflicts": ConflictErrors met}.
Any other error ends the process with a traceback (the test then fails).
"""

from __future__ import annotations

import json
import sys

from tapevm.infrastructure.session.retry import run_retrying
from tapevm.infrastructure.session.service import open_session


def main() -> None:
    mode, store, session_id, n, tag = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
    s = open_session(session_id, store, lease=False)  # cooperating writers: conflicts are retried
    committed = conflicts = 0
    try:
        for i in range(n):
            source = f"(define {tag}_{i} {i})"
            if mode == "own":
                (outcome,) = s.run(source)
            else:
                def count(_: int) -> None:
                    nonlocal conflicts
                    conflicts += 1

                s, (outcome,) = run_retrying(s, source, attempts=200, on_conflict=count)
            assert outcome.ok, outcome
            committed += 1
    finally:
        s.close()
    print(json.dumps({"committed": committed, "conflicts": conflicts}))


if __name__ == "__main__":
    main()
