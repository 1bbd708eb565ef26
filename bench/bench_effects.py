"""Effects: stored bytes of an effect-heavy session vs the raw payload bytes.

Target (issue 5): a session of 10,000 ``ask`` calls with 10 KB answers, many
repeated, stores at most 30% of the raw payload bytes.

The offline provider answers each prompt with one of ``--distinct`` 10 KB
texts (chosen by the prompt; varied words, so each text alone compresses like
prose, not like a run of one character).  Raw payload = the answers' bytes
as the program receives them.  Stored = every row's ``state`` column (the
whole log: forms, effect requests, results, the TEXT nodes) and, as a second
figure, the SQLite file after VACUUM.
"""

from __future__ import annotations

import random
import sqlite3
import time

import _common as C

from tapevm.infrastructure.session.llm_providers import ScriptedLLM
from tapevm.infrastructure.session.service import open_session

WORDS = [
    "agent", "tool", "call", "result", "search", "memory", "plan", "step", "observe", "reflect", "answer",
    "question", "context", "token", "model", "prompt", "reply", "error", "retry", "budget", "latency", "cache",
    "index", "vector", "document", "summary",
]


def answers(distinct: int, size: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    out = []
    for k in range(distinct):
        words: list[str] = []
        n = 0
        while n < size:
            w = rng.choice(WORDS) + (str(rng.randrange(1000)) if rng.random() < 0.2 else "")
            words.append(w)
            n += len(w) + 1
        out.append(f"answer {k}: " + " ".join(words)[: size - 12])
    return out


def main() -> None:
    p = C.parser(__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=10_000)
    p.add_argument("--distinct", type=int, default=100, help="distinct answers (the rest repeat)")
    p.add_argument("--answer-bytes", type=int, default=10_240)
    args = p.parse_args()
    calls = 300 if args.quick else args.calls
    texts = answers(min(args.distinct, calls), args.answer_bytes)
    raw = 0
    with C.workdir(args) as d:
        path = d / "effects.db"
        with open_session("fx", str(path), durability="fast") as s:
            def answer(prompt: str, options: object) -> str:
                return texts[int(prompt.split()[-1]) % len(texts)]

            s.effects.providers.llm = ScriptedLLM(rule=answer)
            start = time.perf_counter()
            batch = 50
            for i in range(0, calls, batch):
                s.run(" ".join(f'(define a{j % 10} (ask "question {j * 7919 % 1_000_003}" :model "m"))'
                               for j in range(i, min(i + batch, calls))))
            run_s = time.perf_counter() - start
            head = s.head
        conn = sqlite3.connect(str(path))
        stored = conn.execute("SELECT SUM(LENGTH(state)) FROM stored_events").fetchone()[0]
        conn.execute("VACUUM")
        conn.close()
        file_bytes = C.sqlite_file_bytes(path)
    for j in range(calls):
        raw += len(texts[(j * 7919 % 1_000_003) % len(texts)].encode())
    ratio = stored / raw
    C.emit("effects", [
        ("ask calls", calls),
        ("distinct answers", len(texts)),
        ("events", head),
        ("run", f"{run_s:.2f} s"),
        ("raw payload bytes", raw),
        ("stored bytes (state column, whole log)", stored),
        ("SQLite file after VACUUM", file_bytes),
        ("stored / raw", f"{ratio:.3%} (target <= 30%: {C.verdict(ratio <= 0.30)})"),
        ("file / raw", f"{file_bytes / raw:.3%}"),
    ], {"quick": args.quick, "calls": calls, "distinct": len(texts), "events": head, "raw_bytes": raw,
        "stored_bytes": stored, "file_bytes": file_bytes, "ratio": ratio, "file_ratio": file_bytes / raw,
        "run_s": run_s, "pass": ratio <= 0.30})


if __name__ == "__main__":
    main()
