"""The Interpreter façade: forms, namespaces, rebuilding closures, plain-data code and continuations."""

from __future__ import annotations

import types
from typing import Any

import pytest

from tapevm.vm import machine as machine_module
from tapevm.vm.errors import LispError, ReadError, VMError
from tapevm.vm.interpreter import Interpreter
from tapevm.vm.nodes import Lambda, Node
from tapevm.vm.printer import to_source
from tapevm.vm.values import (
    NIL,
    Atom,
    Closure,
    Env,
    ErrorValue,
    Keyword,
    LMap,
    Macro,
    Pair,
    Primitive,
    Symbol,
    make_list,
)
from tapevm.vm.world import World


def test_read_forms_gives_form_position_and_text(interp: Interpreter) -> None:
    forms = interp.read_forms("(define x 1)\n\n  (+ x\n     2)", "f.lisp")
    assert [(line, col, text) for _, line, col, text in forms] == [(1, 1, "(define x 1)"), (3, 3, "(+ x\n     2)")]
    assert [interp.eval_form(f) for f, *_ in forms] == [Symbol("x"), 3]


def test_errors_share_a_root(interp: Interpreter) -> None:
    with pytest.raises(VMError):
        interp.read_forms("(")
    with pytest.raises(VMError):
        interp.eval_string("(car 1)")
    assert issubclass(ReadError, VMError) and issubclass(LispError, VMError)
    with pytest.raises(ReadError) as info:
        interp.read_forms("\n  )", "file.lisp")
    assert info.value.filename == "file.lisp" and (info.value.line, info.value.column) == (2, 3)


def test_lisp_error_carries_the_error_value(interp: Interpreter) -> None:
    with pytest.raises(LispError) as info:
        interp.eval_string("(raise 'oops \"it broke\" {:code 7})")
    err = info.value.error
    assert (err.kind, err.message, to_source(err.data)) == ("oops", "it broke", "{:code 7}")
    assert (info.value.kind, info.value.message) == ("oops", "it broke")
    assert str(info.value) == "oops: it broke"


def test_eval_form_uses_the_current_namespace(interp: Interpreter) -> None:
    interp.eval_string("(in-ns app) (define v 1)")
    assert interp.world.current_ns == "app"
    assert interp.world.lookup("app", "v") == 1
    assert not interp.world.is_bound("user", "v")
    assert interp.eval_string("v") == 1


def test_top_level_begin_runs_form_by_form(interp: Interpreter) -> None:
    assert interp.eval_string("(begin (define-macro (twice x) `(* 2 ,x)) (twice 21))") == 42
    assert interp.eval_string("(begin (in-ns other) (define w 5))") == Symbol("w")
    assert interp.world.lookup("other", "w") == 5


def test_define_returns_the_symbol_and_names_the_closure(interp: Interpreter) -> None:
    assert interp.eval_string("(define (sq x) (* x x))") == Symbol("sq")
    closure = interp.world.lookup("user", "sq")
    assert isinstance(closure, Closure) and closure.name == "sq" and closure.ns == "user"
    assert to_source(closure.params) == "(x)"
    assert [to_source(f) for f in closure.body] == ["(* x x)"]


def test_closure_body_is_stored_macro_expanded(interp: Interpreter) -> None:
    interp.eval_string("(define-macro (inc2 x) `(+ ,x 2)) (define (f y) (when (> y 0) (inc2 y)))")
    body = interp.world.lookup("user", "f").body
    assert [to_source(f) for f in body] == ["(if (> y 0) (+ y 2) nil)"]


