"""The effect primitives: ``now``, ``random``, ``uuid``, ``read-line``, ``ask``, ``chat``, ``tool``, ``step``, ``await``.

Each checks its arguments (a bad call is a type error, never recorded) and
hands the effect to the interpreter's port (:mod:`tapevm.vm.effects`).
Nothing else in the VM is nondeterministic.
"""

from __future__ import annotations

from typing import Any

from tapevm.vm.effects import ASK, CHAT, NOW, RANDOM, READ_LINE, STEP, TOOL, UUID
from tapevm.vm.errors import TYPE_ERROR, VALUE_ERROR, lisp_error
from tapevm.vm.primitives.registry import primitive
from tapevm.vm.primitives.support import string
from tapevm.vm.suspension import AWAIT, AWAIT_UNSUPPORTED
from tapevm.vm.values import NIL, Keyword, Pair, Symbol


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


@primitive("chat", needs_machine=True)
def chat(m: Any, messages: Any, *options: Any) -> Any:
    """``(chat messages :model m :tools [...] :temperature t ...)``: a model's whole answer, as a map (recorded).

    ``messages`` is a list or vector of maps (``{:role "user" :content "hi"}``); the session's
    provider checks each one, this only checks the shape of the call.
    """
    if not (type(messages) is Pair or type(messages) is tuple or messages is NIL):
        raise lisp_error(TYPE_ERROR, "chat: expected a list or vector of messages, e.g. "
                                     "(chat [{:role \"user\" :content \"hi\"}])")
    if len(options) % 2:
        raise lisp_error(TYPE_ERROR, "chat: options come in pairs, e.g. (chat msgs :model \"m\")")
    for key in options[::2]:
        if type(key) is not Keyword:
            raise lisp_error(TYPE_ERROR, f"chat: expected an option keyword such as :model, got {key!r}")
    return _perform(m, CHAT, (messages, *options))


@primitive("tool", needs_machine=True)
def tool(m: Any, name: Any, *args: Any) -> Any:
    """``(tool name arg...)``: call a host function the session registered (recorded)."""
    if type(name) is Symbol or type(name) is Keyword:
        name = name.name
    return _perform(m, TOOL, (string(name, "tool"), *args))


@primitive("await", needs_machine=True)
def await_(m: Any, tag: Any, *options: Any) -> Any:
    """``(await tag :payload v :timeout-ms n)``: suspend the form until something outside answers ``tag``;
    the answer is the value (see vm/suspension.py).  Only in the form's own evaluation: not inside a
    macro expansion or a call from the host (their Python frames cannot be stored)."""
    if type(tag) is Symbol or type(tag) is Keyword:
        tag = tag.name
    string(tag, "await")
    if not tag:
        raise lisp_error(VALUE_ERROR, "await: the tag may not be empty")
    if len(options) % 2:
        raise lisp_error(TYPE_ERROR, "await: options come in pairs, e.g. (await 'approval :payload x)")
    payload: Any = NIL
    timeout: Any = None
    for key, value in zip(options[::2], options[1::2], strict=True):
        if key == Keyword("payload"):
            payload = value
        elif key == Keyword("timeout-ms"):
            if type(value) is not int or value < 0:
                raise lisp_error(VALUE_ERROR, f"await: :timeout-ms expects a non-negative integer, got {value!r}")
            timeout = value
        else:
            raise lisp_error(TYPE_ERROR, f"await: unknown option {key!r} (expected :payload or :timeout-ms)")
    if m.depth != 1:
        raise lisp_error(AWAIT_UNSUPPORTED, "await: cannot suspend inside a macro expansion or a host call")
    return _perform(m, AWAIT, (tag, payload, timeout))


@primitive("step", needs_machine=True)
def step(m: Any, name: Any, *args: Any) -> Any:
    """``(step name arg...)``: a recorded Python step (``Session.step`` writes these forms; recorded).

    Answered by the step function the session registered under ``name``; on replay, from the log.
    """
    if type(name) is Symbol or type(name) is Keyword:
        name = name.name
    return _perform(m, STEP, (string(name, "step"), *args))
