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
from tapevm.vm.values import NIL, ErrorValue

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
    from tapevm.vm.printer import describe

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
