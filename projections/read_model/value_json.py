"""Stored values as readable JSON, for the read model's ``value_json`` columns and ``tape_json(value)``.

The log keeps a compound value as ``["@", key]``, which says nothing to someone reading a SQL
result.  :func:`readable` gives the JSON a reader expects instead: numbers (integers beyond
2^53 as their digits in a string), strings, ``true``/``false``, ``null`` for ``nil`` (the empty
list), lists and vectors as arrays, maps as objects (a string key as itself, any other key as
its Lisp source: ``{:a 1}`` is ``{":a": 1}``), keywords as ``":k"``, symbols as their names,
and what JSON has no form for (functions, atoms, errors, a dotted list, a float that is not
finite) as its Lisp source in a string.  It is for reading, not a round trip: the ``value``
column keeps the encoding itself.

Bounded: with a ``limit`` the JSON text is cut at about that many characters (arrays and
objects end early, a long string is cut) and ``truncated`` says so; ``tape_json(value)`` in a
query gives the whole.  Decoding is the :class:`ValueJson`'s, over a node lookup its caller
gives (the read model's ``content`` table), with the decoder's cache shared by every value it
converts, so a list that grew by one element decodes one new chunk.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import orjson

from tapevm.domain.content import MAX_SAFE_INT
from tapevm.vm.interpreter import Interpreter
from tapevm.vm.printer import to_source
from tapevm.vm.value_codec import ValueDecoder
from tapevm.vm.values import NIL, Atom, Keyword, LMap, Pair, Symbol, map_items
from tapevm.vm.world import World

LIMIT = 1_000  # characters of JSON text a value_json column holds, about (then "truncated")
MAX_DEPTH = 64  # nesting shown as JSON; deeper, the rest is the value's Lisp source in a string


class ValueJson:
    """Converts encoded values to readable JSON text; ``lookup`` finds a node's bytes by key."""

    def __init__(self, lookup: Callable[[str], bytes]) -> None:
        world = World()
        interpreter = Interpreter(world)

        def atom(atom_id: int) -> Atom:
            found = world.atoms.get(atom_id)
            if found is None:
                found = world.atoms[atom_id] = Atom(atom_id, None)
            return found

        self.decoder = ValueDecoder(lookup, interpreter.make_closure, interpreter.primitive, atom)

    def text(self, enc: Any, limit: int | None = LIMIT) -> tuple[str, bool]:
        """``enc`` as JSON text (cut at about ``limit`` characters; None: whole) and whether it was cut.
        A value that cannot be decoded is a JSON string naming why (one bad value must not stop a batch)."""
        try:
            value = self.decoder.decode(enc)
        except Exception as e:  # noqa: BLE001 (shown, as StatePrinter shows an undecodable value)
            return orjson.dumps(f"#<undecodable {type(e).__name__}>").decode(), False
        out, truncated = readable(value, limit)
        return orjson.dumps(out).decode(), truncated


def readable(value: Any, limit: int | None = None) -> tuple[Any, bool]:
    """``value`` as a JSON-ready Python object, and whether ``limit`` cut it."""
    conv = _Converter(limit)
    return conv.convert(value, 0), conv.truncated


class _Converter:
    def __init__(self, limit: int | None) -> None:
        self.left = math.inf if limit is None else limit
        self.truncated = False

    def _spend(self, n: int) -> None:
        self.left -= n

    def convert(self, value: Any, depth: int) -> Any:
        t = type(value)
        if value is NIL or value is None:
            self._spend(4)
            return None
        if t is bool or (t is int and -MAX_SAFE_INT < value < MAX_SAFE_INT):
            self._spend(len(str(value)))
            return value
        if t is float and math.isfinite(value):
            self._spend(len(repr(value)))
            return value
        if t is str:
            return self._string(value)
        if t is Keyword:
            return self._string(":" + value.name)
        if t is Symbol:
            return self._string(value.name)
        if depth < MAX_DEPTH:
            if t is Pair and _proper(value):
                return self._array(_elements(value), depth)
            if t is tuple:
                return self._array(iter(value), depth)
            if t is LMap:
                return self._object(value, depth)
        return self._string(to_source(value, None if self.left == math.inf else max(int(self.left), 1)))

    def _string(self, s: str) -> str:
        if len(s) + 2 > self.left:
            s = s[:max(int(self.left) - 2, 0)]
            self.truncated = True
        self._spend(len(s) + 2)
        return s

    def _array(self, items: Any, depth: int) -> list[Any]:
        out: list[Any] = []
        self._spend(2)
        for item in items:
            if self.left <= 0:
                self.truncated = True
                break
            out.append(self.convert(item, depth + 1))
            self._spend(1)
        return out

    def _object(self, m: LMap, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        self._spend(2)
        for key, item in map_items(m):
            if self.left <= 0:
                self.truncated = True
                break
            name = key if type(key) is str else to_source(key)
            self._spend(len(name) + 4)
            out[name] = self.convert(item, depth + 1)
        return out


def _elements(pair: Any) -> Any:
    while type(pair) is Pair:
        yield pair.car
        pair = pair.cdr


def _proper(pair: Any) -> bool:
    """A list that ends in nil (a dotted list has no JSON form).  Walks the list once; the arrays
    built from it stop at the limit, but this check does not (a cost linear in the list, as the
    decoding before it)."""
    while type(pair) is Pair:
        pair = pair.cdr
    return pair is NIL