def test_closure_body_shares_the_source_that_expansion_left_unchanged(interp: Interpreter) -> None:
    ((form, *_),) = interp.read_forms("(define g (lambda (y) (+ y 1)))")
    interp.eval_form(form)
    assert interp.world.lookup("user", "g").body[0] is form.cdr.cdr.car.cdr.cdr.car  # (+ y 1) itself
    interp.eval_string("(define-macro (inc2 x) `(+ ,x 2))")
    ((form, *_),) = interp.read_forms("(define h (lambda (y) (list (+ y 1) (inc2 y))))")
    interp.eval_form(form)
    (stored,) = interp.world.lookup("user", "h").body
    source = form.cdr.cdr.car.cdr.cdr.car
    assert to_source(stored) == "(list (+ y 1) (+ y 2))"
    assert stored is not source and stored.cdr.car is source.cdr.car  # rebuilt around the unchanged (+ y 1)


def test_make_closure_rebuilds_a_working_closure(interp: Interpreter) -> None:
    interp.eval_string("""
        (define (make-counter start)
          (define step 2)
          (lambda (n) (if (= n 0) start (+ step ((make-counter start) (- n 1))))))
        (define c (make-counter 10))
    """)
    live = interp.world.lookup("user", "c")
    rebuilt = interp.make_closure(live.params, live.body, live.env, live.name, live.ns)
    assert rebuilt.code is not None and rebuilt.code is not live.code
    assert interp.call(rebuilt, 3) == interp.call(live, 3) == 16


def test_rebuilt_closure_does_not_see_later_macro_changes(interp: Interpreter) -> None:
    interp.eval_string("(define-macro (m) 1) (define (f) (m))")
    live = interp.world.lookup("user", "f")
    interp.eval_string("(define-macro (m) 2)")
    rebuilt = interp.make_closure(live.params, live.body, live.env, live.name, live.ns)
    assert interp.call(live) == interp.call(rebuilt) == 1


def test_make_closure_from_decoded_style_environment(interp: Interpreter) -> None:
    env = Env({Symbol("k"): 5}, Env({Symbol("outer"): 100}, None))
    params = make_list([Symbol("x")])
    body = tuple(interp.read_forms("(+ x k outer)")[0][:1])
    closure = interp.make_closure(params, body, env, "adder", "user")
    assert interp.call(closure, 1) == 106
    interp.world.define("user", "adder", closure)
    assert interp.eval_string("(adder 2)") == 107


def test_a_closure_without_code_is_compiled_on_first_call(interp: Interpreter) -> None:
    closure = Closure(make_list([Symbol("a")]), (make_list([Symbol("*"), Symbol("a"), 3]),), None, "t", "user")
    assert interp.call(closure, 5) == 15
    assert isinstance(closure.code, Lambda)


def test_macros_rebuilt_from_source_work(interp: Interpreter) -> None:
    interp.eval_string("(define-macro (sw a b) `(list ,b ,a))")
    macro = interp.world.lookup("user", "sw")
    c = macro.closure
    interp.world.define("user", "sw2", Macro(interp.make_closure(c.params, c.body, c.env, c.name, c.ns)))
    assert to_source(interp.eval_string("(sw2 1 2)")) == "(2 1)"


def test_primitive_registry(interp: Interpreter) -> None:
    prim = interp.primitive("map")
    assert isinstance(prim, Primitive) and prim.needs_machine and prim.min_args == 2
    with pytest.raises(LispError):
        interp.primitive("no-such-primitive")


def test_builtins_can_be_shadowed_per_namespace(interp: Interpreter) -> None:
    interp.eval_string("(define (car x) 'mine) (define (g) (car '(1)))")
    assert interp.eval_string("(g)") == Symbol("mine")
    assert interp.eval_string("(core/car '(1))") == 1
    interp.eval_string("(in-ns other)")
    assert interp.eval_string("(car '(1))") == 1


def test_lazily_decoded_bindings_are_forced_on_use(interp: Interpreter) -> None:
    world = interp.world
    calls: list[str] = []

    def loader() -> Any:
        calls.append("x")
        return 41

    interp.eval_string("(define (get-x) x)")
    world.bind_lazy("user", "x", loader)
    assert interp.eval_string("(+ (get-x) 1)") == 42
    assert interp.eval_string("(+ x 1)") == 42
    assert calls == ["x"]


