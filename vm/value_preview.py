"""A stored value's printed start, read one node at a time: what the log shows of a value.

``to_source(decoder.decode(enc), limit)`` decodes the whole value before printing the first
``limit`` characters of it: ``tape log`` of a session whose agent conses a message onto a list
each turn decoded and walked the whole list at every ``Assigned`` event, so the log took time
quadratic in turns.  :func:`preview` walks the *encoding* instead, with the printer's own
rule (text cut at ``limit``, then ``...``):

* a list is read chunk by chunk, each chunk's node parsed when the text reaches it;
* a vector or map starts at the first chunk of its chain (chunks are chained backwards from
  the last): the chain is followed by key, each skipped node's prefix found at the end of its
  bytes without parsing it, so only the chunks the text shows are parsed;
* a long string (a TEXT node) is cut before it is escaped;
* a closure, macro, error or environment prints from its node alone (its name, or kind and
  message), never by decoding (and compiling) what it captured.

Its text is exactly ``to_source(decoder.decode(enc), limit)`` (a property test holds it to
that), and with a limit the work is bounded by the limit, not the value: at most about
``limit`` elements decoded and a handful of nodes parsed.  The one exception is a value inside
a cyclic group (closures and frames that refer to each other, and data held among them): it is
decoded by the decoder, then printed under the limit.  Without a limit, :func:`preview` is the
whole text (the decoder's cache keeps shared structure decoded once).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from tapevm.domain.content import (
    CLOSURE,
    ERROR,
    FRAME,
    GROUP,
    LIST_CHUNK,
    MACRO,
    MAP_CHUNK,
    REF,
    SYMBOL,
    TEXT,
    VECTOR_CHUNK,
)
from tapevm.domain.errors import ValueCodecError
from tapevm.vm.printer import QUOTE_PREFIXES, ElementRun, Raw, Tail, string_literal, to_source
from tapevm.vm.value_decoder import ValueDecoder
from tapevm.vm.values import NIL, Pair, Symbol


@dataclass(frozen=True)
class ValuePreview:
    """A value as the log shows it: ``text`` (cut at the limit, then ``...``, when ``truncated``)
    and ``ref``, the content key of the value's node (None for a value stored inline, which is
    never longer than its encoding), by which the whole value can be asked for."""

    text: str
    truncated: bool
    ref: str | None

    def as_json(self) -> dict[str, Any]:
        return {"value": self.text, "truncated": self.truncated, "ref": self.ref}


def preview(decoder: ValueDecoder, enc: Any, limit: int | None) -> ValuePreview:
    """``enc`` printed as Lisp source, cut at ``limit`` characters (None: whole)."""
    ref = enc[1] if type(enc) is list and len(enc) == 2 and enc[0] == REF and type(enc[1]) is str else None
    if limit is None:
        return ValuePreview(to_source(decoder.decode(enc)), False, ref)
    text = _Walk(decoder, limit).run(enc)
    return ValuePreview(text, len(text) > limit, ref)


class _Live:
    """A value decoded whole (a member of a cyclic group), printed by the printer under the limit."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


_OPEN = {LIST_CHUNK: "(", VECTOR_CHUNK: "[", MAP_CHUNK: "{"}
_CLOSE = {LIST_CHUNK: ")", VECTOR_CHUNK: "]", MAP_CHUNK: "}"}
_PREFIX_MARK = b'["' + REF.encode() + b'","'


