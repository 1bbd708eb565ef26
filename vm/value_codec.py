"""Lisp values <-> the stored value encoding (see :mod:`tapevm.domain.content`).

Why it is shaped like this:

* **Structural sharing.**  Compound values become content-addressed nodes,
  so a value that shares structure with values already stored adds only its
  new nodes.  Lists are cut into chunks at positions counted from the *end*
  of the list (every ``CHUNK``-th pair), so consing onto a list or taking its
  ``cdr`` changes only the first chunk; vectors and maps are cut from the
  start and chained backwards, so appending changes only the last chunk.  A
  chunk's content key is cached on its first pair (pairs are immutable), so
  re-encoding a long list that grew by one element touches one chunk.
* **Cycles.**  Closures capture environments and a frame can hold a closure
  that captured it (``letrec``, named ``let``, internal ``define``).  The
  encoder finds strongly connected components (iterative Tarjan) and stores
  each cyclic component as one group node whose members refer to each other
  by index; everything acyclic stays a plain Merkle node.
* **No Python recursion.**  Both directions use explicit stacks, so a list
  nested 100,000 deep encodes and decodes.
* **Determinism.**  Traversal order is fixed by the value's structure, never
  by ``id()`` or ``hash()``, so the same value gives the same bytes in any
  process.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
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
    MAX_SAFE_INT,
    PRIMITIVE,
    REF,
    SYMBOL,
    TEXT,
    TEXT_NODE_MIN,
    VECTOR_CHUNK,
    ContentTable,
    canonical_bytes,
)
from tapevm.domain.errors import ValueCodecError
from tapevm.vm.numtext import INT_RE, int_to_text, text_to_int
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
)

CHUNK = 32
VM_VALUE_FORMAT = 1


# ---------------------------------------------------------------------------
# scalars
# ---------------------------------------------------------------------------
def encode_scalar(value: Any) -> Any:
    """The inline encoding of a non-compound value; raises KeyError-free ValueCodecError otherwise."""
    t = type(value)
    if t is str:
        return value
    if t is bool:
        return value
    if t is int:
        return value if -MAX_SAFE_INT < value < MAX_SAFE_INT else [BIGINT, int_to_text(value)]
    if value is NIL or value is None:
        return None
    if t is float:
        if math.isfinite(value):
            return [FLOAT, value]
        return [FLOAT, "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")]
    if t is Symbol:
        return [SYMBOL, value.name]
    if t is Keyword:
        return [KEYWORD, value.name]
    if t is Atom:
        return [ATOM, value.id]
    if t is Primitive:
        return [PRIMITIVE, value.name]
    raise ValueCodecError(f"cannot store a value of type {t.__name__}")


_COMPOUND = (Pair, tuple, LMap, Closure, Env, Macro, ErrorValue)


def _is_compound(value: Any) -> bool:
    return type(value) in _COMPOUND


# ---------------------------------------------------------------------------
# encoding
# ---------------------------------------------------------------------------
class _Cached:
    """A link to a list remainder already in the content table."""

    __slots__ = ("key",)

    def __init__(self, key: str) -> None:
        self.key = key


class _Unit:
    """One future node: a list chunk, a vector/map chunk, or a closure/frame/macro/error."""

    __slots__ = ("enc", "head", "index", "items", "kind", "length", "link", "low", "obj")

    def __init__(self, kind: str, obj: Any, items: list[Any], link: Any = None) -> None:
        self.kind = kind
        self.obj = obj          # the object this unit stands for (first pair of a list chunk)
        self.items = items      # child values (elements, entries, fields)
        self.link = link        # tail/prefix/parent: a value, a _Unit or None
        self.head: Pair | None = None  # list chunks: the pair whose cache to fill
        self.length = 0         # list chunks: number of pairs from this chunk to the end
        self.index = -1
        self.low = -1
        self.enc: Any = None    # the reference once encoded


class ValueEncoder:
    """Encodes values against a content table, collecting the nodes it adds.

    New nodes go to ``pending`` (and are visible to later encodes in the same
    form) until :meth:`commit` moves them into the table; :meth:`discard`
    forgets them when the form's transaction fails.  Keys cached on pairs are
    trusted only while they are in the table or pending, so a failed commit
    can never leave a dangling reference.
    """

    def __init__(self, table: ContentTable) -> None:
        self.table = table
        self.pending: dict[str, bytes] = {}
        self.pending_nodes: list[list[Any]] = []

    # -- transaction of the current form --------------------------------------
    def take_new_nodes(self) -> list[list[Any]]:
        nodes = self.pending_nodes
        self.pending_nodes = []
        return nodes

    def commit(self) -> None:
        for key, data in self.pending.items():
            self.table.add(key, data)
        self.pending = {}
        self.pending_nodes = []

    def discard(self) -> None:
        self.pending = {}
        self.pending_nodes = []

    def _known(self, key: str) -> bool:
        return key in self.pending or key in self.table

    def _store(self, node: list[Any]) -> str:
        data = canonical_bytes(node)
        pend = self.pending
        key, new = self.table.key_for(data)
        if new:
            # The table does not have it; the pending set may (same form).
            while key in pend and pend[key] != data:
                key = key + "+"
            if key not in pend:
                pend[key] = data
                self.pending_nodes.append([key, node])
        return key

    # -- public -------------------------------------------------------------------
    def encode(self, value: Any) -> Any:
        """The encoding of ``value``: inline for scalars, ``["@", key]`` (or a group member ref)."""
        t = type(value)
        # The commonest values first, encoded as themselves (what encode_scalar returns for them).
        if (t is int and -MAX_SAFE_INT < value < MAX_SAFE_INT) or t is bool:
            return value
        if t is str:
            # a long string is a TEXT node: stored once, deduplicated by content
            return self._text_ref(value) if len(value) >= TEXT_NODE_MIN else value
        if t not in _COMPOUND:
            return encode_scalar(value)
        return self._encode_graph(value)

    def _text_ref(self, text: str) -> list[str]:
        """A long string as a TEXT node: stored once, deduplicated by hash (confirmed by bytes)."""
        return [REF, self._store([TEXT, text])]

    # -- graph ----------------------------------------------------------------------
    def _cached_list_ref(self, pair: Pair) -> Any:
        cache = pair._hash
        if cache is not None and self._known(cache[0]):
            return cache
        return None

    def _list_units(self, head: Pair) -> _Unit:
        """Cut the list starting at ``head`` into chunk units, reusing cached chunks.

        Chunks start at the head and at every pair whose distance to the end is
        a multiple of CHUNK; the first such pair with a valid cached key ends
        the walk, its key standing for the rest of the list.
        """
        # Pass 1: the length, from the first pair (after the head) that knows its own.
        walked = 0
        node: Any = head
        rest = 0
        while type(node) is Pair:
            if node is not head:
                cache = self._cached_list_ref(node)
                if cache is not None:
                    rest = cache[1]
                    break
            walked += 1
            node = node.cdr
        total = walked + rest
        # Pass 2: build chunks, stopping at an aligned pair with a valid cache.
        units: list[_Unit] = []
        node = head
        position = 0
        current: _Unit | None = None
        while type(node) is Pair:
            distance = total - position
            if position == 0 or distance % CHUNK == 0:
                if position > 0:
                    cache = self._cached_list_ref(node)
                    if cache is not None:
                        assert current is not None
                        current.link = _Cached(cache[0])
                        break
                current = _Unit(LIST_CHUNK, node, [])
                current.head = node
                current.length = distance
                if units:
                    units[-1].link = current
                units.append(current)
            assert current is not None
            current.items.append(node.car)
            node = node.cdr
            position += 1
        else:
            assert current is not None
            current.link = None if node is NIL else node
        return units[0]

    def _unit_for(self, value: Any) -> _Unit | None:
        t = type(value)
        if t is Pair:
            if self._cached_list_ref(value) is not None:
                return None
            return self._list_units(value)
        if t is tuple:
            return self._chained_units(VECTOR_CHUNK, value, list(value))
        if t is LMap:
            flat: list[Any] = []
            for k, v in map_items(value):
                flat.append(k)
                flat.append(v)
            return self._chained_units(MAP_CHUNK, value, flat, step=2)
        if t is Closure:
            body = tuple(value.body)
            return _Unit(CLOSURE, value, [value.params, body], value.env)
        if t is Env:
            flat = []
            for k, v in value.vars.items():
                flat.append(k)
                flat.append(v)
            return _Unit(FRAME, value, flat, value.parent)
        if t is Macro:
            return _Unit(MACRO, value, [value.closure])
        if t is ErrorValue:
            return _Unit(ERROR, value, [value.data])
        raise ValueCodecError(f"cannot store a value of type {t.__name__}")

    def _chained_units(self, kind: str, obj: Any, flat: list[Any], step: int = 1) -> _Unit:
        size = CHUNK * step
        prev: _Unit | None = None
        if not flat:
            return _Unit(kind, obj, [], None)
        for start in range(0, len(flat), size):
            unit = _Unit(kind, obj, flat[start:start + size], prev)
            prev = unit
        assert prev is not None
        return prev

    def _children(self, unit: _Unit) -> list[Any]:
        kids = [v for v in unit.items if _is_compound(v)]
        link = unit.link
        if type(link) is _Unit or _is_compound(link):
            kids.append(link)
        return kids

    def _encode_graph(self, root: Any) -> Any:
        """Iterative Tarjan over units; emits nodes children-first, cycles as groups."""
        by_obj: dict[int, _Unit] = {}      # id(object) -> unit, for objects (not list chunks)
        resolved: dict[int, Any] = {}      # id(object) -> reference, when already encoded/cached
        keepalive: list[Any] = []

        def unit_of(value: Any) -> _Unit | Any:
            """A unit to visit, or a finished reference."""
            if isinstance(value, _Unit):
                return value
            key = id(value)
            if key in resolved:
                return resolved[key]
            unit = by_obj.get(key)
            if unit is not None:
                return unit
            keepalive.append(value)
            made = self._unit_for(value)
            if made is None:  # a list with a valid cached key
                ref = [REF, value._hash[0]]
                resolved[key] = ref
                return ref
            by_obj[key] = made
            return made

        counter = 0
        stack: list[_Unit] = []
        on_stack: set[int] = set()
        start = unit_of(root)
        if not isinstance(start, _Unit):
            return start
        work: list[tuple[_Unit, list[Any], int]] = []

        def push(u: _Unit) -> None:
            nonlocal counter
            u.index = u.low = counter
            counter += 1
            stack.append(u)
            on_stack.add(id(u))
            work.append((u, self._children(u), 0))

        push(start)
        while work:
            u, kids, i = work.pop()
            if i < len(kids):
                work.append((u, kids, i + 1))
                target = unit_of(kids[i])
                if not isinstance(target, _Unit):
                    continue
                if target.index == -1:
                    push(target)
                elif id(target) in on_stack:
                    u.low = min(u.low, target.index)
                continue
            # all children done
            if work:
                parent = work[-1][0]
                parent.low = min(parent.low, u.low)
            if u.low == u.index:
                component: list[_Unit] = []
                while True:
                    w = stack.pop()
                    on_stack.discard(id(w))
                    component.append(w)
                    if w is u:
                        break
                component.reverse()
                self._emit(component, unit_of)
        return start.enc

    def _emit(self, component: list[_Unit], unit_of: Callable[[Any], Any]) -> None:
        members = {id(u): n for n, u in enumerate(component)}
        cyclic = len(component) > 1 or any(
            isinstance(unit_of(k), _Unit) and unit_of(k) is component[0] for k in self._children(component[0])
        )

        def ref(value: Any) -> Any:
            if type(value) is _Cached:
                return [REF, value.key]
            if not isinstance(value, _Unit) and not _is_compound(value):
                if type(value) is str and len(value) >= TEXT_NODE_MIN:
                    return self._text_ref(value)
                return encode_scalar(value)
            target = unit_of(value)
            if not isinstance(target, _Unit):
                return target
            if cyclic and id(target) in members:
                return [LOCAL, members[id(target)]]
            return target.enc

        nodes = [self._node(u, ref) for u in component]
        if not cyclic:
            u = component[0]
            key = self._store(nodes[0])
            u.enc = [REF, key]
            if u.kind == LIST_CHUNK:
                assert u.head is not None
                u.head._hash = (key, u.length)
            return
        key = self._store([GROUP, nodes])
        for n, u in enumerate(component):
            u.enc = [GROUP_MEMBER, key, n]

    @staticmethod
    def _node(u: _Unit, ref: Callable[[Any], Any]) -> list[Any]:
        kind = u.kind
        if kind == LIST_CHUNK:
            link = u.link
            tail = None if link is None or link is NIL else ref(link)
            return [LIST_CHUNK, [ref(v) for v in u.items], tail]
        if kind == VECTOR_CHUNK or kind == MAP_CHUNK:
            return [kind, [ref(v) for v in u.items], None if u.link is None else ref(u.link)]
        if kind == CLOSURE:
            c: Closure = u.obj
            env = None if c.env is None else ref(c.env)
            return [CLOSURE, ref(c.params), ref(u.items[1]), env, c.name, c.ns]
        if kind == FRAME:
            parent = None if u.link is None else ref(u.link)
            return [FRAME, [ref(v) for v in u.items], parent]
        if kind == MACRO:
            return [MACRO, ref(u.items[0])]
        if kind == ERROR:
            e: ErrorValue = u.obj
            return [ERROR, e.kind, e.message, ref(e.data)]
        raise ValueCodecError(f"unknown unit kind {kind}")


# ---------------------------------------------------------------------------
# decoding
# ---------------------------------------------------------------------------
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
    ) -> None:
        self.lookup = lookup
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

    def _parse(self, key: str) -> Any:
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
            node = self._parse(k)
            order.append((k, node))
            for child in _node_refs(node):
                if child not in self._cache and child not in seen:
                    todo.append(child)
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
            base: LMap = LMap() if prefix is None else dec(prefix)
            pairs = list(base._d.items())
            m = LMap(pairs)
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
        specs = self._parse(key)[1]
        members = [None] * len(specs)
        for n, spec in enumerate(specs):
            tag = spec[0]
            if tag == CLOSURE:
                members[n] = Closure(NIL, (), None, spec[4], spec[5])
            elif tag == FRAME:
                members[n] = Env({}, None)
            elif tag == MACRO:
                members[n] = Macro(Closure(NIL, (), None, None, "user"))
            elif tag == LIST_CHUNK:
                members[n] = Pair(NIL, NIL)
        self._groups[key] = members

        def dec(enc: Any) -> Any:
            if type(enc) is list and enc and enc[0] == LOCAL:
                member = members[enc[1]]
                if member is None:
                    raise _NotYet()
                return member
            return self.decode(enc)

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
        return members

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


# ---------------------------------------------------------------------------
# checking content that did not come from this encoder
# ---------------------------------------------------------------------------
# Parts of each node, by tag.  The decoder trusts these shapes (it unpacks them);
# :func:`content_problem` checks them first for content read from outside the log.
_NODE_PARTS = {LIST_CHUNK: 3, VECTOR_CHUNK: 3, MAP_CHUNK: 3, CLOSURE: 6, FRAME: 3, MACRO: 2, ERROR: 4, TEXT: 2,
               GROUP: 2}
_GROUP_MEMBERS = frozenset((CLOSURE, FRAME, MACRO, LIST_CHUNK, VECTOR_CHUNK, MAP_CHUNK, ERROR))
_FLOAT_TEXTS = frozenset(("nan", "inf", "-inf"))
_SCALAR_TYPES = frozenset((str, int, bool, type(None)))  # what a value encoding holds as itself


class _Bad(Exception):
    """What :func:`content_problem` reports (internal: the walk stops at the first problem)."""


@dataclass(frozen=True)
class _Known:
    """What references may name: groups (key -> member count) and atom ids (None: any)."""

    groups: dict[str, int]
    atoms: Collection[int] | None


def content_problem(roots: Iterable[tuple[str, dict[Any, Any]]], nodes: dict[str, Any],
                    atoms: Collection[int] | None = None) -> str | None:
    """Why the encodings ``roots`` and the parsed ``nodes`` (key -> node) cannot be decoded, or None.

    ``roots``: pairs of a prefix and a table of encodings, e.g. ``("binding user/", namespace)``; a
    problem names the prefix and the table's key.

    The decoder meets a missing node or an unknown tag only when a program first uses the value,
    long after the content was accepted (an image, an import): what it would fail on is found
    here instead, at once: every reference resolves to a node held, every value and node tag is
    known, every node has the parts of its tag.  Every node is checked, reachable or not.  Linear
    in the content, with no recursion (encodings are flat: nesting goes through references).
    ``atoms``: the atom ids the state holds (None: not checked); the decoder would make an unknown
    one an empty atom, silently.
    """
    known = _Known({}, atoms)
    groups = known.groups
    for key, node in nodes.items():
        if type(node) is not list or not node or type(node[0]) is not str:
            return f"value node {key} is not a tagged node ({_short(node)})"
        tag = node[0]
        if tag == GROUP:
            if len(node) != 2 or type(node[1]) is not list or not node[1]:
                return f"value node {key} is a malformed group ({_short(node)})"
            groups[key] = len(node[1])
    try:
        for prefix, table in roots:
            for name, enc in table.items():
                if type(enc) is not list:  # the common cases inline: a scalar, a reference, a float
                    if enc is None or type(enc) in (str, int, bool):
                        continue
                elif len(enc) == 2:
                    tag = enc[0]
                    if tag == REF and type(enc[1]) is str:
                        node = nodes.get(enc[1])
                        if node is not None and node[0] != GROUP:
                            continue
                    elif tag == FLOAT and type(enc[1]) is float:
                        continue
                _check_value(enc, nodes, known, 0, f"{prefix}{name}")
        scalars = _SCALAR_TYPES.issuperset
        for key, node in nodes.items():
            tag = node[0]
            # the commonest node inline, no call: a list chunk of scalars with no tail (an image of
            # 100,000 bindings holds ~40,000 of them; a call per node was ~40 ms of its load)
            if tag == LIST_CHUNK and len(node) == 3 and node[2] is None and type(node[1]) is list \
                    and scalars(map(type, node[1])):
                continue
            if tag == GROUP:
                size = groups[key]
                for n, member in enumerate(node[1]):
                    if type(member) is not list or not member or member[0] not in _GROUP_MEMBERS:
                        return f"value node {key}: member {n} of the group is not a closure, frame, macro, " \
                               f"chunk or error ({_short(member)})"
                    _check_node(member, nodes, known, size, f"value node {key} (group member {n})")
            else:
                _check_node(node, nodes, known, 0, f"value node {key}")
    except _Bad as e:
        return str(e)
    return None


class _AtomsSeen(set[int]):
    """An atom table that holds every id and remembers the ids it was asked about."""

    def __contains__(self, atom_id: object) -> bool:
        self.add(atom_id)  # type: ignore[arg-type]  # (only ints reach here: the tag check comes first)
        return True


def atoms_named(roots: Iterable[tuple[str, dict[Any, Any]]], nodes: dict[str, Any]) -> set[int]:
    """The atom ids the encodings ``roots`` and the parsed ``nodes`` name (the same walk as
    :func:`content_problem`, which asks its atom table about each one)."""
    seen = _AtomsSeen()
    content_problem(roots, nodes, seen)
    return set(seen)


def _short(value: Any) -> str:
    text = orjson.dumps(value).decode() if value is not None else "null"
    return text if len(text) <= 60 else text[:59] + "…"


def _check_node(node: list[Any], nodes: dict[str, Any], known: _Known, local: int, where: str) -> None:
    tag = node[0]
    parts = _NODE_PARTS.get(tag)
    if parts is None:
        raise _Bad(f"{where} has an unknown node tag {tag!r}")
    if len(node) != parts:
        raise _Bad(f"{where} ({tag!r}) has {len(node)} parts, not {parts}")
    if tag == TEXT:
        if type(node[1]) is not str:
            raise _Bad(f"{where} is a text node without text")
        return
    check = _check_value
    if tag in (LIST_CHUNK, VECTOR_CHUNK, MAP_CHUNK, FRAME):
        items = node[1]
        if type(items) is not list or (tag in (MAP_CHUNK, FRAME) and len(items) % 2) \
                or (local and tag == LIST_CHUNK and not items):
            raise _Bad(f"{where} ({tag!r}) has malformed elements")
        for item in items:
            if type(item) is list or item is not None and type(item) not in (str, int, bool):
                check(item, nodes, known, local, where)
        if node[2] is not None:
            check(node[2], nodes, known, local, where)
    elif tag == CLOSURE:
        _, params, body, env, name, ns = node
        if (name is not None and type(name) is not str) or type(ns) is not str:
            raise _Bad(f"{where} is a closure with a malformed name or namespace")
        check(params, nodes, known, local, where)
        check(body, nodes, known, local, where)
        if env is not None:
            check(env, nodes, known, local, where)
    elif tag == MACRO:
        check(node[1], nodes, known, local, where)
    elif tag == ERROR:
        if type(node[1]) is not str or type(node[2]) is not str:
            raise _Bad(f"{where} is an error value with a malformed kind or message")
        check(node[3], nodes, known, local, where)
    else:  # a group, where a group member is expected
        raise _Bad(f"{where} is a group inside a group")


def _check_value(enc: Any, nodes: dict[str, Any], known: _Known, local: int, where: str) -> None:
    t = type(enc)
    if t is str or t is int or t is bool or enc is None:
        return
    if t is not list or not enc:
        raise _Bad(f"{where} holds a malformed value encoding {_short(enc)}")
    tag = enc[0]
    n = len(enc)
    payload = enc[1] if n > 1 else None
    if tag == REF and n == 2 and type(payload) is str:
        node = nodes.get(payload)
        if node is None:
            raise _Bad(f"{where} refers to value node {payload}, which is missing")
        if node[0] == GROUP:
            raise _Bad(f"{where} refers to the group {payload} as a plain node")
        return
    if tag == GROUP_MEMBER and n == 3 and type(payload) is str and type(enc[2]) is int:
        size = known.groups.get(payload)
        if size is None:
            raise _Bad(f"{where} refers to member {enc[2]} of group {payload}, which is missing")
        if not 0 <= enc[2] < size:
            raise _Bad(f"{where} refers to member {enc[2]} of group {payload}, which has {size}")
        return
    if n == 2:
        if tag == FLOAT and (isinstance(payload, (float, int)) and type(payload) is not bool
                             or isinstance(payload, str) and payload in _FLOAT_TEXTS):
            return
        if tag == BIGINT and isinstance(payload, str) and INT_RE.match(payload):  # (read in chunks: any length)
            return
        if (tag == SYMBOL or tag == KEYWORD or tag == PRIMITIVE) and type(payload) is str:
            return
        if tag == ATOM and type(payload) is int:
            if known.atoms is not None and payload not in known.atoms:
                raise _Bad(f"{where} refers to atom {payload}, which the state does not hold")
            return
        if tag == LOCAL and local and type(payload) is int and 0 <= payload < local:
            return
    tags = (REF, GROUP_MEMBER, FLOAT, BIGINT, SYMBOL, KEYWORD, PRIMITIVE, ATOM) + ((LOCAL,) if local else ())
    if tag not in tags:
        raise _Bad(f"{where} holds a value with an unknown tag {_short(tag)}")
    raise _Bad(f"{where} holds a malformed {tag!r} value {_short(enc)}")


def is_nil_encoding(enc: Any) -> bool:
    return enc is None


__all__ = ["CHUNK", "NilType", "ValueDecoder", "ValueEncoder", "content_problem", "encode_scalar"]