def test_lazy_macro_binding_expands(interp: Interpreter) -> None:
    interp.eval_string("(define-macro (five) 5)")
    macro = interp.world.lookup("user", "five")
    other = Interpreter(World())
    other.world.bind_lazy("user", "five", lambda: macro)
    assert other.eval_string("(five)") == 5


def test_a_later_definition_is_seen_by_compiled_code(interp: Interpreter) -> None:
    interp.eval_string("(define (f) (later))")
    with pytest.raises(LispError, match="unbound symbol: later"):
        interp.eval_string("(f)")
    interp.eval_string("(define (later) 'ok)")
    assert interp.eval_string("(f)") == Symbol("ok")
    interp.eval_string("(in-ns ns2) (define (h) 1) (in-ns user)")
    assert interp.eval_string("(ns2/h)") == 1


def test_call_from_python(interp: Interpreter) -> None:
    add = interp.eval_string("(lambda (a b) (+ a b))")
    assert interp.call(add, 2, 3) == 5
    assert interp.call(interp.primitive("list"), 1, 2) == make_list([1, 2])
    assert interp.call(interp.primitive("map"), add, make_list([1]), make_list([2])) == make_list([3])


# -- plain data --------------------------------------------------------------------------
_PLAIN = (int, float, str, bool, type(None), Symbol, Keyword, Pair, LMap, type(NIL), Primitive, Closure, Macro,
          Env, Atom, ErrorValue)


def _assert_plain(value: Any, seen: set[int]) -> None:
    """A code node or frame contains only nodes, Lisp values, tuples, lists and namespace dicts."""
    if id(value) in seen:
        return
    seen.add(id(value))
    assert not isinstance(value, (types.FunctionType, types.MethodType, types.GeneratorType,
                                  types.BuiltinFunctionType)), value
    if isinstance(value, Node):
        for cls in type(value).__mro__:
            for slot in getattr(cls, "__slots__", ()):
                _assert_plain(getattr(value, slot), seen)
    elif isinstance(value, (tuple, list)):
        for item in value:
            _assert_plain(item, seen)
    elif isinstance(value, dict):
        assert all(isinstance(k, (str, Symbol)) for k in value)
    else:
        assert isinstance(value, _PLAIN) or value is machine_module.MISSING, type(value)


def test_compiled_code_is_plain_data(interp: Interpreter) -> None:
    source = """
      (define (f x . rest)
        (define y `(a ,x ,@rest [,x] {:k ,x}))
        (let loop ((i 0)) (if (< i 2) (loop (+ i 1)) (try (cond ((and x (or y #f)) (let* ((z 1)) z)) (else (letrec ((q 1)) q))) (catch e e)))))
    """
    form = interp.read_forms(source)[0][0]
    node = interp.compile(form)
    _assert_plain(node, set())


def test_continuation_frames_are_plain_data(interp: Interpreter) -> None:
    """Capture the machine's stack in the middle of a deep computation (through map and sort)."""
    captured: list[Any] = []
    original = machine_module.Machine._loop

    def probe(*args: Any) -> Any:
        import sys

        frame = sys._getframe(1)
        while frame is not None and frame.f_code is not original.__code__:
            frame = frame.f_back  # type: ignore[assignment]
        assert frame is not None
        captured.append(list(frame.f_locals["stack"]))
        return 0

    interp.builtins["probe"] = Primitive("probe", probe, 0, 0)
    interp.eval_string("""
        (define (walk n) (if (= n 0) (probe) (+ 1 (car (map (lambda (x) (walk (- n 1))) '(1))))))
        (try (let ((a (atom 0))) (swap! a (lambda (v) (walk 3)))) (catch e e))
    """)
    (stack,) = captured
    assert len(stack) > 10
    for frame in stack:
        assert isinstance(frame, tuple) and isinstance(frame[0], int)
        _assert_plain(frame, set())
