"""The stored value encoding back to Lisp values (the inverse of :mod:`tapevm.vm.value_encoder`).

Decoded nodes are shared: the same key gives the same object, so a structure
stored once is rebuilt once.  Nodes are decoded children-first with an explicit
stack (only reference edges nest deeply), so a list nested 100,000 deep
decodes without Python recursion.  A cyclic group is rebuilt in three passes:
placeholders for the members with identity, then the immutable members, then
the placeholders are filled in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from tapevm.domain.content import (
    ATOM,
    BIGINT,
    CLOSURE,
    ERROR,
    FLOAT,
    FRAME,
    GROUP,
    GROUP_MEMBER,
    KEYWORD,
    LIST_CHUNK,
    LOCAL,
    MACRO,
    MAP_CHUNK,
    PRIMITIVE,
    REF,
    SYMBOL,
    TEXT,
    VECTOR_CHUNK,
)
from tapevm.domain.errors import ValueCodecError
from tapevm.vm.numtext import INT_RE, text_to_int
from tapevm.vm.values import (
    NIL,
    Atom,
    Closure,
    Env,
    ErrorValue,
    Keyword,
    LMap,
    Macro,
    Pair,
    Primitive,
    Symbol,
)

ClosureFactory = Callable[[Any, tuple[Any, ...], Env | None, str | None, str], Closure]


class ValueDecoder:
    """Rebuilds values from encodings; shares decoded nodes (same key, same object).

    ``make_closure`` recompiles a closure from its source (the VM supplies it);
    ``primitive`` resolves a built-in by name; ``atom`` returns the live atom
    for an id.
    """

    def __init__(
        self,
        lookup: Callable[[str], bytes],
        make_closure: ClosureFactory,
        primitive: Callable[[str], Primitive],
        atom: Callable[[int], Atom],
        prefetch: Callable[[list[str]], object] | None = None,
    ) -> None:
        self.lookup = lookup
        # told a node's children before they are looked up one by one (content found through the
        # store's index is then read in one go, not a read per node)
        self.prefetch = prefetch
        self.make_closure = make_closure
        self.primitive = primitive
        self.atom = atom
        self._cache: dict[str, Any] = {}
        self._groups: dict[str, list[Any]] = {}

    def decode(self, enc: Any) -> Any:
        t = type(enc)
        if t is str or t is int or t is bool:
            return enc
        if enc is None:
            return NIL
        if t is not list or not enc:
            raise ValueCodecError(f"malformed value encoding {enc!r}")
        tag = enc[0]
        if tag == REF:
            return self._node(enc[1])
        if tag == GROUP_MEMBER:
            return self._group(enc[1])[enc[2]]
        if tag == FLOAT:
            v = enc[1]
            return float(v)  # a number, or the text of inf/-inf/nan
        if tag == BIGINT:
            digits = enc[1]
            if type(digits) is not str or not INT_RE.match(digits):
                raise ValueCodecError(f"malformed big integer {str(digits)[:40]!r}")
            return text_to_int(digits)  # (int() refuses more than 4300 digits)
        if tag == SYMBOL:
            return Symbol(enc[1])
        if tag == KEYWORD:
            return Keyword(enc[1])
        if tag == ATOM:
            return self.atom(enc[1])
        if tag == PRIMITIVE:
            return self.primitive(enc[1])
        raise ValueCodecError(f"unknown value tag {tag!r}")

    def parse_node(self, key: str) -> Any:
        """The node stored under ``key``, parsed (not decoded): what a bounded printer reads one
        node at a time (:mod:`tapevm.vm.value_preview`).  A missing key is a ValueCodecError."""
        try:
            return orjson.loads(self.lookup(key))
        except KeyError:
            raise ValueCodecError(f"value node {key} is missing from the log") from None

    def _node(self, key: str) -> Any:
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        # Decode children-first with an explicit stack; only REF edges can nest deeply.
        order: list[tuple[str, Any]] = []
        todo = [key]
        seen: set[str] = set()
        while todo:
            k = todo.pop()
            if k in seen or k in self._cache:
                continue
            seen.add(k)
            node = self.parse_node(k)
            order.append((k, node))
            children = [child for child in _node_refs(node) if child not in self._cache and child not in seen]
            if len(children) > 1 and self.prefetch is not None:
                self.prefetch(children)
            todo.extend(children)
        for k, node in reversed(order):
            if k not in self._cache:
                self._cache[k] = self._build(k, node)
        return self._cache[key]

    def _build(self, key: str, node: list[Any]) -> Any:
        tag = node[0]
        dec = self.decode
        if tag == LIST_CHUNK:
            _, items, tail = node
            result = NIL if tail is None else dec(tail)
            length = _list_length(result)
            for item in reversed(items):
                result = Pair(dec(item), result)
            length += len(items)
            if type(result) is Pair:
                result._hash = (key, length)
            return result
        if tag == VECTOR_CHUNK:
            _, items, prefix = node
            head = () if prefix is None else dec(prefix)
            return head + tuple(dec(v) for v in items)
        if tag == MAP_CHUNK:
            _, items, prefix = node
            m: LMap = LMap() if prefix is None else dec(prefix).copy()  # a node of its own, even with no items
            for i in range(0, len(items), 2):
                m = m.assoc(dec(items[i]), dec(items[i + 1]))
            return m
        if tag == GROUP:
            return self._group(key)
        if tag == TEXT:
            return node[1]
        if tag in (CLOSURE, FRAME, MACRO, ERROR):
            return self._build_object(node, dec)
        raise ValueCodecError(f"unknown node tag {tag!r}")

    def _build_object(self, node: list[Any], dec: Callable[[Any], Any]) -> Any:
        tag = node[0]
        if tag == CLOSURE:
            _, params, body, env, name, ns = node
            return self.make_closure(dec(params), tuple(dec(body)), None if env is None else dec(env), name, ns)
        if tag == FRAME:
            _, items, parent = node
            return Env({dec(items[i]): dec(items[i + 1]) for i in range(0, len(items), 2)},
                       None if parent is None else dec(parent))
        if tag == MACRO:
            return Macro(dec(node[1]))
        _, kind, message, data = node
        return ErrorValue(kind, message, dec(data))

    def _group(self, key: str) -> list[Any]:
        """Members of a cyclic group.

        Objects with identity (closures, frames, macros, the first pair of a
        list chunk) get placeholders first; immutable members (vector and map
        chunks, errors) are built once their in-group dependencies exist; then
        the placeholders are filled in.
        """
        members = self._groups.get(key)
        if members is not None:
            return members
        specs = self.parse_node(key)[1]
        members = [_placeholder(spec) for spec in specs]
        self._groups[key] = members

        def dec(enc: Any) -> Any:
            if type(enc) is list and enc and enc[0] == LOCAL:
                member = members[enc[1]]
                if member is None:
                    raise _NotYet()
                return member
            return self.decode(enc)

        self._build_immutables(key, specs, members, dec)
        self._fill_placeholders(specs, members, dec)
        return members

    def _build_immutables(self, key: str, specs: list[Any], members: list[Any], dec: Callable[[Any], Any]) -> None:
        """Build the members without a placeholder, in as many rounds as their in-group
        dependencies need (a member whose dependency is not built yet waits a round)."""
        waiting = [n for n, spec in enumerate(specs) if members[n] is None]
        while waiting:
            progress = []
            for n in waiting:
                try:
                    members[n] = self._build_immutable(specs[n], dec)
                    progress.append(n)
                except _NotYet:
                    continue
            if not progress:
                raise ValueCodecError(f"value group {key} has an unbuildable cycle")
            waiting = [n for n in waiting if n not in progress]

    def _fill_placeholders(self, specs: list[Any], members: list[Any], dec: Callable[[Any], Any]) -> None:
        """Give the placeholders their contents: frames and list chunks first, then closures and
        macros (a closure is compiled against its environment, which must be complete)."""
        for spec, member in zip(specs, members):
            tag = spec[0]
            if tag == FRAME:
                items = spec[1]
                member.vars.update({dec(items[i]): dec(items[i + 1]) for i in range(0, len(items), 2)})
                member.parent = None if spec[2] is None else dec(spec[2])
            elif tag == LIST_CHUNK:
                _, items, tail = spec
                rest = NIL if tail is None else dec(tail)
                for item in reversed(items[1:]):
                    rest = Pair(dec(item), rest)
                member.car = dec(items[0])
                member.cdr = rest
        for spec, member in zip(specs, members):
            tag = spec[0]
            if tag == CLOSURE:
                _, params, body, env, name, ns = spec
                built = self.make_closure(dec(params), tuple(dec(body)), None if env is None else dec(env), name, ns)
                for slot in Closure.__slots__:
                    setattr(member, slot, getattr(built, slot))
            elif tag == MACRO:
                member.closure = dec(spec[1])

    def _build_immutable(self, spec: list[Any], dec: Callable[[Any], Any]) -> Any:
        tag = spec[0]
        if tag == VECTOR_CHUNK:
            head = () if spec[2] is None else dec(spec[2])
            return head + tuple(dec(v) for v in spec[1])
        if tag == MAP_CHUNK:
            m: LMap = LMap() if spec[2] is None else dec(spec[2])
            items = spec[1]
            for i in range(0, len(items), 2):
                m = m.assoc(dec(items[i]), dec(items[i + 1]))
            return m
        if tag == ERROR:
            return ErrorValue(spec[1], spec[2], dec(spec[3]))
        raise ValueCodecError(f"unexpected {tag!r} member in a cyclic group")


def _placeholder(spec: list[Any]) -> Any:
    """The object a group member with identity starts as (filled in later), or None."""
    tag = spec[0]
    if tag == CLOSURE:
        return Closure(NIL, (), None, spec[4], spec[5])
    if tag == FRAME:
        return Env({}, None)
    if tag == MACRO:
        return Macro(Closure(NIL, (), None, None, "user"))
    if tag == LIST_CHUNK:
        return Pair(NIL, NIL)
    return None


class _NotYet(Exception):
    """An immutable group member whose in-group dependency is not built yet."""


def _list_length(value: Any) -> int:
    if type(value) is Pair and value._hash is not None:
        return int(value._hash[1])
    n = 0
    while type(value) is Pair:
        n += 1
        value = value.cdr
    return n


def _node_refs(node: Any) -> list[str]:
    """Keys of the REF children of a (non-group) node, to decode them first.

    Structure-aware: a vector of the two strings "@" and "x" is data, not a ref.
    """
    tag = node[0]
    if tag in (LIST_CHUNK, VECTOR_CHUNK, MAP_CHUNK, FRAME):
        encodings = list(node[1]) + [node[2]]
    elif tag == CLOSURE:
        encodings = [node[1], node[2], node[3]]
    elif tag == MACRO:
        encodings = [node[1]]
    elif tag == ERROR:
        encodings = [node[3]]
    else:
        encodings = []
    return [e[1] for e in encodings if type(e) is list and len(e) == 2 and e[0] == REF]
