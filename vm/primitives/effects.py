"""The effect primitives: ``now``, ``random``, ``uuid``, ``read-line``, ``ask``, ``tool``, ``step``.

Each checks its arguments (a bad call is a type error, never recorded) and
hands the effect to the interpreter's port (:mod:`tapevm.vm.effects`).
Nothing else in the VM is nondeterministic.
"""

from __future__ import annotations

from typing import Any

from tapevm.vm.effects import ASK, NOW, RANDOM, READ_LINE, STEP, TOOL, UUID
from tapevm.vm.errors import TYPE_ERROR, VALUE_ERROR, lisp_error
from tapevm.vm.primitives.registry import primitive
from tapevm.vm.primitives.support import string
from tapevm.vm.values import Keyword, Symbol


def _perform(m: Any, kind: str, args: tuple[Any, ...]) -> Any:
    interp = m.interp
    interp.budget.effect()  # counted before it is performed: past max_effects nothing is recorded
    return interp.effects.perform(kind, args)


@primitive("now", needs_machine=True)
def now(m: Any) -> Any:
    """Wall-clock time in milliseconds since the Unix epoch (recorded; a replay sees the recorded time)."""
    return _perform(m, NOW, ())


@primitive("random", needs_machine=True)
def random_(m: Any, n: Any) -> Any:
    """A random integer in ``[0, n)`` from the operating system's randomness (recorded)."""
    if type(n) is not int or n <= 0:
        raise lisp_error(VALUE_ERROR, f"random: expected a positive integer, got {n!r}")
    return _perform(m, RANDOM, (n,))


@primitive("uuid", needs_machine=True)
def uuid_(m: Any) -> Any:
    """A fresh random UUID as a string (recorded)."""
    return _perform(m, UUID, ())


@primitive("read-line", needs_machine=True)
def read_line(m: Any, prompt: Any = "") -> Any:
    """A line of standard input without its newline, nil at end of input (recorded)."""
    return _perform(m, READ_LINE, (string(prompt, "read-line"),))


@primitive("ask", needs_machine=True)
def ask(m: Any, prompt: Any, *options: Any) -> Any:
    """``(ask prompt :model m :system s ...)``: a language model's answer, as a string (recorded)."""
    string(prompt, "ask")
    if len(options) % 2:
        raise lisp_error(TYPE_ERROR, "ask: options come in pairs, e.g. (ask \"hi\" :model \"m\")")
    for key in options[::2]:
        if type(key) is not Keyword:
            raise lisp_error(TYPE_ERROR, f"ask: expected an option keyword such as :model, got {key!r}")
    return _perform(m, ASK, (prompt, *options))


@primitive("tool", needs_machine=True)
def tool(m: Any, name: Any, *args: Any) -> Any:
    """``(tool name arg...)``: call a host function the session registered (recorded)."""
    if type(name) is Symbol or type(name) is Keyword:
        name = name.name
    return _perform(m, TOOL, (string(name, "tool"), *args))


@primitive("step", needs_machine=True)
def step(m: Any, name: Any, *args: Any) -> Any:
    """``(step name arg...)``: a recorded Python step (``Session.step`` writes these forms; recorded).

    Answered by the step function the session registered under ``name``; on replay, from the log.
    """
    if type(name) is Symbol or type(name) is Keyword:
        name = name.name
    return _perform(m, STEP, (string(name, "step"), *args))
