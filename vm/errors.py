"""The Python exceptions the Lisp VM raises to its host.

* :class:`VMError` (defined with the project's hierarchy in
  :mod:`tapevm.domain.errors`) is the root of every VM error.
* :class:`LispError` is an evaluation error.  It carries the first-class
  :class:`~tapevm.vm.values.ErrorValue` that ``catch`` binds, so a program can
  inspect what Python code sees (``kind``, ``message``, ``data``).
* :class:`ReadError` is a syntax error found by the reader; it names the line
  and the column.

Error kinds are short strings; the ones the VM itself raises are constants
below.  Messages are written for a person: they name the operation, what it
expected and what it got ("car: expected a list, got integer 5").
"""

from __future__ import annotations

from typing import Any

from tapevm.domain.errors import VMError  # the root: TapeError > VMError > LispError, ReadError
from tapevm.vm.printer import describe
from tapevm.vm.values import NIL, Closure, ErrorValue, Macro, Primitive, Symbol
from tapevm.vm.world import WorldError

# Error kinds raised by the VM (WorldError kinds pass through unchanged).
UNBOUND_SYMBOL = "unbound-symbol"
TYPE_ERROR = "type-error"
ARITY_ERROR = "arity-error"
DIVISION_BY_ZERO = "division-by-zero"
SYNTAX_ERROR = "syntax-error"
BAD_PATH = "bad-path"
FILE_NOT_FOUND = "file-not-found"
INDEX_ERROR = "index-error"
KEY_ERROR = "key-error"
USER = "user"
ASSIGNMENT_ERROR = "assignment-error"
ARITHMETIC_ERROR = "arithmetic-error"
VALUE_ERROR = "value-error"
STACK_OVERFLOW = "stack-overflow"
LIMIT_EXCEEDED = "limit-exceeded"  # a form past one of its limits (vm/limits.py)
INTERNAL_ERROR = "internal-error"


class LispError(VMError):
    """A Lisp error that no ``try``/``catch`` handled; ``error`` is the error value."""

    def __init__(self, error: ErrorValue) -> None:
        super().__init__(f"{error.kind}: {error.message}")
        self.error = error

    @property
    def kind(self) -> str:
        return self.error.kind

    @property
    def message(self) -> str:
        return self.error.message


class ReadError(VMError):
    """A syntax error in source text, at ``line`` and ``column`` (both 1-based)."""

    exit_code = 2

    def __init__(
        self, message: str, line: int, column: int, filename: str = "<input>", *, incomplete: bool = False
    ) -> None:
        where = f"{filename}, " if filename and not filename.startswith("<") else ""
        super().__init__(f"syntax error: {message} at {where}line {line}, column {column}")
        self.reason = message
        self.line = line
        self.column = column
        self.filename = filename
        # True when more input could complete the source (an open list or string):
        # the REPL keeps reading instead of reporting.
        self.incomplete = incomplete


def lisp_error(kind: str, message: str, data: Any = NIL) -> LispError:
    """A LispError of ``kind`` (to be raised by the caller)."""
    return LispError(ErrorValue(kind, message, data))


def type_error(who: str, expected: str, got: Any) -> LispError:
    """``who: expected <expected>, got <description of got>``."""
    return LispError(ErrorValue(TYPE_ERROR, f"{who}: expected {expected}, got {describe(got)}"))


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def arity_message(who: str, min_args: int, max_args: int | None, got: int) -> str:
    """``f: expected 2 arguments, got 1`` (or "at least" / "between")."""
    if max_args is None:
        expected = f"at least {plural(min_args, 'argument')}"
    elif min_args == max_args:
        expected = plural(min_args, "argument")
    else:
        expected = f"{min_args} to {plural(max_args, 'argument')}"
    return f"{who}: expected {expected}, got {got}"


def closure_arity_error(fn: Closure, n: int) -> LispError:
    """A closure called with ``n`` arguments, which its parameters do not accept."""
    code = fn.code
    most = None if code.rest is not None else code.nreq
    return lisp_error(ARITY_ERROR, arity_message(fn.name or "anonymous function", code.nreq, most, n))


def primitive_type_error(fn: Primitive, args: list[Any], exc: TypeError) -> LispError:
    """A TypeError out of a primitive: a wrong number of arguments, or a bug."""
    n = len(args)
    if n < fn.min_args or (fn.max_args is not None and n > fn.max_args):
        return lisp_error(ARITY_ERROR, arity_message(fn.name, fn.min_args, fn.max_args, n))
    return lisp_error(TYPE_ERROR, f"{fn.name}: {exc}")


def not_callable(fn: Any) -> LispError:
    """A call of something that is not a function (a macro gets its own explanation)."""
    if type(fn) is Macro:
        return lisp_error(
            TYPE_ERROR,
            f"cannot call macro {fn.name} as a function (macros are expanded when code is compiled: "
            "was the code compiled before the macro was defined?)",
        )
    return lisp_error(TYPE_ERROR, f"cannot call {describe(fn)}: it is not a function")


def error_value_of(exc: Exception) -> ErrorValue:
    """The Lisp error value ``catch`` binds for a Python exception raised while evaluating.

    The machine's contract: no exception of a primitive or of the world escapes a
    form as a Python error; each becomes a catchable value (a bug in a primitive is
    an ``internal-error``).  :class:`LispError` carries its own value and is not
    passed here.
    """
    if isinstance(exc, LispError):
        return exc.error
    if isinstance(exc, WorldError):
        return ErrorValue(exc.kind, exc.message)
    if isinstance(exc, RecursionError):
        return ErrorValue(STACK_OVERFLOW, "too many nested evaluations (Python stack exhausted)")
    if isinstance(exc, ZeroDivisionError):
        return ErrorValue(DIVISION_BY_ZERO, "division by zero")
    if isinstance(exc, OverflowError):
        reason = str(exc.args[-1]) if exc.args else "overflow"
        return ErrorValue(ARITHMETIC_ERROR, f"number too large ({reason})")
    if isinstance(exc, KeyError):
        key = exc.args[0] if exc.args else None
        if type(key) is Symbol:
            return ErrorValue(UNBOUND_SYMBOL, f"{key.name} is used before its definition")
        return ErrorValue(INTERNAL_ERROR, f"internal error: KeyError {exc}")
    return ErrorValue(INTERNAL_ERROR, f"internal error: {type(exc).__name__}: {exc}")
