"""Type predicates and ``not``.  (Numeric predicates like ``zero?`` are in :mod:`numbers`.)"""

from __future__ import annotations

from typing import Any

from tapevm.vm.primitives.registry import primitive
from tapevm.vm.primitives.support import truthy
from tapevm.vm.values import (
    NIL,
    Atom,
    Closure,
    ErrorValue,
    Keyword,
    LMap,
    Macro,
    Pair,
    Primitive,
    Symbol,
)


@primitive("not")
def not_(x: Any) -> bool:
    return not truthy(x)


@primitive("null?", "nil?")
def null(x: Any) -> bool:
    return x is NIL


@primitive("some?")
def some_value(x: Any) -> bool:
    """Anything but nil (#f included)."""
    return x is not NIL


@primitive("pair?")
def pair(x: Any) -> bool:
    return type(x) is Pair


@primitive("list?")
def list_(x: Any) -> bool:
    """A proper list (nil included)."""
    node = x
    while type(node) is Pair:
        node = node.cdr
    return node is NIL


@primitive("vector?")
def vector(x: Any) -> bool:
    return type(x) is tuple


@primitive("map?")
def map_(x: Any) -> bool:
    return type(x) is LMap


@primitive("string?")
def string(x: Any) -> bool:
    return type(x) is str


@primitive("symbol?")
def symbol(x: Any) -> bool:
    return type(x) is Symbol


@primitive("keyword?")
def keyword(x: Any) -> bool:
    return type(x) is Keyword


@primitive("number?")
def number(x: Any) -> bool:
    t = type(x)
    return t is int or t is float


@primitive("integer?")
def integer(x: Any) -> bool:
    """An exact integer (``(integer? 2.0)`` is #f)."""
    return type(x) is int


@primitive("float?")
def float_(x: Any) -> bool:
    return type(x) is float


@primitive("boolean?")
def boolean(x: Any) -> bool:
    return type(x) is bool


@primitive("fn?", "procedure?")
def fn(x: Any) -> bool:
    return type(x) is Closure or type(x) is Primitive


@primitive("macro?")
def macro(x: Any) -> bool:
    return type(x) is Macro


@primitive("atom?")
def atom(x: Any) -> bool:
    return type(x) is Atom


@primitive("error?")
def error(x: Any) -> bool:
    return type(x) is ErrorValue


@primitive("empty?")
def empty(x: Any) -> bool:
    """nil, or an empty vector, map or string."""
    if x is NIL:
        return True
    t = type(x)
    if t is tuple or t is str or t is LMap:
        return len(x) == 0
    return False
