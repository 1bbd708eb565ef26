"""Lisp values <-> plain Python data, for programs that drive a session from Python.

A Python agent passes its values into forms as data (``Session.call``, a
step's arguments) and reads results back as Python (``Session.eval``'s value
through :func:`to_python`), so no Python value is ever pasted into Lisp text.

The mapping (``to_python`` of a Lisp value; ``to_lisp`` is its inverse on
Python data):

=====================  =====================  =========================================
Lisp                   Python                 note
=====================  =====================  =========================================
``nil`` / ``()``       ``None``               Lisp has one empty list: ``[]`` comes back as ``None``
``#t`` / ``#f``        ``True`` / ``False``
integer, float         ``int``, ``float``     integers of any size
string                 ``str``
symbol, keyword        ``str`` (the name)     ``:k`` and ``k`` both become ``"k"``
list ``(a b)``         ``list``               a dotted list is not data (refused)
vector ``[a b]``       ``tuple``              JSON writes it as an array
map ``{k v}``          ``dict``               keys converted too (a list key becomes a tuple)
error value            ``dict``               ``{"kind", "message", "data"}``
=====================  =====================  =========================================

Functions, macros, primitives and atoms are not data: :func:`to_python`
refuses them with a :class:`~tapevm.domain.errors.UsageError` naming the
value (print it with :func:`tapevm.vm.printer.to_source` instead).  The law a
property test holds: ``to_python(to_lisp(x)) == x`` for every Python value
built from ``None``, ``bool``, ``int``, ``float`` (not NaN), ``str``, non-empty
``list``, ``tuple`` and ``dict`` with such keys; and every result of
``to_python`` goes through ``json.dumps``.
"""

from __future__ import annotations

from typing import Any

from tapevm.domain.errors import UsageError
from tapevm.vm.printer import to_source
from tapevm.vm.values import NIL, ErrorValue, Keyword, LMap, Pair, Symbol, make_list, map_items


def to_python(value: Any) -> Any:
    """A Lisp value as plain Python data (see the module's table); a UsageError for a value that is not data."""
    t = type(value)
    if value is NIL or value is None:
        return None
    if t is bool or t is int or t is float or t is str:
        return value
    if t is Symbol or t is Keyword:
        return value.name
    if t is Pair:
        items = []
        while type(value) is Pair:
            items.append(to_python(value.car))
            value = value.cdr
        if value is not NIL:
            raise UsageError(f"a dotted list is not data Python can hold: {to_source(value, 80)} ends the list")
        return items
    if t is tuple:
        return tuple(to_python(v) for v in value)
    if t is LMap:
        return {_hashable(to_python(k)): to_python(v) for k, v in map_items(value)}
    if t is ErrorValue:
        return {"kind": value.kind, "message": value.message, "data": to_python(value.data)}
    raise UsageError(f"{to_source(value, 80)} is not data (a {type(value).__name__}): "
                     "only nil, booleans, numbers, strings, symbols, keywords, lists, vectors and maps convert")


def _hashable(key: Any) -> Any:
    """A converted map key Python can hash: a list (a Lisp list key) becomes a tuple."""
    if type(key) is list:
        return tuple(_hashable(k) for k in key)
    if type(key) is dict:
        return tuple((k, _hashable(v)) for k, v in key.items())
    return key


def to_lisp(value: Any) -> Any:
    """Python data as a Lisp value (the inverse of :func:`to_python`); Lisp values pass through.

    A UsageError for what is not data (an object, a set, bytes) and for a string
    that is not UTF-8 text (a lone surrogate no event could hold).
    """
    t = type(value)
    if value is None:
        return NIL
    if t is bool or t is int or t is float:
        return value
    if t is str:
        return _text(value)
    if t is list:
        return make_list([to_lisp(v) for v in value])
    if t is tuple:
        return tuple(to_lisp(v) for v in value)
    if t is dict:
        return LMap((to_lisp(k), to_lisp(v)) for k, v in value.items())
    if t in (Symbol, Keyword, Pair, LMap, ErrorValue) or value is NIL:
        return value
    raise UsageError(f"a {type(value).__name__} is not data a form can take: give None, bool, int, float, "
                     "str, list, tuple or dict")


def _text(s: str) -> str:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError as e:
        raise UsageError(f"a string with U+{ord(s[e.start]):04X} at character {e.start} is not UTF-8 text") from None
    return s


def quoted(value: Any) -> Any:
    """``(quote value)``: a Lisp value as a form that evaluates to itself, whatever it holds."""
    return make_list([Symbol("quote"), value])
