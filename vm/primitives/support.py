"""Argument checks and conversions shared by the primitive modules."""

from __future__ import annotations

from typing import Any

from tapevm.vm.errors import INDEX_ERROR, TYPE_ERROR, lisp_error, primitive_type_error, type_error
from tapevm.vm.printer import describe
from tapevm.vm.values import NIL, ErrorValue, LMap, Pair, Primitive, map_items

NO_ARG: Any = object()
"""Default of optional parameters that may legitimately be given nil."""


def is_number(x: Any) -> bool:
    t = type(x)
    return t is int or t is float


def number(x: Any, who: str) -> int | float:
    t = type(x)
    if t is int or t is float:
        return x  # type: ignore[no-any-return]
    raise type_error(who, "a number", x)


def integer(x: Any, who: str) -> int:
    if type(x) is int:
        return x
    raise type_error(who, "an integer", x)


def string(x: Any, who: str) -> str:
    if type(x) is str:
        return x
    raise type_error(who, "a string", x)


def lmap(x: Any, who: str) -> LMap:
    if type(x) is LMap:
        return x
    if x is NIL:
        return LMap()
    raise type_error(who, "a map", x)


def list_items(x: Any, who: str) -> list[Any]:
    """The elements of a proper list (nil is empty)."""
    items = []
    node = x
    while type(node) is Pair:
        items.append(node.car)
        node = node.cdr
    if node is not NIL:
        if type(x) is Pair:
            raise lisp_error(TYPE_ERROR, f"{who}: expected a proper list, got the dotted list {describe(x)}")
        raise type_error(who, "a list", x)
    return items


def seq_items(x: Any, who: str) -> list[Any]:
    """Elements of a list or vector; a map gives its entries as [key value] vectors."""
    t = type(x)
    if t is tuple:
        return list(x)
    if t is Pair or x is NIL:
        items = []
        node = x
        while type(node) is Pair:
            items.append(node.car)
            node = node.cdr
        if node is not NIL:
            raise lisp_error(TYPE_ERROR, f"{who}: expected a proper list, got the dotted list {describe(x)}")
        return items
    if t is LMap:
        return [(k, v) for k, v in map_items(x)]
    raise type_error(who, "a list or vector", x)


def index(i: Any, size: int, who: str, kind: str = "list") -> int:
    """A valid index into a sequence of ``size`` elements."""
    if type(i) is not int:
        raise type_error(who, "an integer index", i)
    if not 0 <= i < size:
        raise lisp_error(INDEX_ERROR, f"{who}: index {i} is out of range for a {kind} of length {size}")
    return i


def plain(fn: Any) -> bool:
    """A primitive that can be called directly from Python (it never needs the machine)."""
    return type(fn) is Primitive and not fn.needs_machine


def call_plain(fn: Primitive, args: list[Any]) -> Any:
    try:
        return fn.fn(*args)
    except TypeError as exc:
        raise primitive_type_error(fn, args, exc) from None


def error_value(x: Any, who: str) -> ErrorValue:
    if type(x) is ErrorValue:
        return x
    raise type_error(who, "an error value", x)


def truthy(x: Any) -> bool:
    return x is not False and x is not NIL

