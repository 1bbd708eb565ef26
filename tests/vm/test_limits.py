"""A form's limits (vm/limits.py): every kind of runaway ends with a catchable ``limit-exceeded``.

Each runaway here ran until it was killed before the limits existed; the tests run them in a
subprocess with a timeout, so that on code without limits they fail instead of hanging the suite.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tapevm.vm.errors import LispError, ReadError
from tapevm.vm.interpreter import Interpreter
from tapevm.vm.limits import LIMIT_EXCEEDED, UNLIMITED, FormLimits, replay_limits
from tapevm.vm.world import World

# Run in a child process: on code without limits the form never ends, and the timeout fails the test.
_CHILD = """
import sys
from tapevm.vm.errors import LispError
from tapevm.vm.interpreter import Interpreter
from tapevm.vm.limits import FormLimits
from tapevm.vm.world import World

interp = Interpreter(World())
interp.eval_string(sys.argv[1])
interp.world.begin()  # the form's own journal, as a session starts each form
interp.budget.start(FormLimits(**eval(sys.argv[3])))
try:
    print("value", interp.eval_string(sys.argv[2]))
except LispError as e:
    print("error", e.kind, "|", e.message)
    print("journal", interp.world.journal_size())
"""


def run_bounded(setup: str, form: str, **limits: object) -> str:
    proc = subprocess.run([sys.executable, "-c", _CHILD, setup, form, repr(limits)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_endless_recursion_stops_at_the_step_limit() -> None:
    out = run_bounded("(define (f n) (f (+ n 1)))", "(f 0)", max_steps=200_000)
    assert out.startswith(f"error {LIMIT_EXCEEDED} | the form made more than 200,000 function calls (--max-steps 200000)")
    assert "raise it with --max-steps N, TAPE_MAX_STEPS" in out


def test_endless_recursion_stops_at_the_time_limit() -> None:
    out = run_bounded("(define (f n) (f (+ n 1)))", "(f 0)", max_steps=None, max_time=0.3)
    assert out.startswith(f"error {LIMIT_EXCEEDED} | the form ran for more than 0.3 s, stopped after ")
    assert "(--max-time 0.3)" in out


def test_a_set_loop_stops_at_the_journal_limit() -> None:
    out = run_bounded("(define x 0) (define (h) (begin (set! x (+ x 1)) (h)))", "(h)",
                      max_steps=None, max_journal=50_000)
    assert out.startswith(f"error {LIMIT_EXCEEDED} | the form made more than 50,000 changes")
    assert "(--max-journal 50000)" in out


def test_a_println_loop_stops_at_the_output_limit() -> None:
    out = run_bounded('(define (p) (begin (println "0123456789") (p)))', "(p)", max_steps=None, max_output=10_000)
    assert out.startswith(f"error {LIMIT_EXCEEDED} | the form printed more than 10,000 bytes (--max-output 10000)")
    # what was printed up to the limit is journaled (the session records it with the failed form)
    assert "journal 909\n" in out  # 909 lines of 11 bytes


def test_a_macro_that_expands_forever_stops_at_the_step_limit() -> None:
    out = run_bounded("(define-macro (m x) (list 'm x))", "(m 1)", max_steps=5_000)
    assert out.startswith(f"error {LIMIT_EXCEEDED} | the form made more than 5,000 function calls")


def test_limit_exceeded_is_caught_by_try_and_stays_exceeded() -> None:
    program = """(try (f 0) (catch e (list (error-kind e) (try (f 0) (catch e2 (error-kind e2))))))"""
    out = run_bounded("(define (f n) (f (+ n 1)))", program, max_steps=100_000)
    assert out == "value (limit-exceeded limit-exceeded)\n"


def test_forms_under_their_limits_are_unchanged() -> None:
    interp = Interpreter(World())
    interp.budget.start(FormLimits(max_steps=100_000, max_output=100))
    interp.eval_string("(define (fib n) (if (< n 2) n (+ (fib (- n 1)) (fib (- n 2)))))")
    assert interp.eval_string("(fib 20)") == 6765  # 21,891 calls
    interp.eval_string('(println "fits")')


def test_output_is_echoed_as_it_is_printed() -> None:
    interp = Interpreter(World())
    seen: list[str] = []
    interp.budget.start(FormLimits(max_output=12))
    interp.budget.echo = seen.append
    with pytest.raises(LispError) as caught:
        interp.eval_string('(begin (print "hello ") (print "world") (print "!!"))')
    assert caught.value.kind == LIMIT_EXCEEDED
    assert seen == ["hello ", "world"]  # echoed before the form ended; the text past the limit is not


def test_a_bare_interpreter_has_no_limits() -> None:
    interp = Interpreter(World())
    assert interp.budget.limits == UNLIMITED


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_steps must be positive"):
        FormLimits(max_steps=0)
    with pytest.raises(ValueError, match="max_effects must be a whole number"):
        FormLimits(max_effects=2.5)
    assert FormLimits(max_steps=1e6).max_steps == 1_000_000  # shown and read back as a count


def test_replay_limits_read_back_what_stopped_a_form() -> None:
    assert replay_limits("type-error", "car: expected a list") is None
    steps = "the form made more than 1,000 function calls (--max-steps 1000); raise it with --max-steps N"
    assert replay_limits(LIMIT_EXCEEDED, steps) == UNLIMITED.with_values(max_steps=1000)
    timed = "the form ran for more than 0.5 s, stopped after 8192 steps (--max-time 0.5); raise it"
    assert replay_limits(LIMIT_EXCEEDED, timed) == UNLIMITED.with_values(max_time=0.5, stop_at_step=8192)


def test_a_time_limit_replays_at_the_step_it_stopped() -> None:
    """Replaying a form a time limit stopped stops it at the recorded step with the recorded message."""
    interp = Interpreter(World())
    interp.eval_string("(define (f n) (f (+ n 1)))")
    interp.budget.start(FormLimits(max_steps=None, max_time=0.2))
    with pytest.raises(LispError) as first:
        interp.eval_string("(f 0)")
    limits = replay_limits(first.value.kind, first.value.message)
    assert limits is not None
    interp.budget.start(limits)
    with pytest.raises(LispError) as again:
        interp.eval_string("(f 0)")
    assert again.value.message == first.value.message


@pytest.mark.parametrize("text", ["7" * 5_000_000, "-" + "7" * 200_000, "(list 1 " + "3" * 100_001 + ")"])
def test_a_huge_integer_literal_is_refused_quickly(text: str) -> None:
    """5 million digits took minutes to read (and so did run, run - and the REPL); now a ReadError."""
    code = textwrap.dedent("""
        import sys
        from tapevm.vm.errors import ReadError
        from tapevm.vm.reader import read_forms
        try:
            read_forms(sys.stdin.read())
        except ReadError as e:
            print(e)
    """)
    proc = subprocess.run([sys.executable, "-c", code], input=text, capture_output=True, text=True, timeout=20,
                          check=False)
    assert "syntax error: an integer literal of" in proc.stdout
    assert "digits is longer than the 100,000 digits source may write" in proc.stdout


def test_an_integer_literal_under_the_bound_reads() -> None:
    interp = Interpreter(World())
    assert interp.eval_string("(+ 1 " + "9" * 100_000 + ")") == 10**100_000
    with pytest.raises(ReadError):
        interp.read_forms("9" * 100_001)
    assert interp.eval_string('(try (string->number "' + "9" * 100_001 + '") (catch e (error-kind e)))').name \
        == "value-error"
