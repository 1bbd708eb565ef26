"""Durable execution: what suspending a form at ``(await ...)`` and resuming it elsewhere costs.

Three measures, each against a baseline taken in the same run (best of ``--repeat``):

1. **Round trip through the CLI.**  ``tape eval`` of a form that awaits, then ``tape answer`` in a
   NEW process (which decodes the stored continuation and finishes the form), against one
   ``tape eval`` of the same form with the answer written in place of the await.  Target <= 3x.
2. **Resume does not redo work.**  In-process ``Session.answer`` of a form that first computes for
   a while (a 20,000-call recursion and ``--effects`` recorded tool calls) and then awaits, against
   ``Session.answer`` of a form that awaits at once.  Target <= 2x.
3. **Capture size and sharing.**  The bytes of the content one capture of a 10,000-frame non-tail
   recursion stores (``ContentStored`` of its suspension), and the bytes 1,000 further captures of
   that stack add when only its top changes (encoded with the same content table, as a session's
   captures are): target 1,000 captures <= 3x one capture.  Each capture of 10,000 frames takes about
   2 s of encoding (every frame is hashed again; only new nodes are stored), so ``--captures`` (default
   30) are measured and the bytes of 1,000 are extrapolated from the measured per-capture increment,
   which is constant (the same top frame changes each time): the figure says so.

    .venv/bin/python bench/bench_await.py [--repeat 3] [--effects 500] [--captures 30]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from tapevm import open_session
from tapevm.domain.content import ContentTable
from tapevm.domain.errors import FormPending
from tapevm.domain.events import ContentStored, FormSuspended
from tapevm.vm.continuation_codec import continuation_value
from tapevm.vm.interpreter import Interpreter
from tapevm.vm.suspension import Suspend
from tapevm.vm.value_codec import ValueEncoder
from tapevm.vm.world import World

TAPE = shutil.which("tape", path=str(Path(sys.executable).parent)) or "tape"
DEFINE = "(define (work n) (if (= n 0) 0 (+ 1 (work (- n 1)))))"
FORM = "(define r (+ (work 2000) {x}))"


def _tape(*args: str) -> float:
    t = time.perf_counter()
    r = subprocess.run([TAPE, *args], capture_output=True, text=True, check=False)
    if r.returncode not in (0, 3):
        raise SystemExit(f"tape {' '.join(args)} failed: {r.stderr}")
    return time.perf_counter() - t


def cli_round_trip(tmp: Path, repeat: int) -> tuple[float, float]:
    """(eval that awaits + answer in another process, plain eval): best of ``repeat`` each."""
    awaited, plain = [], []
    for i in range(repeat):
        store = str(tmp / f"cli{i}.db")
        _tape("--store", store, "eval", "-i", "a", DEFINE)
        _tape("--store", store, "eval", "-i", "p", DEFINE)
        awaited.append(_tape("--store", store, "eval", "-i", "a", FORM.format(x="(await 'go)"))
                       + _tape("--store", store, "answer", "-i", "a", "go", "1"))
        plain.append(_tape("--store", store, "eval", "-i", "p", FORM.format(x="1")))
    return min(awaited), min(plain)


def _answer_time(store: str, form: str, effects: int) -> float:
    with open_session("w", store) as s:
        s.tool("inc")(lambda n: n + 1)
        s.eval(DEFINE)
        s.eval("(define (calls n) (if (= n 0) 0 (+ (tool 'inc 0) (calls (- n 1)))))")
        try:
            s.eval(form.format(effects=effects))
        except FormPending:
            pass
    with open_session("w", store) as s:  # a fresh VM, as another process would have
        s.tool("inc")(lambda n: n + 1)
        t = time.perf_counter()
        assert s.answer("go", 1).ok
        return time.perf_counter() - t


def resume_after_work(tmp: Path, repeat: int, effects: int) -> tuple[float, float]:
    """(answer of a form that worked first, answer of a form that awaited at once): best of ``repeat``."""
    worked = "(define r (let ((a (work 20000)) (b (calls {effects}))) (+ a b (await 'go))))"
    at_once = "(define r (+ 1 (await 'go)))"
    late = [_answer_time(str(tmp / f"w{i}.db"), worked, effects) for i in range(repeat)]
    early = [_answer_time(str(tmp / f"e{i}.db"), at_once, effects) for i in range(repeat)]
    return min(late), min(early)


def _content_bytes(nodes: list[list[Any]]) -> int:
    return sum(len(orjson.dumps(n)) for n in nodes)


def capture_sizes(tmp: Path, depth: int, captures: int) -> tuple[int, int]:
    """(bytes one capture of a ``depth``-frame recursion stores in a session, bytes ``captures`` more add)."""
    store = str(tmp / "capture.db")
    with open_session("w", store) as s:
        s.eval("(define (down n) (if (= n 0) (await 'bottom) (+ 1 (down (- n 1)))))")
        try:
            s.eval(f"(define r (down {depth}))")
        except FormPending:
            pass
        events = [r.event for r in s.events()]
    i = max(n for n, e in enumerate(events) if type(e) is FormSuspended)
    one = _content_bytes(events[i - 1].nodes) if type(events[i - 1]) is ContentStored else 0

    # The same stack in a bare VM whose port raises Suspend: captured again and again, its top changing.
    class Suspending:
        def perform(self, kind: str, args: tuple[Any, ...]) -> Any:
            raise Suspend(*args)

    interp = Interpreter(World(), Suspending())
    interp.eval_string("(define (down n) (if (= n 0) (await 'bottom) (+ 1 (down (- n 1)))))")
    try:
        interp.eval_string(f"(down {depth})")
        raise SystemExit("the recursion did not suspend")
    except Suspend as suspend:
        stack = suspend.stack
    assert stack is not None and interp.unit is not None
    encoder = ValueEncoder(ContentTable())
    continuation_value(stack, interp.unit, [], 0, 0, [], encoder.encode)
    first = _content_bytes(encoder.take_new_nodes())
    encoder.commit()
    more = 0
    top = stack[-1]
    for k in range(captures):
        stack[-1] = (*top[:4], [k], *top[5:]) if top[0] == 0 else top  # the top frame's values change
        continuation_value(stack, interp.unit, [], k, k, [], encoder.encode)
        more += _content_bytes(encoder.take_new_nodes())
        encoder.commit()
    print(f"  (bare-VM capture: {first:,} B, the session's: {one:,} B)")
    return one, more


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--effects", type=int, default=500)
    parser.add_argument("--depth", type=int, default=10_000)
    parser.add_argument("--captures", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        awaited, plain = cli_round_trip(tmp, args.repeat)
        print(f"1. tape eval (await) + tape answer (new process): {awaited * 1000:.0f} ms; plain tape eval: "
              f"{plain * 1000:.0f} ms: {awaited / plain:.2f}x (target <= 3x)")
        late, early = resume_after_work(tmp, args.repeat, args.effects)
        print(f"2. answer after 20,000 calls and {args.effects} effects: {late * 1000:.1f} ms; answer of an "
              f"immediate await: {early * 1000:.1f} ms: {late / early:.2f}x (target <= 2x)")
        one, more = capture_sizes(tmp, args.depth, args.captures)
        per = more / args.captures
        print(f"3. one capture of a {args.depth:,}-frame stack: {one:,} B; {args.captures:,} more captures "
              f"(top changing) add {more:,} B ({per:,.0f} B each): 1,000 captures = {(one + 999 * per) / one:.2f}x "
              f"one (extrapolated from the {args.captures} measured; target <= 3x)")


if __name__ == "__main__":
    main()
