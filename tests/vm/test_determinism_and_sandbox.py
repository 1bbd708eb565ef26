"""Same inputs, same results in any interpreter or process; no way out to the host."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from tapevm.vm.interpreter import Interpreter
from tapevm.vm.printer import to_source
from tapevm.vm.world import World

PROGRAM = r"""
(define-macro (my-let1 name value . body) (let ((tmp (gensym))) `(let ((,tmp ,value)) (let ((,name ,tmp)) ,@body))))
(define counter (atom 0))
(define (tick!) (swap! counter inc))
(define table (reduce (lambda (m k) (assoc m k (tick!))) {} '(zeta alpha :kw "str" 3 1.5 #t nil (1 2) [v])))
(println table)
(println (keys table) (distinct '(b a b c a)))
(assert! '(likes bob "tea")) (assert! '(likes amy "coffee")) (assert! '(likes cat "tea"))
(println (facts '(likes ?who "tea")))
(write-file! "z.txt" "last") (write-file! "a.txt" "first")
(println (list-files) (gensym) (gensym "x"))
(println (sort (list 3 1.5 -2 10 0) <) (sort '("b" "A" "a")) (sort-by (lambda (s) (string-length s)) '("ccc" "a" "bb" "d")))
(println (my-let1 q 5 (* q q)) (format "{} and {}" {:a 1} '|odd sym|))
(println (map (lambda (x) (expt x 40)) '(2 3)) (/ 1 3) (sqrt 2) (round 2.5))
(try (car 5) (catch e (println (error-kind e) (error-message e))))
(list table @counter (facts))
"""


def run_program() -> tuple[str, str, list[tuple[str, str]]]:
    interp = Interpreter(World())
    interp.world.begin()
    result = interp.eval_string(PROGRAM)
    journal = interp.world.take_mutations()
    mutations = [(m.kind, to_source(tuple(m.args))) for m in journal]
    output = "".join(m.args[0] for m in journal if m.kind == "output")
    return to_source(result), output, mutations


def test_two_interpreters_give_the_same_results_and_output() -> None:
    assert run_program() == run_program()


def test_the_same_results_in_another_process_with_another_hash_seed() -> None:
    here = run_program()
    code = (
        "import sys, importlib.util\n"
        f"spec = importlib.util.spec_from_file_location('d', {__file__!r})\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        "print(repr(m.run_program()))\n"
    )
    for seed in ("1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
        assert out.stdout.strip() == repr(here)


def test_gensym_counter_is_per_interpreter(run: Callable[[str], Any]) -> None:
    assert to_source(run("(list (gensym) (gensym))")) == "(g__0_1 g__0_2)"
    assert to_source(run("(list (gensym) (gensym))")) == "(g__0_1 g__0_2)"


def test_gensyms_are_unique_across_reopening_a_session(tmp_path: Any) -> None:
    from tapevm.infrastructure.session.service import open_session

    store = str(tmp_path / "s.db")
    with open_session("g", store) as s:
        s.eval("(define a (gensym))")
        first = to_source(s.eval("a"))
    with open_session("g", store) as s:
        assert to_source(s.eval("(gensym)")) != first
        assert to_source(s.eval("(= a (gensym))")) == "#f"


def test_one_int_float_and_true_are_distinct_facts_and_keys(run: Callable[[str], Any]) -> None:
    assert to_source(run("(list (assert! 1) (assert! #t) (assert! 1.0) (assert! 1))")) == "(#t #t #t #f)"
    assert to_source(run("(count {'(1) :a '(1.0) :b})")) == "2"
    assert to_source(run("(list (= 1 1.0) (equal? 1 1.0) (= '(1) '(1.0)))")) == "(#t #f #f)"
    assert to_source(run("(list (bound? 'nosuch/car) (bound? 'user/car))")) == "(#f #t)"


# -- sandbox ------------------------------------------------------------------------------
ESCAPES = [
    "(__import__ \"os\")",
    "(open \"/etc/passwd\")",
    "(os/system \"ls\")",
    "(eval \"__import__('os')\")",
    "(getattr car \"__globals__\")",
    "(exec \"print(1)\")",
    "(subprocess/run \"ls\")",
    "(sys/exit 1)",
    "(python \"1\")",
    "(car.__class__)",
    "(read-file \"/etc/passwd\")",
    "(read-file \"../../etc/passwd\")",
    "(write-file! \"/tmp/tapevm-escape\" \"x\")",
    "(list-files \"/\")",
    "(format \"{0.__class__}\" 1)",
    "(format \"{}\" (string->symbol \"__import__\"))",
    "(eval (list (string->symbol \"__import__\") \"os\"))",
    "(apply (string->symbol \"open\") '(\"/etc/passwd\"))",
]


@pytest.mark.parametrize("source", ESCAPES)
def test_sandbox_escapes_fail(source: str) -> None:
    interp = Interpreter(World())
    try:
        value = interp.eval_string(source)
    except Exception as exc:  # noqa: BLE001 - any Lisp error is fine; a host effect is not
        from tapevm.vm.errors import LispError

        assert isinstance(exc, LispError), repr(exc)
        return
    # The only acceptable successes are harmless data (e.g. an empty list of world files).
    assert isinstance(value, (str, type(None))) or to_source(value) in ("nil",), to_source(value)
    assert not os.path.exists("/tmp/tapevm-escape")


def test_host_file_system_is_invisible(run: Callable[[str], Any]) -> None:
    assert to_source(run('(list (file-exists? "etc/passwd") (list-files))')) == "(#f nil)"


def test_strings_are_only_strings(run: Callable[[str], Any]) -> None:
    assert run('(str "{__import__}" "%s" "$HOME")') == "{__import__}%s$HOME"
    assert to_source(run('(read-string "__import__")')) == "__import__"
