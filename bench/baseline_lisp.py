"""Peter Norvig's lis.py (https://norvig.com/lispy.html), written the way its author wrote it: the speed baseline.

The anchor is the classic evaluator as published, with nothing added and
nothing taken away: ``Env`` is a ``dict`` with an ``outer`` link and
``find``; ``eval`` is one chain of ``if``/``elif`` over the form's head,
recursing on the Python stack; ``Procedure`` calls ``eval`` on its body in a
new ``Env``; ``standard_env`` is ``math`` plus the ``operator`` module's C
functions and the author's list of procedures.  Only the REPL is left out
(the benchmarks do not read from a terminal), and the type hints are ours.

**Timing it fairly.**  CPython 3.11 keeps frames on a data stack allocated in
16 KiB chunks, and frees a chunk as soon as the recursion leaves it; a
recursion that keeps crossing a chunk boundary pays an ``mmap``, page faults
and a ``munmap`` per crossing.  Where the boundaries fall depends on how deep
the caller's stack already is, so the same ``(fib 25)`` took 1.4-1.75 s of
user CPU plus 0.4-1.1 s in the kernel (87,000-230,000 page faults) depending
only on the depth it was called at.  That is the runtime's accident, not the
evaluator's cost, so the timed call runs inside :func:`roomy_stack`, a frame
of ~8,300 slots: CPython gives a frame that large a chunk of its own of
128 KiB, and the rest of that chunk (~64 KiB) holds the whole recursion, which
then never crosses a boundary (measured: 23 page faults, 0.01 s in the kernel,
1.2 s of user CPU).  The baseline is the anchor at its best, never its unlucky
case.  tapevm's machine keeps its continuation on an explicit stack and does
not depend on the depth it is called at.

    .venv/bin/python bench/baseline_lisp.py          # (fib 25) here vs tapevm
"""

from __future__ import annotations

import math
import operator as op
import sys
import time
from collections.abc import Callable
from typing import Any

################ Types

Symbol = str           # a Lisp symbol is a Python str
List = list            # a Lisp list is a Python list
Number = (int, float)  # a Lisp number is a Python int or float

################ Parsing: parse, tokenize and read_from_tokens


def parse(program: str) -> Any:
    "Read a Scheme expression from a string."
    return read_from_tokens(tokenize(program))


def tokenize(s: str) -> list[str]:
    "Convert a string into a list of tokens."
    return s.replace("(", " ( ").replace(")", " ) ").split()


def read_from_tokens(tokens: list[str]) -> Any:
    "Read an expression from a sequence of tokens."
    if len(tokens) == 0:
        raise SyntaxError("unexpected EOF while reading")
    token = tokens.pop(0)
    if token == "(":
        L = []
        while tokens[0] != ")":
            L.append(read_from_tokens(tokens))
        tokens.pop(0)  # the ")"
        return L
    elif token == ")":
        raise SyntaxError("unexpected )")
    else:
        return atom(token)


def atom(token: str) -> Any:
    "Numbers become numbers; every other token is a symbol."
    try:
        return int(token)
    except ValueError:
        try:
            return float(token)
        except ValueError:
            return Symbol(token)

################ Environments


def standard_env() -> Env:
    "An environment with some Scheme standard procedures."
    env = Env()
    env.update(vars(math))  # sin, cos, sqrt, pi, ...
    env.update({
        "+": op.add, "-": op.sub, "*": op.mul, "/": op.truediv,
        ">": op.gt, "<": op.lt, ">=": op.ge, "<=": op.le, "=": op.eq,
        "abs": abs,
        "append": op.add,
        "apply": lambda proc, args: proc(*args),
        "begin": lambda *x: x[-1],
        "car": lambda x: x[0],
        "cdr": lambda x: x[1:],
        "cons": lambda x, y: [x] + y,
        "eq?": op.is_,
        "equal?": op.eq,
        "length": len,
        "list": lambda *x: list(x),
        "list?": lambda x: isinstance(x, list),
        "map": map,
        "max": max,
        "min": min,
        "not": op.not_,
        "null?": lambda x: x == [],
        "number?": lambda x: isinstance(x, Number),
        "procedure?": callable,
        "round": round,
        "symbol?": lambda x: isinstance(x, Symbol),
    })
    return env


class Env(dict):  # type: ignore[type-arg]
    "An environment: a dict of {'var': val} pairs, with an outer Env."

    def __init__(self, parms: Any = (), args: Any = (), outer: Env | None = None) -> None:
        self.update(zip(parms, args))
        self.outer = outer

    def find(self, var: str) -> Env:
        "Find the innermost Env where var appears."
        return self if (var in self) else self.outer.find(var)  # type: ignore[union-attr]


