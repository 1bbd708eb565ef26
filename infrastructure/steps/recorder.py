"""Python steps: a Python function call recorded as an effect, answered from the log on replay.

A Python agent loop calls its model, its tools and anything else that is not
a pure function of its inputs through :meth:`StepRecorder.step`::

    answer = s.step("search", search, "weather in Paris")   # or: @s.step def search(q): ...

Each step is one top-level form, ``(step "search" "weather in Paris")``,
written by the printer from the arguments as data (never pasted into text),
whose one effect, of kind ``step``, records the arguments and the result
(or the error) whole, like ``ask`` and ``tool`` (docs/effects.md).  So a step
is in the audit timeline with its duration and payload, a ``define`` of its
result is blamed on it, and:

* ``tape replay --verify`` re-runs the recorded forms: each ``(step ...)`` is
  answered from the log (the function is not called) and the replay reports
  identical;
* re-running the Python program itself against the recording
  (``tapevm.replay_agent``, infrastructure/agents/) answers each step from the
  log in order, and a step called with another name or other arguments than
  recorded is a divergence naming both.

Contracts: arguments and results are data (:mod:`tapevm.vm.python_values`:
``None``, ``bool``, numbers, ``str``, lists, tuples, dicts; an empty list comes
back as ``None``); an argument that is not data is refused before anything is
recorded.  A step function that raises is recorded as the step's outcome
(``effect-error`` with the exception's type and message) and the caller gets
:class:`StepFailed` (chained to the original exception when it was just
raised; a replay has only the record).  A result that is not data is such an
error too.  Steps take positional arguments only.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, TypeVar, overload

from tapevm.domain.errors import TapeError, UsageError
from tapevm.vm.printer import to_source
from tapevm.vm.python_values import quoted, to_lisp, to_python
from tapevm.vm.values import LMap, Pair, Symbol, make_list

F = TypeVar("F", bound=Callable[..., Any])

STEP_FILE = "<step>"
CALL_FILE = "<call>"


class StepFailed(TapeError):
    """A step's function raised (or returned what is not data); the failure is recorded as its outcome."""

    def __init__(self, name: str, seq: int, error_kind: str, message: str) -> None:
        super().__init__(f"step {name!r} failed (event {seq}): {message}")
        self.name = name
        self.seq = seq
        self.error_kind = error_kind
        self.error_message = message


class _Outcome(Protocol):
    @property
    def seq(self) -> int: ...
    @property
    def ok(self) -> bool: ...
    @property
    def value(self) -> Any: ...
    @property
    def error_kind(self) -> str | None: ...
    @property
    def error_message(self) -> str | None: ...


class _Providers(Protocol):
    @property
    def steps(self) -> dict[str, Callable[..., Any]]: ...


class _Effects(Protocol):
    @property
    def providers(self) -> _Providers: ...
    @property
    def source(self) -> object: ...
    @property
    def live(self) -> object: ...


class Recordable(Protocol):
    """What the steps ask of a session: its effects, and running source text as forms."""

    @property
    def effects(self) -> _Effects: ...

    def run(self, source: str, file: str = ..., *, stop_on_error: bool = ..., skip: int = ...,
            render_values: bool = ...) -> Sequence[_Outcome]: ...

    def eval(self, source: str, file: str = ...) -> Any: ...


class _Raised:
    """What a step function raised while it ran live: chained to the StepFailed its caller gets."""

    error: BaseException | None = None


def step_form(name: str, args: Sequence[Any]) -> str:
    """The source text of a step: ``(step "name" arg...)``, each argument as data (quoted when it would
    otherwise evaluate).  The printer escapes every string, so any text reads back as itself."""
    if type(name) is not str or not name:
        raise UsageError(f"a step's name is a non-empty string, not {name!r}")
    return to_source(make_list([Symbol("step"), name, *(_literal(to_lisp(a)) for a in args)]))


def call_form(fn: str, args: Sequence[Any]) -> str:
    """The source text of ``(fn arg...)`` with each argument as data."""
    if type(fn) is not str or not fn or fn.startswith(":"):
        raise UsageError(f"a function to call is named by a non-empty symbol name, not {fn!r}")
    return to_source(make_list([Symbol(fn), *(_literal(to_lisp(a)) for a in args)]))


def _literal(value: Any) -> Any:
    """``value`` as a form that evaluates to it: lists, symbols, vectors and maps are quoted."""
    if type(value) in (Pair, Symbol, tuple, LMap):
        return quoted(value)
    return value


