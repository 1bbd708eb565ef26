"""Lisp values to the stored value encoding: content-addressed nodes, cycles as groups.

The shape of the encoding and the reasons for it are in :mod:`tapevm.vm.value_codec`.
Here: the encoder cuts a compound value into *units* (a list chunk, a vector or
map chunk, a closure, frame, macro or error), walks them with an iterative
Tarjan (strongly connected components), and stores each component once all it
refers to is stored: an acyclic unit as a plain Merkle node, a cycle as one
group node whose members refer to each other by index.  Small trees (single-chunk
lists and vectors, closures without an environment, at most ``TREE_DEPTH`` deep:
most stored compound values) skip the units and Tarjan's bookkeeping and are
stored by a direct children-first walk in the same order, so which path a value
takes never shows in the stored encoding.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

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
from tapevm.vm.numtext import int_to_text
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

CHUNK = 32  # elements per list/vector/map chunk
TREE_DEPTH = 48  # nesting the tree path follows (Python recursion); deeper values take the general walk


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


# The types encode_scalar encodes without raising: a tree holding anything else takes the general walk.
_SCALAR = frozenset((str, bool, int, float, NilType, type(None), Symbol, Keyword, Atom, Primitive))


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


def _unit_table(unit_for: Callable[[Any], _Unit | None]) -> Callable[[Any], Any]:
    """``unit_of`` for one encode: the unit to visit for a value (made once per object by
    ``unit_for``), or its finished reference (a list whose key is cached)."""
    by_obj: dict[int, _Unit] = {}      # id(object) -> unit, for objects (not list chunks)
    resolved: dict[int, Any] = {}      # id(object) -> reference, when already encoded/cached
    keepalive: list[Any] = []          # the objects whose ids are keys above, alive till the end

    def unit_of(value: Any) -> _Unit | Any:
        if isinstance(value, _Unit):
            return value
        key = id(value)
        if key in resolved:
            return resolved[key]
        unit = by_obj.get(key)
        if unit is not None:
            return unit
        keepalive.append(value)
        made = unit_for(value)
        if made is None:  # a list with a valid cached key
            ref = [REF, value._hash[0]]
            resolved[key] = ref
            return ref
        by_obj[key] = made
        return made

    return unit_of


class ValueEncoder:
    """Encodes values against a content table, collecting the nodes it adds.

    New nodes go to ``pending`` (and are visible to later encodes in the same
    form) until :meth:`commit` moves them into the table; :meth:`discard`
    forgets them when the form's transaction fails.  Keys cached on pairs are
    trusted only while they are in the table or pending, so a failed commit
    can never leave a dangling reference.
    """

    def __init__(self, table: ContentTable, tree_path: bool = True, text_min: int = TEXT_NODE_MIN) -> None:
        """``tree_path=False`` encodes every compound value by the general walk (tests hold the
        two paths to the same encodings and the same new nodes, in the same order).  ``text_min``:
        strings at least this long are TEXT nodes (the session's VM version says which: see
        ``vm/version.text_node_min``; the default is the current version's)."""
        self.table = table
        self.text_min = text_min
        self.pending: dict[str, bytes] = {}
        self.pending_nodes: list[list[Any]] = []
        self.tree_path = tree_path

    # -- transaction of the current form --------------------------------------
    def take_new_nodes(self) -> list[list[Any]]:
        """The nodes this form stores: those it made that the table's source does not hold already.

        A node is taken as new when the table does not hold it in memory (:meth:`_store`); the
        source (the store's content index) is asked about all of them here, in one lookup, instead
        of once per node.  A key the source holds for other bytes (a hash collision, which a
        content address makes all but impossible) fails the form rather than store two contents
        under one key.
        """
        nodes = self.pending_nodes
        self.pending_nodes = []
        source = self.table.source
        if source is None or not nodes:
            return nodes
        stored = source.find([key for key, _ in nodes])
        if not stored:
            return nodes
        for key, data in stored.items():
            if self.pending.get(key) != data:
                raise ValueCodecError(f"content hash collision on {key}: the store holds other content under "
                                      "this key; the form is not committed")
            del self.pending[key]  # already stored: nothing to hold or to store again
        return [pair for pair in nodes if pair[0] not in stored]

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
        key, new = self.table.key_for(data, held_only=True)  # (the source is asked once per form)
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
            return self._text_ref(value) if len(value) >= self.text_min else value
        if t not in _COMPOUND:
            return encode_scalar(value)
        if self.tree_path:
            order: list[tuple[Any, str, list[Any]]] = []
            if self._collect_tree(value, order, {}, 0):
                return self._emit_tree(value, order)
        return self._encode_graph(value)

    def _text_ref(self, text: str) -> list[str]:
        """A long string as a TEXT node: stored once, deduplicated by hash (confirmed by bytes)."""
        return [REF, self._store([TEXT, text])]

    # -- small trees --------------------------------------------------------------------
    # Most stored compound values are small trees: a list of a few scalars, a closure defined at
    # top level (its parameters and body are such lists).  For them the general walk's units,
    # Tarjan bookkeeping and per-object tables cost several times the hashing itself.  The tree
    # path visits them in the order the general walk does (children first, in the same child
    # order, each object once), so it stores the same nodes, in the same order, with the same
    # keys, and caches the same list keys: the stored encoding does not depend on the path.

    def _collect_tree(self, value: Any, order: list[tuple[Any, str, list[Any]]],
                      seen: dict[int, bool], depth: int) -> bool:
        """Append ``value``'s compound parts to ``order`` children first; False (nothing stored)
        unless it is a tree of single-chunk proper lists, single-chunk vectors and closures
        without an environment over scalars ``encode_scalar`` takes, at most TREE_DEPTH deep."""
        key = id(value)
        if key in seen:
            return seen[key]  # done (shared), or False: a cycle, on the current path
        t = type(value)
        if depth >= TREE_DEPTH:
            return False
        if t is Pair:
            cache = value._hash
            if cache is not None and self._known(cache[0]):
                return True  # a cached list: referred to by its key, as the general walk does
            items: list[Any] = []
            node: Any = value
            while type(node) is Pair:
                if len(items) == CHUNK:
                    return False  # more than one chunk
                items.append(node.car)
                node = node.cdr
            if node is not NIL:
                return False
            kind = LIST_CHUNK
        elif t is tuple:
            if len(value) > CHUNK:
                return False
            items, kind = list(value), VECTOR_CHUNK
        elif t is Closure:
            if value.env is not None or type(value.body) is not tuple:
                return False
            items, kind = [value.params, value.body], CLOSURE
        else:
            return False
        seen[key] = False
        for item in items:
            it = type(item)
            if it in _COMPOUND:
                if not self._collect_tree(item, order, seen, depth + 1):
                    return False
            elif it not in _SCALAR:
                return False
        seen[key] = True
        order.append((value, kind, items))
        return True

    def _emit_tree(self, root: Any, order: list[tuple[Any, str, list[Any]]]) -> Any:
        """Store the nodes of a tree :meth:`_collect_tree` accepted; the root's encoding."""
        refs: dict[int, Any] = {}

        def ref(value: Any) -> Any:
            if type(value) in _COMPOUND:
                found = refs.get(id(value))
                return [REF, value._hash[0]] if found is None else found  # else: a cached list
            if type(value) is str and len(value) >= self.text_min:
                return self._text_ref(value)
            return encode_scalar(value)

        for obj, kind, items in order:
            if kind == CLOSURE:
                node = [CLOSURE, ref(items[0]), ref(items[1]), None, obj.name, obj.ns]
            else:
                encoded = []
                for v in items:  # symbols and small integers, the commonest items of source, inline
                    t = type(v)
                    if t is Symbol:
                        encoded.append([SYMBOL, v.name])
                    elif t is int and -MAX_SAFE_INT < v < MAX_SAFE_INT:
                        encoded.append(v)
                    else:
                        encoded.append(ref(v))
                node = [kind, encoded, None]
            key = self._store(node)
            refs[id(obj)] = [REF, key]
            if kind == LIST_CHUNK:
                obj._hash = (key, len(items))
        return ref(root)

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
        unit_of = _unit_table(self._unit_for)
        start = unit_of(root)
        if not isinstance(start, _Unit):
            return start
        self._emit_components(start, unit_of)
        return start.enc

    def _emit_components(self, start: _Unit, unit_of: Callable[[Any], Any]) -> None:
        """Tarjan's strongly connected components from ``start``, without recursion: each
        component is emitted (:meth:`_emit`) as soon as it is complete, so after every unit it
        refers to outside itself."""
        counter = 0
        stack: list[_Unit] = []
        on_stack: set[int] = set()
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

    def _emit(self, component: list[_Unit], unit_of: Callable[[Any], Any]) -> None:
        members = {id(u): n for n, u in enumerate(component)}
        cyclic = len(component) > 1 or any(
            isinstance(unit_of(k), _Unit) and unit_of(k) is component[0] for k in self._children(component[0])
        )

        def ref(value: Any) -> Any:
            if type(value) is _Cached:
                return [REF, value.key]
            if not isinstance(value, _Unit) and not _is_compound(value):
                if type(value) is str and len(value) >= self.text_min:
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
