"""Errors are values: raise, try/catch, kinds and messages, and what cannot be caught."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tapevm.vm.errors import LispError

CATCH = """(define (kind-of thunk) (try (thunk) (catch e (list (error-kind e) (error-message e)))))"""

# (expression run as a thunk, printed (kind message) it raises)
CASES = [
    ("(car 5)", '(type-error "car: expected a non-empty list, got integer 5")'),
    ("(cdr \"s\")", '(type-error "cdr: expected a non-empty list, got string \\"s\\"")'),
    ("nothing-here", '(unbound-symbol "unbound symbol: nothing-here")'),
    ("(/ 5 0)", '(division-by-zero "/: division of integer 5 by zero")'),
    ("(raise \"plain\")", '(user "plain")'),
    ("(raise 'mine \"custom\")", '(mine "custom")'),
    ("(raise :kw \"keyword kind\")", '(kw "keyword kind")'),
    ("(raise \"kind-as-string\" \"m\")", '(kind-as-string "m")'),
    ("(raise [1 2])", '(user "[1 2]")'),
    ("(nth [1] 4)", '(index-error "nth: index 4 is out of range for a vector of length 1")'),
    ("(fetch {} :k)", '(key-error "fetch: no key :k in map {}")'),
    ("(read-file \"none\")", "(file-not-found \"no file 'none' in the world\")"),
    ("(write-file! \"a/../b\" \"x\")", "(bad-path \"world path 'a/../b' may not contain empty, '.' or '..' segments\")"),
    ("((lambda (a) a) 1 2)", '(arity-error "anonymous function: expected 1 argument, got 2")'),
    ("(eval '(set! undefined-global 1))", '(unbound-symbol "set!: undefined-global is not defined (use define first)")'),
    ("(eval '(let ((x 1)) (set! x 2)))",
     ('(assignment-error "set!: x is a local variable; locals are immutable — '
      'use an atom (atom/reset!/swap!) for mutable state")')),
    ("(eval '(lambda))", '(syntax-error "lambda: expected (lambda (params...) body...), in (lambda)")'),
    ("(map (lambda (x) (raise 'inner \"from map\")) '(1 2))", '(inner "from map")'),
    ("(sort '(2 1) (lambda (a b) (raise 'cmp \"from sort\")))", '(cmp "from sort")'),
    ("(swap! (atom 0) (lambda (v) (car v)))", '(type-error "car: expected a non-empty list, got integer 0")'),
    ("(expt 2.5 100000)", '(arithmetic-error "expt: the result of (expt 2.5 100000) is too large for a float")'),
    ("(+ (expt 10 400) 0.5)", '(arithmetic-error "number too large (int too large to convert to float)")'),
]


@pytest.mark.parametrize("expr, expected", CASES)
def test_error_kind_and_message(show: Callable[[str], str], expr: str, expected: str) -> None:
    assert show(f"{CATCH} (kind-of (lambda () {expr}))") == expected


TRY_CASES = [
    # the error value is first class
    ("(let ((e (try (raise 'k \"m\" {:x 1}) (catch e e)))) (list (error? e) (error-kind e) (error-data e)))",
     "(#t k {:x 1})"),
    ("(try (raise 'k \"m\") (catch e e))", "#<error k: m>"),
    # re-raise keeps kind, message and data
    ("(try (try (raise 'k \"m\" 5) (catch e (raise e))) (catch e2 (list (error-kind e2) (error-data e2))))",
     "(k 5)"),
    # an error in the handler propagates outward
    ("(try (try (car 1) (catch e (raise \"in handler\"))) (catch e (error-message e)))", '"in handler"'),
    # the innermost try catches
    ("(try (list 1 (try (car 1) (catch e 'inner))) (catch e 'outer))", "(1 inner)"),
    # try returns the body's value when nothing is raised
    ("(try (+ 1 2) (catch e 'no))", "3"),
    # errors unwind through non-tail calls
    ("(define (deep n) (if (= n 0) (raise 'bottom \"b\") (+ 1 (deep (- n 1))))) (try (deep 1000) (catch e (error-kind e)))",
     "bottom"),
    # a caught error inside a loop does not leak frames
    ("(define (loop i acc) (if (= i 0) acc (loop (- i 1) (+ acc (try (car i) (catch e 1)))))) (loop 1000 0)",
     "1000"),
    # the handler sees its lexical scope
    ("(define (f x) (try (car x) (catch e (list x (error-kind e))))) (f 7)", "(7 type-error)"),
    # make-error does not raise
    ("(error-message (make-error 'k \"not raised\"))", '"not raised"'),
    # error with irritants
    ("(try (error \"bad value:\" 42 'x) (catch e (list (error-message e) (error-data e))))",
     '("bad value: 42 x" (42 x))'),
]


@pytest.mark.parametrize("source, expected", TRY_CASES)
def test_try_catch(show: Callable[[str], str], source: str, expected: str) -> None:
    assert show(source) == expected


def test_syntax_errors_are_raised_before_the_form_runs(run: Callable[[str], Any]) -> None:
    """A form is compiled whole before it runs, so its own try cannot catch its syntax errors."""
    with pytest.raises(LispError) as info:
        run("(try (if) (catch e 'caught))")
    assert info.value.error.kind == "syntax-error"
    assert run("(try (eval '(if)) (catch e (error-kind e)))").name == "syntax-error"


def test_uncaught_error_reaches_python_with_its_value(run: Callable[[str], Any]) -> None:
    with pytest.raises(LispError) as info:
        run("(define (f) (raise 'app-error \"went wrong\" [1 2])) (f)")
    err = info.value.error
    assert (err.kind, err.message) == ("app-error", "went wrong")
    assert err.data == (1, 2)
