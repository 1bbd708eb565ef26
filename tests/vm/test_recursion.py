"""Lisp recursion never uses Python recursion: proper tail calls and deep non-tail recursion."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import pytest

from tapevm.vm.interpreter import Interpreter
from tapevm.vm.values import Primitive, Symbol
from tapevm.vm.world import World


def _with_stack_probe(interp: Interpreter) -> list[int]:
    """Define (probe) which records the Python stack depth each time it is called."""
    depths: list[int] = []

    def probe() -> Any:
        frame, depth = sys._getframe(), 0
        while frame is not None:
            depth += 1
            frame = frame.f_back  # type: ignore[assignment]
        depths.append(depth)
        return 0

    interp.builtins["probe"] = Primitive("probe", probe, 0, 0)
    return depths


def test_tail_loop_of_a_million_iterations_runs_in_constant_python_stack() -> None:
    interp = Interpreter(World())
    depths = _with_stack_probe(interp)
    interp.eval_string("(define (loop i acc) (if (= i 0) (begin (probe) acc) (loop (- i 1) (+ acc 1))))")
    assert interp.eval_string("(loop 1 0)") == 1
    assert interp.eval_string("(loop 1000000 0)") == 1_000_000
    assert depths[0] == depths[1]  # the millionth call runs at the depth of the first


def test_non_tail_recursion_100000_deep(run: Callable[[str], Any]) -> None:
    assert run("""
        (define (count n) (if (= n 0) 0 (+ 1 (count (- n 1)))))
        (count 100000)
    """) == 100_000


def test_non_tail_recursion_builds_deep_data(run: Callable[[str], Any]) -> None:
    assert run("""
        (define (build n) (if (= n 0) nil (cons n (build (- n 1)))))
        (length (build 100000))
    """) == 100_000


@pytest.mark.parametrize("source, expected", [
    # mutual tail recursion
    ("""(define (ev? n) (if (= n 0) #t (od? (- n 1))))
        (define (od? n) (if (= n 0) #f (ev? (- n 1))))
        (ev? 100001)""", False),
    # named let
    ("(let loop ((i 0)) (if (< i 100000) (loop (+ i 1)) i))", 100_000),
    # tail calls through cond, when, and, or, let, let*, begin
    ("""(define (f n) (cond ((= n 0) 'done) (else (let ((m (- n 1))) (let* ((k m)) (begin (f k)))))))
        (f 50000)""", "done"),
    ("(define (g n) (and #t (or #f (if (= n 0) 'ok (g (- n 1)))))) (g 50000)", "ok"),
    ("(define (h n) (when #t (unless #f (if (= n 0) 'ok (h (- n 1)))))) (h 50000)", "ok"),
    # apply is a tail call
    ("(define (a n) (if (= n 0) 'ok (apply a (list (- n 1))))) (a 50000)", "ok"),
    # try body is not in tail position, but the handler is
    ("(define (t n) (if (= n 0) 'ok (try (raise \"x\") (catch e (t (- n 1)))))) (t 20000)", "ok"),
    # deep recursion through map (non-tail, through a primitive)
    ("""(define (depth t) (if (pair? t) (+ 1 (apply max (map depth t))) 0))
        (define (nest n acc) (if (= n 0) acc (nest (- n 1) (list acc))))
        (depth (nest 30000 1))""", 30_000),
    # deep recursion through reduce, filter, sort with a closure comparator
    ("""(define (sum-tree t) (if (pair? t) (reduce (lambda (acc x) (+ acc (sum-tree x))) 0 t) t))
        (define (nest n acc) (if (= n 0) acc (nest (- n 1) (list acc 1))))
        (sum-tree (nest 20000 0))""", 20_000),
    ("(define a (atom 0)) (define (bump n) (if (= n 0) @a (begin (swap! a (lambda (x) (+ x 1))) (bump (- n 1))))) (bump 30000)", 30_000),
    ("(length (sort (range 5000) (lambda (a b) (> a b))))", 5000),
    ("(define (fib n) (if (< n 2) n (+ (fib (- n 1)) (fib (- n 2))))) (fib 20)", 6765),
])
def test_recursion(run: Callable[[str], Any], source: str, expected: Any) -> None:
    result = run(source)
    if isinstance(expected, str):
        assert result.name == expected
    else:
        assert result == expected


def test_deep_recursion_error_unwinds_cleanly(run: Callable[[str], Any]) -> None:
    assert run("""
        (define (down n) (if (= n 0) (car 5) (+ 1 (down (- n 1)))))
        (try (down 100000) (catch e (error-kind e)))
    """).name == "type-error"


def test_deep_data_prints_and_compares(run: Callable[[str], Any]) -> None:
    assert run("""
        (define (nest n acc) (if (= n 0) acc (nest (- n 1) (list acc))))
        (define a (nest 100000 1))
        (define b (nest 100000 1))
        (list (equal? a b) (string-length (pr-str a)))
    """) == run("(list #t 200001)")


def test_sorted_result_of_merge_sort_is_stable_and_correct(run: Callable[[str], Any]) -> None:
    result = run("""
        (define pairs (map (lambda (i) (list (mod (* i 7919) 13) i)) (range 500)))
        (define sorted (sort pairs (lambda (a b) (< (car a) (car b)))))
        (list (map car sorted) sorted)
    """)
    keys, pairs = list(result.car), list(result.cdr.car)
    assert keys == sorted(keys)
    expected = sorted(((i * 7919) % 13, i) for i in range(500))  # Python's sort is stable too
    assert [(p.car, p.cdr.car) for p in pairs] == expected


def test_deeply_nested_code_compiles(run: Callable[[str], Any]) -> None:
    depth = 3000
    assert run("(+ 1 " * depth + "0" + ")" * depth) == depth
    assert run("(define (nest n acc) (if (= n 0) acc (nest (- n 1) (list '+ 1 acc)))) (eval (nest 3000 0))") == 3000


def test_absurdly_nested_code_is_a_syntax_error_not_a_crash(error: Callable[[str], Any]) -> None:
    depth = 100_000
    err = error("(+ 1 " * depth + "0" + ")" * depth)
    assert err.kind == "syntax-error" and "nested too deeply" in err.message
    assert sys.getrecursionlimit() < 30_000  # the compiler restores the limit it raised


def test_quasiquoted_deep_data_without_unquote_is_constant(run: Callable[[str], Any]) -> None:
    depth = 100_000
    value = run("`" + "(a " * depth + ")" * depth)
    assert value.car is Symbol("a")


def test_runaway_recursion_is_a_stack_overflow_error(run: Callable[[str], Any],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from tapevm.vm import machine

    monkeypatch.setattr(machine, "MAX_PENDING", 50_000)
    assert run("""
        (define (forever n) (+ 1 (forever n)))
        (try (forever 1) (catch e (list (error-kind e) (error-message e))))
    """) == run("(list 'stack-overflow \"more than 50000 nested calls are pending (runaway recursion?)\")")
