"""A classic recursive AST-walking Lisp (Norvig's lis.py style), used only as a speed baseline.

Environments are dicts with an ``outer`` link, ``eval`` recurses on the
Python stack, primitives are the ``operator`` module's C functions.  It
supports just enough (define, if, lambda, quote, arithmetic, comparison) to
run the benchmark programs the VM is compared against:

    .venv/bin/python bench/baseline_lisp.py          # fib(25) here vs tapevm
"""

from __future__ import annotations

import operator as op
import sys
import time
from typing import Any

Symbol = str
List = list


def tokenize(chars: str) -> list[str]:
    return chars.replace("(", " ( ").replace(")", " ) ").split()


def parse(program: str) -> Any:
    return read_from_tokens(tokenize(program))


def read_from_tokens(tokens: list[str]) -> Any:
    if not tokens:
        raise SyntaxError("unexpected EOF")
    token = tokens.pop(0)
    if token == "(":
        out = []
        while tokens[0] != ")":
            out.append(read_from_tokens(tokens))
        tokens.pop(0)
        return out
    if token == ")":
        raise SyntaxError("unexpected )")
    return atom(token)


def atom(token: str) -> Any:
    try:
        return int(token)
    except ValueError:
        try:
            return float(token)
        except ValueError:
            return Symbol(token)


class Env(dict):  # type: ignore[type-arg]
    def __init__(self, parms: tuple[str, ...] = (), args: tuple[Any, ...] = (), outer: Env | None = None) -> None:
        self.update(zip(parms, args))
        self.outer = outer

    def find(self, var: str) -> Env:
        return self if (var in self) else self.outer.find(var)  # type: ignore[union-attr]


def standard_env() -> Env:
    env = Env()
    env.update({
        "+": op.add, "-": op.sub, "*": op.mul, "/": op.truediv,
        ">": op.gt, "<": op.lt, ">=": op.ge, "<=": op.le, "=": op.eq,
        "not": op.not_, "car": lambda x: x[0], "cdr": lambda x: x[1:], "list": lambda *x: list(x),
    })
    return env


global_env = standard_env()


class Procedure:
    def __init__(self, parms: list[str], body: Any, env: Env) -> None:
        self.parms, self.body, self.env = parms, body, env

    def __call__(self, *args: Any) -> Any:
        return eval(self.body, Env(self.parms, args, self.env))


def eval(x: Any, env: Env = global_env) -> Any:
    if isinstance(x, Symbol):
        return env.find(x)[x]
    if not isinstance(x, List):
        return x
    op_, *args = x
    if op_ == "quote":
        return args[0]
    if op_ == "if":
        (test, conseq, alt) = args
        exp = conseq if eval(test, env) else alt
        return eval(exp, env)
    if op_ == "define":
        (symbol, exp) = args
        env[symbol] = eval(exp, env)
        return None
    if op_ == "lambda":
        (parms, body) = args
        return Procedure(parms, body, env)
    proc = eval(op_, env)
    vals = [eval(arg, env) for arg in args]
    return proc(*vals)


FIB = "(define fib (lambda (n) (if (< n 2) n (+ (fib (- n 1)) (fib (- n 2))))))"


def time_baseline(n: int = 25) -> tuple[float, Any]:
    sys.setrecursionlimit(100_000)
    env = standard_env()
    eval(parse(FIB), env)
    start = time.perf_counter()
    result = eval(parse(f"(fib {n})"), env)
    return time.perf_counter() - start, result


def time_tapevm(n: int = 25) -> tuple[float, Any]:
    from tapevm.vm.interpreter import Interpreter
    from tapevm.vm.world import World

    interp = Interpreter(World())
    for form, *_ in interp.read_forms("(define (fib n) (if (< n 2) n (+ (fib (- n 1)) (fib (- n 2)))))"):
        interp.eval_form(form)
    (form, *_), = interp.read_forms(f"(fib {n})")
    start = time.perf_counter()
    result = interp.eval_form(form)
    return time.perf_counter() - start, result


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 25
    base = min(time_baseline(n)[0] for _ in range(3))
    vm = min(time_tapevm(n)[0] for _ in range(3))
    print(f"fib({n}): baseline lis.py {base:.3f}s, tapevm {vm:.3f}s, ratio tapevm/baseline {vm / base:.2f}")


if __name__ == "__main__":
    main()
