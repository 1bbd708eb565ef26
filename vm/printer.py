"""Printing values: ``to_source`` (re-readable for data) and ``display`` (for people).

* :func:`to_source` writes data so that the reader gives an equal value back:
  strings are quoted and escaped, symbols that would not read back as
  themselves are written ``|like this|``, floats keep full precision
  (``+inf.0``, ``-inf.0``, ``+nan.0`` for the special values).  Functions,
  macros, atoms and errors print as ``#<...>``, which the reader refuses.
* :func:`display` is what ``print``/``println``/``str`` show: a string is
  written as its characters, a symbol or keyword as its name; anything else
  as :func:`to_source`.
* :func:`describe` names a value's type and shows a short excerpt, for error
  messages: ``integer 5``, ``string "abc"``, ``list (1 2 3)``.

Printing is iterative, so a list nested 100,000 deep prints without
exhausting the Python stack.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from tapevm.vm.numtext import float_to_text, int_to_text, parse_number
from tapevm.vm.values import (
    NIL,
    Atom,
    Closure,
    Env,
    ErrorValue,
    Keyword,
    LMap,
    Macro,
    NilType,
    Pair,
    Primitive,
    Symbol,
    map_items,
    type_name,
)

# Characters that end a plain symbol token (besides whitespace).
DELIMITERS = frozenset("()[]{}\"';`,|")
_READER_CONSTANTS = frozenset({"nil", "true", "false", "."})

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}
_BAR_ESCAPES = {"|": "\\|", "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}

# A two-element list headed by one of these symbols prints as the prefix and its second element.
QUOTE_PREFIXES = {
    Symbol("quote"): "'",
    Symbol("quasiquote"): "`",
    Symbol("unquote"): ",",
    Symbol("unquote-splicing"): ",@",
}


class Raw(str):
    """Literal output text on a printing walk's work stack (as opposed to a value or an encoding)."""

    __slots__ = ()


_OPEN, _CLOSE, _SPACE, _DOT = Raw("("), Raw(")"), Raw(" "), Raw(" . ")
_VOPEN, _VCLOSE, _MOPEN, _MCLOSE = Raw("["), Raw("]"), Raw("{"), Raw("}")


def to_source(value: Any, limit: int | None = None) -> str:
    """Re-readable text of a data value; with ``limit``, cut to about that many characters + ``...``."""
    return _render(value, limit)


def display(value: Any) -> str:
    """Human text: strings unquoted, symbols and keywords by name, the rest as :func:`to_source`."""
    t = type(value)
    if t is str:
        return value  # type: ignore[no-any-return]
    if t is Symbol:
        return value.name  # type: ignore[no-any-return]
    if t is Keyword:
        return ":" + value.name  # type: ignore[no-any-return]
    return _render(value, None)


def describe(value: Any, limit: int = 60) -> str:
    """Type and short excerpt of a value, for error messages (``integer 5``)."""
    t = type(value)
    if value is NIL:
        return "nil"
    if t is Closure or t is Primitive:
        return f"function {value.name or 'anonymous'}"
    if t is Macro:
        return f"macro {value.name or 'anonymous'}"
    return f"{type_name(value)} {_render(value, limit)}"


def string_literal(s: str) -> str:
    """``s`` as a Lisp string literal, with escapes."""
    if s.isprintable() and '"' not in s and "\\" not in s:
        return '"' + s + '"'
    return '"' + _escape(s, _ESCAPES) + '"'


def symbol_text(name: str) -> str:
    """A symbol's name as it must be written to read back as that symbol."""
    if _is_plain_symbol(name):
        return name
    return "|" + _escape(name, _BAR_ESCAPES) + "|"


def keyword_text(name: str) -> str:
    if name and name.isprintable() and not any(ch in DELIMITERS or ch.isspace() for ch in name):
        return ":" + name
    return ":|" + _escape(name, _BAR_ESCAPES) + "|"


def _escape(s: str, table: dict[str, str]) -> str:
    out = []
    for ch in s:
        esc = table.get(ch)
        if esc is not None:
            out.append(esc)
        elif ch.isprintable():
            out.append(ch)
        else:
            code = ord(ch)
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\u{{{code:x}}}")
    return "".join(out)


def _is_plain_symbol(name: str) -> bool:
    if not name or name in _READER_CONSTANTS or not name.isprintable():
        return False
    first = name[0]
    if first in ":#@" or first.isspace():
        return False
    for ch in name:
        if ch in DELIMITERS or ch.isspace():
            return False
    return parse_number(name) is None


def _atom_text(value: Any) -> str:
    """Text of a value that has no parts to print."""
    t = type(value)
    if t is int:
        return int_to_text(value)
    if t is str:
        return string_literal(value)
    if t is Symbol:
        return symbol_text(value.name)
    if t is Keyword:
        return keyword_text(value.name)
    if t is bool:
        return "#t" if value else "#f"
    if t is float:
        return float_to_text(value)
    if t is NilType:
        return "nil"
    if t is Closure:
        return f"#<function {value.name or 'anonymous'}>"
    if t is Primitive:
        return f"#<primitive {value.name}>"
    if t is Macro:
        return f"#<macro {value.name or 'anonymous'}>"
    if t is Atom:
        return f"#<atom {value.id}>"
    if t is ErrorValue:
        return f"#<error {value.kind}: {value.message}>"
    if t is Env:
        return "#<environment>"
    if value is None:
        return "#<none>"
    return f"#<{type_name(value)}>"


