"""Every special form, table-driven: (source, printed value of the last form)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

CASES = [
    # quote
    ("(quote x)", "x"),
    ("'(1 (2 . 3) [a])", "(1 (2 . 3) [a])"),
    ("''a", "'a"),
    # self-evaluating
    ("42", "42"),
    ('"s"', '"s"'),
    (":k", ":k"),
    ("nil", "nil"),
    ("#t", "#t"),
    ("[1 (+ 1 1) :x]", "[1 2 :x]"),
    ("{:a (+ 1 2) (str \"b\") 4}", '{:a 3 "b" 4}'),
    # quasiquote
    ("`(a b)", "(a b)"),
    ("(define x 5) `(x ,x)", "(x 5)"),
    ("`(1 ,@(list 2 3) 4)", "(1 2 3 4)"),
    ("`(1 ,@nil 2)", "(1 2)"),
    ("`[1 ,(+ 1 1) ,@(list 3 4)]", "[1 2 3 4]"),
    ("`{:a ,(* 2 3)}", "{:a 6}"),
    ("`(a . ,(+ 1 2))", "(a . 3)"),
    ("`(1 `(2 ,(3 ,(+ 1 3))))", "(1 `(2 ,(3 4)))"),
    ("`(x ',(+ 1 1))", "(x '2)"),
    ("(let ((xs '(1 2))) `((,@xs) ,@xs))", "((1 2) 1 2)"),
    # if
    ("(if #t 1 2)", "1"),
    ("(if #f 1 2)", "2"),
    ("(if nil 1 2)", "2"),
    ("(if 0 1 2)", "1"),
    ('(if "" 1 2)', "1"),
    ("(if '() 1 2)", "2"),
    ("(if #f 1)", "nil"),
    # cond
    ("(cond (#f 1) ((= 1 1) 2) (else 3))", "2"),
    ("(cond (#f 1) (else 3))", "3"),
    ("(cond (#f 1))", "nil"),
    ("(cond ((+ 1 1)))", "2"),
    ("(cond (#f 1) ((list 1 2)) (else 3))", "(1 2)"),
    ("(cond ((= 1 1) 1 2 3))", "3"),
    # when / unless
    ("(when #t 1 2)", "2"),
    ("(when #f 1 2)", "nil"),
    ("(unless #f 1 2)", "2"),
    ("(unless #t 1 2)", "nil"),
    # and / or
    ("(and)", "#t"),
    ("(and 1 2 3)", "3"),
    ("(and 1 #f 3)", "#f"),
    ("(and 1 nil (car 5))", "nil"),
    ("(or)", "#f"),
    ("(or #f nil 7)", "7"),
    ("(or 1 (car 5))", "1"),
    ("(or #f #f)", "#f"),
    # define
    ("(define x 10) x", "10"),
    ("(define x 10)", "x"),
    ("(define (f x) (* x 2)) (f 21)", "42"),
    ("(define (f . xs) xs) (f 1 2 3)", "(1 2 3)"),
    ("(define (f x . xs) (list x xs)) (f 1 2 3)", "(1 (2 3))"),
    ("(define (f x . xs) (list x xs)) (f 1)", "(1 nil)"),
    ("(define (f) 1) (define (f) 2) (f)", "2"),
    ("(define f (lambda (x) x)) f", "#<function f>"),
    ("(define (f x) (define y (* x 2)) (define (g) (+ y 1)) (g)) (f 5)", "11"),
    ("(define (f) (define a 1) (define b (+ a 1)) (list a b)) (f)", "(1 2)"),
    ("(define (f) (define (ev? n) (if (= n 0) #t (od? (- n 1)))) (define (od? n) (if (= n 0) #f (ev? (- n 1)))) (ev? 10)) (f)", "#t"),
    ("(if #t (define g 5)) g", "5"),
    ("(when #t (define h 6) (+ h 1))", "7"),
    ("(define (f) (begin (define x 1) (define y 2)) (+ x y)) (f)", "3"),
    # set!
    ("(define x 1) (set! x 2) x", "2"),
    ("(define n 0) (define (bump) (set! n (+ n 1))) (bump) (bump) n", "2"),
    # lambda
    ("((lambda (x y) (+ x y)) 1 2)", "3"),
    ("((lambda args args) 1 2)", "(1 2)"),
    ("((lambda args args))", "nil"),
    ("((lambda (a . rest) rest) 1 2 3)", "(2 3)"),
    ("(((lambda (x) (lambda (y) (+ x y))) 3) 4)", "7"),
    ("(lambda (x) x)", "#<function anonymous>"),
    ("(define (adder n) (lambda (x) (+ x n))) ((adder 10) 5)", "15"),
    ("(define (f x) x 1 2 x) (f 9)", "9"),
    # let, let*, letrec, named let
    ("(let ((x 1) (y 2)) (+ x y))", "3"),
    ("(let () 5)", "5"),
    ("(define x 1) (let ((x 2) (y x)) y)", "1"),
    ("(let* ((x 1) (y (+ x 1))) (* x y))", "2"),
    ("(let* ((x 1) (x (+ x 1))) x)", "2"),
    ("(let* () 3)", "3"),
    ("(let* ((x 1) (f (lambda () x)) (x 2)) (list (f) x))", "(1 2)"),
    ("(letrec ((ev? (lambda (n) (if (= n 0) #t (od? (- n 1))))) (od? (lambda (n) (if (= n 0) #f (ev? (- n 1)))))) (ev? 11))", "#f"),
    ("(letrec* ((a 1) (b (+ a 1))) b)", "2"),
    ("(let loop ((i 0) (acc nil)) (if (= i 3) acc (loop (+ i 1) (cons i acc))))", "(2 1 0)"),
    ("(let loop ((i 0)) (if (< i 10) (loop (+ i 1)) i))", "10"),
    ("(let ((x 1)) (define y 2) (+ x y))", "3"),
    ("(let ((f (lambda () 1))) f)", "#<function f>"),
    # begin
    ("(begin 1 2 3)", "3"),
    ("(begin)", "nil"),
    ("(begin (define a 1) (define b (+ a 1)) b)", "2"),
    # define-macro
    ("(define-macro (swap-args f a b) `(,f ,b ,a)) (swap-args - 1 10)", "9"),
    ("(define-macro (my-or . xs) (if (null? xs) #f `(let ((t ,(car xs))) (if t t (my-or ,@(cdr xs)))))) (my-or #f nil 3)", "3"),
    ("(define-macro (unless2 c . body) `(if ,c nil (begin ,@body))) (unless2 #f 1 2)", "2"),
    ("(begin (define-macro (two) 2) (+ (two) 1))", "3"),
    ("(define-macro (m) 1) (define (f) (m)) (f)", "1"),
    ("(define-macro (defconst name v) `(define ,name ,v)) (defconst k 9) k", "9"),
    ("(define-macro (m x) `(list ,x ,x)) (let ((m (lambda (x) x))) (m 5))", "5"),
    ("(define-macro (m x) `(+ ,x 1)) (macroexpand '(m 2))", "(+ 2 1)"),
    ("(define-macro (while c . body) (let ((loop (gensym \"loop\"))) `(let ,loop () (when ,c ,@body (,loop))))) (define a (atom 0)) (while (< @a 5) (swap! a inc)) @a", "5"),
    # try / catch
    ("(try (car 5) (catch e (error-kind e)))", "type-error"),
    ("(try (raise \"boom\") (catch e (error-message e)))", '"boom"'),
    ("(try 1 2 (catch e 3))", "2"),
    ("(try (raise 'my-kind \"m\" [1 2]) (catch e (list (error-kind e) (error-message e) (error-data e))))", '(my-kind "m" [1 2])'),
    ("(try (try (raise \"inner\") (catch e (raise e))) (catch e2 (error-message e2)))", '"inner"'),
    ("(try (/ 1 0) (catch e (error-kind e)))", "division-by-zero"),
    ("(try undefined-thing (catch e (error-kind e)))", "unbound-symbol"),
    ("(try (raise 42) (catch e (error-data e)))", "42"),
    ("(try (raise \"x\") (catch e))", "nil"),
    ("(define (f) (try (raise \"x\") (catch e 'caught))) (f)", "caught"),
    ("(try (map (lambda (x) (car x)) '(1)) (catch e (error-kind e)))", "type-error"),
    ("(error? (try (raise \"x\") (catch e e)))", "#t"),
    # in-ns and qualified symbols
    ("(in-ns foo) (define x 1) (in-ns user) foo/x", "1"),
    ("(in-ns 'bar) (define y 2) (in-ns \"user\") bar/y", "2"),
    ("(in-ns foo) (current-ns)", "foo"),
    ("(in-ns foo) (define (f) 10) (in-ns user) (define (f) 20) (list (f) (foo/f))", "(20 10)"),
    ("(begin (in-ns lib) (define z 3) (in-ns user) lib/z)", "3"),
    ("(in-ns lib) (define (helper) (secret)) (define (secret) 7) (in-ns user) (lib/helper)", "7"),
    ("(core/car '(1 2))", "1"),
]


@pytest.mark.parametrize("source, expected", CASES)
def test_special_form(show: Callable[[str], str], source: str, expected: str) -> None:
    assert show(source) == expected


# Syntax errors: (source, fragment of the message)
SYNTAX_ERRORS = [
    ("(if)", "if: expected"),
    ("(if 1 2 3 4)", "if: expected"),
    ("(quote)", "quote: expected"),
    ("(lambda (x))", "lambda: expected"),
    ("(lambda (x 1) x)", "expected a symbol"),
    ("(lambda (x x) x)", "repeated"),
    ("(let ((x)) x)", "each binding must be"),
    ("(let ((x 1) (x 2)) x)", "bound twice"),
    ("(define)", "define: expected"),
    ("(define x 1 2)", "exactly one value"),
    ("(define (f))", "has no body"),
    ("(define 5 1)", "expected a symbol"),
    ("(define if 1)", "special form"),
    ("(define a/b 1)", "qualified"),
    ("(define (f) (if #t (define y 1)) y)", "define: inside a function"),
    ("(define (f) (define-macro (m) 1) 1)", "top level"),
    ("(cond (else 1) (#t 2))", "else clause must be the last"),
    ("(try 1)", "try: expected"),
    ("(try 1 (catch 5 2))", "catch clause"),
    (",x", "only allowed inside a quasiquote"),
    ("(f . x)", "proper list"),
    ("(let ((x 1)))", "let: expected"),
    ("(set! 1 2)", "set!: expected"),
    ("(+ if 1)", "special form, not a value"),
]


@pytest.mark.parametrize("source, fragment", SYNTAX_ERRORS)
def test_syntax_errors(error: Callable[[str], object], source: str, fragment: str) -> None:
    err = error(source)
    assert err.kind in ("syntax-error",), err.message  # type: ignore[attr-defined]
    assert fragment in err.message  # type: ignore[attr-defined]


def test_set_of_local_suggests_an_atom(error: Callable[[str], object]) -> None:
    err = error("(define (f x) (set! x 1)) (f 2)")
    assert err.kind == "assignment-error"  # type: ignore[attr-defined]
    assert err.message == (  # type: ignore[attr-defined]
        "set!: x is a local variable; locals are immutable — use an atom (atom/reset!/swap!) for mutable state"
    )
    assert error("(let ((y 1)) (set! y 2))").kind == "assignment-error"  # type: ignore[attr-defined]


def test_set_of_undefined_global(error: Callable[[str], object]) -> None:
    err = error("(set! nowhere 1)")
    assert err.kind == "unbound-symbol"  # type: ignore[attr-defined]
    assert "define first" in err.message  # type: ignore[attr-defined]


def test_unsplice_at_top_of_template_is_an_error(error: Callable[[str], object]) -> None:
    assert "inside a list" in error("`,@(list 1)").message  # type: ignore[attr-defined]
