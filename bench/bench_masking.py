"""Masking secrets: what the one masking step costs an effect-heavy session.

``--asks`` calls of ``(ask ...)`` answered offline with the same 10 KiB of prose, in one
form (each effect is its own commit, ``durability="fast"``), three ways, alternating,
median of ``--repeat`` rounds: no secret registered (the baseline: masking is skipped),
three registered of which no answer holds any (the usual case: a substring search per
secret and string), and three of which every answer holds one (the answer is rewritten).
Then the masking call alone on the 10 KiB answer.
"""

from __future__ import annotations

import random
import statistics
import string
import time
import timeit
from pathlib import Path

import _common as C

from tapevm.domain.secrets import Secrets
from tapevm.infrastructure.session.llm_providers import ScriptedLLM
from tapevm.infrastructure.session.service import open_session

SECRETS = [("TAPE_LLM_API_KEY", "sk-" + "a" * 45), ("DB_PASSWORD", "pw-1234567890"), ("GITHUB_TOKEN", "ghp_" + "b" * 36)]
MODES = ("no secret", "3 secrets, none in the answers", "3 secrets, one in every answer")


def prose(size: int, seed: int = 7) -> str:
    rng = random.Random(seed)
    words = (("".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(2, 9)))) for _ in range(size))
    return " ".join(words)[:size]


def session_seconds(folder: Path, mode: str, asks: int, answer: str) -> float:
    if mode == MODES[2]:
        answer = answer[:len(answer) // 2] + SECRETS[0][1] + answer[len(answer) // 2:]
    with open_session("m", str(folder / f"{mode[:1]}{time.monotonic_ns()}.db"), durability="fast") as s:
        s.effects.providers.llm = ScriptedLLM(rule=lambda p, o: answer)
        if mode != MODES[0]:
            for name, value in SECRETS:
                s.secret(value, name)
        s.run('(define (loop n) (if (= n 0) 0 (begin (ask (str "q" n)) (loop (- n 1)))))')
        start = time.perf_counter()
        assert s.run(f"(loop {asks})")[0].ok
        return time.perf_counter() - start


def main() -> None:
    p = C.parser(__doc__.splitlines()[0])
    p.add_argument("--asks", type=int, default=1000)
    args = p.parse_args()
    asks, repeat = (50, 1) if args.quick else (args.asks, args.repeat or 5)
    answer = prose(10 * 1024)
    times: dict[str, list[float]] = {m: [] for m in MODES}
    with C.workdir(args) as folder:
        for _ in range(repeat):
            for mode in MODES:
                times[mode].append(session_seconds(folder, mode, asks, answer))
    base = statistics.median(times[MODES[0]])
    secrets = Secrets(SECRETS)
    holding = answer[:5000] + SECRETS[0][1] + answer[5000:]
    per_call = {label: min(timeit.repeat(lambda t=text: secrets.mask(t), number=2000, repeat=3)) / 2000
                for label, text in (("clean", answer), ("holding", holding))}
    rows: list[tuple[str, object]] = [(f"{m} (ms, median)", statistics.median(times[m]) * 1000) for m in MODES]
    rows += [(f"{m} / no secret", statistics.median(times[m]) / base) for m in MODES[1:]]
    rows += [("mask 10 KiB, no secret in it (us)", per_call["clean"] * 1e6),
             ("mask 10 KiB, one secret in it (us)", per_call["holding"] * 1e6)]
    C.emit("masking", rows, {"asks": asks, "repeat": repeat,
                             "ms": {m: statistics.median(times[m]) * 1000 for m in MODES},
                             "ratio": {m: statistics.median(times[m]) / base for m in MODES},
                             "mask_us": {k: v * 1e6 for k, v in per_call.items()}})


if __name__ == "__main__":
    main()