global_env = standard_env()

################ Procedures


class Procedure:
    "A user-defined Scheme procedure."

    def __init__(self, parms: Any, body: Any, env: Env) -> None:
        self.parms, self.body, self.env = parms, body, env

    def __call__(self, *args: Any) -> Any:
        return eval(self.body, Env(self.parms, args, self.env))

################ eval


def eval(x: Any, env: Env = global_env) -> Any:
    "Evaluate an expression in an environment."
    if isinstance(x, Symbol):      # variable reference
        return env.find(x)[x]
    elif not isinstance(x, List):  # constant literal
        return x
    elif x[0] == "quote":          # (quote exp)
        (_, exp) = x
        return exp
    elif x[0] == "if":             # (if test conseq alt)
        (_, test, conseq, alt) = x
        exp = (conseq if eval(test, env) else alt)
        return eval(exp, env)
    elif x[0] == "define":         # (define var exp)
        (_, var, exp) = x
        env[var] = eval(exp, env)
    elif x[0] == "set!":           # (set! var exp)
        (_, var, exp) = x
        env.find(var)[var] = eval(exp, env)
    elif x[0] == "lambda":         # (lambda (var...) body)
        (_, parms, body) = x
        return Procedure(parms, body, env)
    else:                          # (proc arg...)
        proc = eval(x[0], env)
        args = [eval(exp, env) for exp in x[1:]]
        return proc(*args)
    return None

################ The benchmark programs: each in lis.py's dialect and in tapevm's


# name -> (definitions in lis.py, the same in tapevm, the call timed; {n} is the size argument)
PROGRAMS: dict[str, tuple[list[str], list[str], str]] = {
    "fib": (
        ["(define fib (lambda (n) (if (< n 2) n (+ (fib (- n 1)) (fib (- n 2))))))"],
        ["(define (fib n) (if (< n 2) n (+ (fib (- n 1)) (fib (- n 2)))))"],
        "(fib {n})",
    ),
}
SIZES = {"fib": 25}


# A frame of ~8,300 slots: CPython 3.11 allocates its data stack chunk at the next power of two
# above a frame's size (128 KiB here), so frames called from it share that chunk's free ~64 KiB.
_ROOMY_SLOTS = 8_300
_roomy: dict[str, Any] = {}
exec(  # noqa: S102 - the locals only have to exist (unreachable after the return) to size the frame
    "def roomy_stack(fn):\n    return fn()\n    " + "; ".join(f"v{i} = 0" for i in range(_ROOMY_SLOTS)) + "\n",
    _roomy,
)
roomy_stack: Callable[[Callable[[], Any]], Any] = _roomy["roomy_stack"]


def time_baseline(n: int = SIZES["fib"], program: str = "fib") -> tuple[float, float, Any]:
    """Wall and CPU seconds of lis.py's ``program`` at ``n`` (inside :func:`roomy_stack`), and its result.

    CPU time (``time.process_time``: user + kernel) is what a loaded machine
    disturbs least: the wall time also counts the waits for a core."""
    sys.setrecursionlimit(100_000)
    defs, _, call = PROGRAMS[program]
    env = standard_env()
    for d in defs:
        eval(parse(d), env)
    x = parse(call.format(n=n))

    def run() -> tuple[float, float, Any]:
        start, cpu = time.perf_counter(), time.process_time()
        result = eval(x, env)
        return time.perf_counter() - start, time.process_time() - cpu, result

    return roomy_stack(run)  # type: ignore[no-any-return]


def time_tapevm(n: int = SIZES["fib"], program: str = "fib") -> tuple[float, float, Any]:
    """Wall and CPU seconds of tapevm's ``program`` at ``n`` (evaluation only), and its result."""
    from tapevm.vm.interpreter import Interpreter
    from tapevm.vm.world import World

    _, defs, call = PROGRAMS[program]
    interp = Interpreter(World())
    for d in defs:
        for form, *_ in interp.read_forms(d):
            interp.eval_form(form)
    (form, *_), = interp.read_forms(call.format(n=n))
    start, cpu = time.perf_counter(), time.process_time()
    result = interp.eval_form(form)
    return time.perf_counter() - start, time.process_time() - cpu, result


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else SIZES["fib"]
    base = min(time_baseline(n)[0] for _ in range(3))
    vm = min(time_tapevm(n)[0] for _ in range(3))
    print(f"fib({n}): lis.py {base:.3f}s, tapevm {vm:.3f}s, ratio tapevm/lis.py {vm / base:.2f}")


if __name__ == "__main__":
    main()