class _Walk:
    """One bounded printing of one encoding: a work stack of encodings, texts and element runs."""

    def __init__(self, decoder: ValueDecoder, limit: int) -> None:
        self.decoder, self.limit = decoder, limit
        self.out: list[str] = []
        self.size = 0

    def run(self, enc: Any) -> str:
        stack: list[Any] = [enc]
        push = stack.append
        while stack:
            item = stack.pop()
            t = type(item)
            if t is Raw:
                text: str = item
            elif t is ElementRun:
                text = item.step(push)
            elif t is _Live:
                text = to_source(item.value, self.limit - self.size)
            else:
                text = self._open(item, push)
            self.out.append(text)
            self.size += len(text)
            if self.size > self.limit:
                return "".join(self.out)[: self.limit] + "..."
        return "".join(self.out)

    def _open(self, enc: Any, push: Callable[[Any], None]) -> str:
        """The text that starts ``enc``; what follows it is pushed."""
        if type(enc) is not list or not enc or enc[0] != REF or type(enc[1]) is not str:
            return to_source(self.decoder.decode(enc), self.limit - self.size)  # inline: bounded by its encoding
        node = self.decoder.parse_node(enc[1])
        tag = node[0] if type(node) is list and node else None
        if tag == TEXT and type(node[1]) is str:
            text: str = node[1]
            room = self.limit - self.size
            return string_literal(text[: room + 1] if len(text) > room + 1 else text)  # escapes only lengthen it
        if tag == LIST_CHUNK:
            return self._open_list(node, push)
        if tag in (VECTOR_CHUNK, MAP_CHUNK):
            push(ElementRun(self._chained(node), _CLOSE[tag], pairs=tag == MAP_CHUNK))
            return _OPEN[tag]
        shown = self._object_text(tag, node)
        if shown is not None:
            return shown
        return to_source(self.decoder.decode(enc), self.limit - self.size)

    def _open_list(self, node: list[Any], push: Callable[[Any], None]) -> str:
        items = self._list_elements(node)
        head = [x for _, x in zip(range(3), items)]  # a quoted form is a list of exactly two
        if len(head) == 2 and type(head[1]) is not Tail:
            symbol = _symbol(head[0])
            prefix = None if symbol is None else QUOTE_PREFIXES.get(symbol)
            if prefix is not None:
                push(head[1])
                return prefix
        push(ElementRun(_chain(head, items), ")"))
        return "("

    def _list_elements(self, node: list[Any]) -> Iterator[Any]:
        """A list's elements from its first chunk on; a dotted tail as a :class:`Tail`.  A tail in a
        cyclic group is decoded, and its elements come as :class:`_Live` values."""
        while True:
            _, items, tail = node
            yield from items
            if tail is None:
                return
            if type(tail) is list and len(tail) == 2 and tail[0] == REF:
                nxt = self.decoder.parse_node(tail[1])
                if type(nxt) is list and nxt and nxt[0] == LIST_CHUNK:
                    node = nxt
                    continue
                yield Tail(tail)
                return
            yield from self._live_rest(tail)
            return

    def _live_rest(self, tail: Any) -> Iterator[Any]:
        value = self.decoder.decode(tail)
        while type(value) is Pair:
            yield _Live(value.car)
            value = value.cdr
        if value is not NIL:
            yield Tail(_Live(value))

    def _chained(self, last: list[Any]) -> Iterator[Any]:
        """A vector's elements, or a map's ``(key, value)`` entries, from the first chunk of the
        chain ``last`` ends (each chunk names the one before it as its prefix)."""
        keys: list[str] = []
        prefix = last[2]
        while prefix is not None:
            if type(prefix) is not list or len(prefix) != 2 or prefix[0] != REF:
                raise _malformed(prefix)
            keys.append(prefix[1])
            prefix = _prefix_of(self.decoder.lookup(prefix[1]))
        for key in reversed(keys):
            yield from _entries(self.decoder.parse_node(key))
        yield from _entries(last)

    def _object_text(self, tag: Any, node: list[Any]) -> str | None:
        """A closure's, macro's, error's or environment's text from its node, or None."""
        if tag == CLOSURE:
            return f"#<function {node[4] or 'anonymous'}>"
        if tag == FRAME:
            return "#<environment>"
        if tag == ERROR:
            return f"#<error {node[1]}: {node[2]}>"
        if tag == GROUP:
            return f"#<group of {len(node[1])}>"  # a cycle's members: not a value of its own
        if tag == MACRO:
            closure = node[1]
            if type(closure) is list and len(closure) == 2 and closure[0] == REF:
                inner = self.decoder.parse_node(closure[1])
                if type(inner) is list and inner and inner[0] == CLOSURE:
                    return f"#<macro {inner[4] or 'anonymous'}>"
        return None


def _symbol(element: Any) -> Symbol | None:
    """The symbol an element is (encoded, or decoded from a group), else None."""
    if type(element) is list and len(element) == 2 and element[0] == SYMBOL and type(element[1]) is str:
        return Symbol(element[1])
    if type(element) is _Live and type(element.value) is Symbol:
        return element.value
    return None


def _chain(first: list[Any], rest: Iterator[Any]) -> Iterator[Any]:
    yield from first
    yield from rest


def _entries(node: list[Any]) -> Iterator[Any]:
    items = node[1]
    if node[0] == MAP_CHUNK:
        for i in range(0, len(items), 2):
            yield items[i], items[i + 1]
    else:
        yield from items


def _prefix_of(raw: bytes) -> list[str] | None:
    """The prefix of a vector or map chunk from its stored bytes, without parsing the chunk.

    The prefix is the node's last element, ``null`` or ``["@","key"]``; the bytes are canonical
    JSON, where ``["@","`` cannot occur inside a string (its quotes would be escaped), so the
    last occurrence of it starts the prefix (``rfind`` reads from the end: a few bytes, not the
    chunk)."""
    if raw.endswith(b",null]"):
        return None
    at = raw.rfind(_PREFIX_MARK)
    if at < 0 or not raw.endswith(b'"]]'):
        raise _malformed(raw[-60:])
    parsed: list[str] = orjson.loads(raw[at:-1])
    return parsed


def _malformed(what: Any) -> ValueCodecError:
    return ValueCodecError(f"malformed vector or map chunk near {str(what)[:60]!r}")
