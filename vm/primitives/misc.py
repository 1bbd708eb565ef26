"""Errors, symbols, types, and the evaluator itself (``eval``, ``read-string``, ``macroexpand``)."""

from __future__ import annotations

from typing import Any

from tapevm.vm.errors import SYNTAX_ERROR, TYPE_ERROR, USER, LispError, ReadError, lisp_error, type_error
from tapevm.vm.primitives.registry import primitive
from tapevm.vm.primitives.support import error_value, string
from tapevm.vm.printer import display
from tapevm.vm.reader import read_one
from tapevm.vm.requests import EvalCode
from tapevm.vm.values import NIL, ErrorValue, Keyword, Symbol, make_list, type_name


@primitive("identity")
def identity(x: Any) -> Any:
    return x


@primitive("type-of")
def type_of(x: Any) -> Symbol:
    """The type's name as a symbol: integer float string symbol keyword boolean nil list
    vector map function macro atom error."""
    return Symbol(type_name(x))


@primitive("gensym", needs_machine=True)
def gensym(m: Any, prefix: Any = "g") -> Symbol:
    """A fresh symbol ``prefix__N``; N counts up per interpreter, so runs are reproducible."""
    if type(prefix) is Symbol:
        prefix = prefix.name
    return Symbol(f"{string(prefix, 'gensym')}__{m.interp.next_gensym()}")


# -- errors ---------------------------------------------------------------------------
def _kind_name(kind: Any) -> str:
    if type(kind) is Symbol or type(kind) is Keyword:
        return kind.name
    if type(kind) is str and kind:
        return kind
    raise type_error("raise", "an error kind (a symbol, keyword or string)", kind)


@primitive("raise", "throw")
def raise_(what: Any, message: Any = None, data: Any = NIL) -> Any:
    """Raise an error.

    * ``(raise "message")``: kind ``user``;
    * ``(raise 'kind "message")`` or ``(raise 'kind "message" data)``;
    * ``(raise e)`` with an error value (re-raise what ``catch`` bound);
    * ``(raise value)``: kind ``user``, the value as data.
    """
    if message is None:
        if type(what) is ErrorValue:
            raise LispError(what)
        if type(what) is str:
            raise LispError(ErrorValue(USER, what))
        raise LispError(ErrorValue(USER, display(what), what))
    text = message if type(message) is str else display(message)
    raise LispError(ErrorValue(_kind_name(what), text, data))


@primitive("make-error")
def make_error(kind: Any, message: Any, data: Any = NIL) -> ErrorValue:
    """An error value, without raising it."""
    return ErrorValue(_kind_name(kind), string(message, "make-error"), data)


@primitive("error-kind")
def error_kind(e: Any) -> Symbol:
    """The error's kind as a symbol (``type-error``, ``user``...)."""
    return Symbol(error_value(e, "error-kind").kind)


@primitive("error-message")
def error_message(e: Any) -> str:
    return error_value(e, "error-message").message


@primitive("error-data")
def error_data(e: Any) -> Any:
    return error_value(e, "error-data").data


# -- the evaluator ------------------------------------------------------------------------
@primitive("read-string")
def read_string(text: Any) -> Any:
    """The first form written in a string, as data (not evaluated)."""
    try:
        return read_one(string(text, "read-string"))
    except ReadError as exc:
        raise lisp_error(SYNTAX_ERROR, f"read-string: {exc}") from None


@primitive("eval", needs_machine=True)
def eval_(m: Any, form: Any) -> Any:
    """Evaluate a form (data) at top level of the current namespace."""
    return EvalCode(m.interp.compile(form))


@primitive("macroexpand", needs_machine=True)
def macroexpand(m: Any, form: Any) -> Any:
    """The form with every macro expanded (the code the compiler sees)."""
    return m.interp.expand(form)


@primitive("error")
def error(message: Any, *irritants: Any) -> Any:
    """Scheme-style ``(error "message" value...)``: raises a ``user`` error; the values are appended
    to the message and kept as the error's data."""
    if type(message) is not str:
        raise lisp_error(TYPE_ERROR, "error: the first argument must be a message string")
    text = " ".join([message, *(display(x) for x in irritants)])
    raise LispError(ErrorValue(USER, text, make_list(irritants)))