class StepRecorder:
    """The session's Python-facing calls: recorded steps, calls with data, definitions of data."""

    @overload
    def step(self: Recordable, name: F, /) -> F: ...
    @overload
    def step(self: Recordable, name: str, /) -> Callable[[F], F]: ...
    @overload
    def step(self: Recordable, name: str, fn: Callable[..., Any], /, *args: Any) -> Any: ...

    def step(self: Recordable, name: str | F, fn: Callable[..., Any] | None = None, /, *args: Any) -> Any:
        """Record a Python function call as an effect (see the module docstring).

        ``s.step("search", fn, *args)`` calls ``fn(*args)`` now and returns its result (on replay, the
        recorded result, without calling ``fn``).  ``@s.step`` (or ``@s.step("name")``) wraps a function
        so that every call is such a step, named after the function; an ``async def`` gets an async wrapper.
        """
        if callable(name):
            return _decorate(self, name.__name__, name)
        if fn is None:
            return lambda f: _decorate(self, name, f)
        text = step_form(name, args)
        raised = _Raised()
        self.effects.providers.steps[name] = _live_step(fn, raised)
        return _finish(self, name, text, raised)

    async def astep(self: Recordable, name: str, fn: Callable[..., Awaitable[Any]], /, *args: Any) -> Any:
        """``step`` for a coroutine function: awaited here (not on replay), then recorded the same way."""
        text = step_form(name, args)
        raised = _Raised()
        if self.effects.source is self.effects.live:  # (not when replaying: the answer is in the log)
            try:
                result: Any = await fn(*args)
            except Exception as e:  # noqa: BLE001 - recorded as the step's outcome
                raised.error = e
                result = None
            self.effects.providers.steps[name] = _live_step(lambda *_: _settled(result, raised), raised)
        return _finish(self, name, text, raised)

    def call(self: Recordable, fn: str, /, *args: Any) -> Any:
        """``(fn arg...)`` with Python values passed as data (never pasted into text); the result as Python.

        One recorded form like any other; a Lisp error raises ``EvalError`` as ``eval`` does, and a result
        that is not data (a function, an atom) a UsageError (it is committed all the same).
        """
        return to_python(self.eval(call_form(fn, args), CALL_FILE))

    def define(self: Recordable, name: str, value: Any) -> None:
        """``(define name 'value)``: bind ``name`` to Python data, recorded (so ``tape blame`` shows it)."""
        if type(name) is not str or not name or name.startswith(":"):
            raise UsageError(f"a name to define is a non-empty symbol name, not {name!r}")
        self.eval(to_source(make_list([Symbol("define"), Symbol(name), _literal(to_lisp(value))])), CALL_FILE)


def _settled(result: Any, raised: _Raised) -> Any:
    if raised.error is not None:
        raise raised.error
    return result


def _live_step(fn: Callable[..., Any], raised: _Raised) -> Callable[..., Any]:
    """The function the effect port calls: Lisp arguments in, a Lisp result out; what it raises is kept."""
    def run(*lisp_args: Any) -> Any:
        try:
            result = fn(*(to_python(a) for a in lisp_args))
        except Exception as e:
            raised.error = e
            raise
        try:
            return to_lisp(result)
        except UsageError as e:  # recorded as the step's failure, not an abort of the form
            raised.error = TypeError(f"the step returned what is not data: {e}")
            raise raised.error from None
    return run


def _finish(session: Recordable, name: str, text: str, raised: _Raised) -> Any:
    """Run the step's form; its result as Python, or StepFailed with the recorded outcome."""
    outcome = session.run(text, STEP_FILE, stop_on_error=True, render_values=False)[0]
    if not outcome.ok:
        error = StepFailed(name, outcome.seq, outcome.error_kind or "error", outcome.error_message or "")
        if raised.error is not None:
            raise error from raised.error
        raise error
    return to_python(outcome.value)


def _decorate(session: Recordable, name: str, fn: F) -> F:
    """``fn`` wrapped so that each call is a step named ``name`` (an async wrapper for a coroutine function)."""
    if inspect.iscoroutinefunction(fn):
        async def arecorded(*args: Any) -> Any:
            return await StepRecorder.astep(session, name, fn, *args)
        arecorded.__name__, arecorded.__doc__ = fn.__name__, fn.__doc__
        return arecorded  # type: ignore[return-value]

    def recorded(*args: Any) -> Any:
        return StepRecorder.step(session, name, fn, *args)
    recorded.__name__, recorded.__doc__ = fn.__name__, fn.__doc__
    return recorded  # type: ignore[return-value]


__all__ = ["Recordable", "StepFailed", "StepRecorder", "call_form", "step_form"]