def _render(value: Any, limit: int | None) -> str:
    """The text of ``value``, iteratively: compound values push their parts (and the
    punctuation between them) on a work stack instead of recursing.

    With ``limit``, a compound value is opened one element at a time (:class:`ElementRun`), so the
    work stops with the text at the limit: a form's result cut for the log costs the limit,
    not the length of the value (a list of a million elements is not walked to print 200
    characters of it)."""
    out: list[str] = []
    size = 0
    stack: list[Any] = [value]
    pop, push = stack.pop, stack.append
    lazy = limit is not None
    while stack:
        item = pop()
        t = type(item)
        if t is Raw:
            text = item
        elif t is ElementRun:
            text = item.step(push)
        elif t is Pair:
            text = _open_list_lazily(item, push) if lazy else _open_list(item, push)
        elif t is tuple:
            text = _open_lazily(_VOPEN, iter(item), _VCLOSE, push) if lazy else _open_vector(item, push)
        elif t is LMap:
            text = (_open_lazily(_MOPEN, iter(map_items(item)), _MCLOSE, push, pairs=True) if lazy
                    else _open_map(item, push))
        else:
            text = _atom_text(item)
        out.append(text)
        size += len(text)
        if limit is not None and size > limit:
            return "".join(out)[:limit] + "..."
    return "".join(out)


class ElementRun:
    """The elements of a compound value still to print, one taken per step (bounded printing: this
    printer's walk over live values, and ``vm/value_preview``'s over stored encodings).

    ``items`` yields elements, or ``(key, value)`` entries of a map (``pairs``); a list's dotted
    tail comes as a :class:`Tail`.  Each step pushes itself back, then the next element, and
    returns the space before that element (a :class:`Raw`); the last step returns the closing text."""

    __slots__ = ("close", "first", "items", "pairs")

    def __init__(self, items: Iterator[Any], close: str, pairs: bool = False) -> None:
        self.items, self.close, self.pairs, self.first = items, Raw(close), pairs, True

    def step(self, push: Callable[[Any], None]) -> str:
        element: Any = next(self.items, _END)
        if element is _END:
            return self.close
        push(self)
        space = "" if self.first else " "
        self.first = False
        if type(element) is Tail:
            push(element.value)
            return _DOT
        if self.pairs:
            key, value = element
            push(value)
            push(_SPACE)
            push(key)
        else:
            push(element)
        return space


class Tail:
    """The tail of a dotted list, as the last thing a list's :class:`ElementRun` yields."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


_END = object()


def _list_elements(node: Any) -> Iterator[Any]:
    while type(node) is Pair:
        yield node.car
        node = node.cdr
    if node is not NIL:
        yield Tail(node)


def _open_list_lazily(item: Pair, push: Callable[[Any], None]) -> str:
    head, rest = item.car, item.cdr
    prefix = QUOTE_PREFIXES.get(head) if type(head) is Symbol else None
    if prefix is not None and type(rest) is Pair and rest.cdr is NIL:
        push(rest.car)
        return prefix
    return _open_lazily(_OPEN, _list_elements(item), _CLOSE, push)


def _open_lazily(opening: Raw, items: Iterator[Any], close: Raw, push: Callable[[Any], None],
                 pairs: bool = False) -> str:
    push(ElementRun(items, close, pairs))
    return opening


def _open_list(item: Pair, push: Callable[[Any], None]) -> str:
    """Push a list's elements and closing text; the text that opens it (``(``, or a quote prefix)."""
    head = item.car
    rest = item.cdr
    prefix = QUOTE_PREFIXES.get(head) if type(head) is Symbol else None
    if prefix is not None and type(rest) is Pair and rest.cdr is NIL:
        push(rest.car)
        return prefix
    items = []
    node: Any = item
    while type(node) is Pair:
        items.append(node.car)
        node = node.cdr
    push(_CLOSE)
    if node is not NIL:
        push(node)
        push(_DOT)
    for i in range(len(items) - 1, 0, -1):
        push(items[i])
        push(_SPACE)
    push(items[0])
    return "("


def _open_vector(item: tuple[Any, ...], push: Callable[[Any], None]) -> str:
    push(_VCLOSE)
    for i in range(len(item) - 1, -1, -1):
        push(item[i])
        if i:
            push(_SPACE)
    return "["


def _open_map(item: LMap, push: Callable[[Any], None]) -> str:
    entries = list(map_items(item))
    push(_MCLOSE)
    for i in range(len(entries) - 1, -1, -1):
        k, v = entries[i]
        push(v)
        push(_SPACE)
        push(k)
        if i:
            push(_SPACE)
    return "{"
