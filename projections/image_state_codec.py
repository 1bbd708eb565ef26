"""The state section of an image (format 3): the bindings stored column by column.

An image's bytes are mostly binding names and values.  Stored row by row (a JSON
object per namespace, format 2) every name sits between values of other kinds,
and zstd's entropy coder sees one mixed stream.  Stored as columns (all names,
then each kind of value together) each column is homogeneous: names share
prefixes, digits code with digit statistics, hex with hex statistics.  On random
values the image is a quarter smaller.  Within a namespace the bindings are
grouped by kind (the order of a namespace's bindings is not part of the state:
format 2 already put references last), so loading deals no values back: a
namespace is ``dict(zip(names, s + i + f + I + r + o))``, one ``orjson.loads`` per
column and no Python loop per binding.

Layout (uncompressed; the image container compresses and checksums), parts in
:func:`state_codec.frame`'s framing (8-byte big-endian length before each but
the last)::

    structure   orjson {session, seq, current_ns, namespaces: {ns: [count of each kind]} (in order),
                        atoms, facts, files, snapshots}
    names       orjson [name, ...]: namespace after namespace, in each the kinds in this order:
    s, i, f, I  orjson [payload, ...]: strings; integers; floats (of ``["f", x]``); big integers
                (the digits of ``["I", digits]``)
    r           orjson [position delta, ...]: references ``["@", key]`` to a node of this image, by the
                node's position minus the previous reference's (nodes are in log order, so consecutive
                bindings point at nearby nodes)
    o           orjson [encoding, ...]: any other value
    nodes       node lines as ``state_codec.encode_nodes(keyless=True)`` writes them
    blobs       ``[]`` (an image keeps its blobs in their own section)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from itertools import accumulate
from operator import itemgetter
from typing import Any

import orjson
from xxhash import xxh3_128_hexdigest

from tapevm.domain.content import ContentTable
from tapevm.domain.state import State, paused_gc
from tapevm.projections.state_codec import (
    decode_blobs,
    decode_nodes,
    encode_nodes,
    frame,
    state_from_structure,
    structure,
    unframe,
)

_KINDS = 6  # s i f I r o
_PARTS = 2 + _KINDS + 2


def _kind(v: Any, index: dict[str, int]) -> int:
    t = type(v)
    if t is str:
        return 0
    if t is int:
        return 1
    if t is list and len(v) == 2:
        tag, payload = v
        if tag == "f" and type(payload) is float:
            return 2
        if tag == "I" and type(payload) is str:
            return 3
        if tag == "@" and type(payload) is str and payload in index:
            return 4
    return 5


def encode_image_state(state: State) -> bytes:
    """The state section of a format-3 image (deterministic: the same state gives the same bytes)."""
    index = {key: i for i, (key, _) in enumerate(state.nodes.items())}
    names: list[str] = []
    cols: list[list[Any]] = [[] for _ in range(_KINDS)]
    counts: dict[str, list[int]] = {}
    last = 0
    for ns, table in state.namespaces.items():
        groups: list[list[tuple[str, Any]]] = [[] for _ in range(_KINDS)]
        for name, v in table.items():
            groups[_kind(v, index)].append((name, v))
        counts[ns] = [len(g) for g in groups]
        for kind, group in enumerate(groups):
            names.extend(name for name, _ in group)
            col = cols[kind]
            if kind in (0, 1, 5):
                col.extend(v for _, v in group)
            elif kind in (2, 3):
                col.extend(v[1] for _, v in group)
            else:
                for _, v in group:
                    position = index[v[1]]
                    col.append(position - last)
                    last = position
    head = structure(state)
    head["namespaces"] = counts
    return frame(orjson.dumps(head), orjson.dumps(names), *(orjson.dumps(c) for c in cols),
                  encode_nodes(state.nodes.items(), keyless=True), b"[]")


def decode_image_state(data: bytes) -> State:
    """Inverse of :func:`encode_image_state`; raises ValueError on malformed bytes.

    Everything that can fail is done here: the framing, the JSON of every column, the
    kind counts against the column lengths, the reference positions against the node
    count, the explicit node lines.  What is left is construction that cannot fail on
    bytes that passed (hashing the keyless node lines, wrapping column values, building
    each namespace's dict), about two thirds of the decode on 100,000 bindings; it is
    deferred to the first read of ``namespaces`` or ``nodes`` (:class:`DeferredState`),
    so a caller that only needs the structure (atoms, files, seq...) does not pay for it.
    """
    with paused_gc():
        try:
            return _decode(data)
        except (KeyError, TypeError, IndexError, AttributeError, UnicodeDecodeError, orjson.JSONDecodeError) as e:
            raise ValueError(f"malformed image state ({type(e).__name__}: {e})") from e


class DeferredState(State):
    """A State whose ``namespaces`` and ``nodes`` are built from checked columns on first read.

    The dataclass fields ``namespaces`` and ``nodes`` have no class attribute (they
    have default factories), so until they are set, reading one falls through to
    :meth:`__getattr__`, which builds both, stores them as ordinary attributes and
    turns the object into a plain :class:`State` (its class included: equality,
    ``copy``, ``dataclasses.replace``, the fold and every serialiser see an ordinary
    State with ordinary dicts).  Comparing one builds it first.
    """

    def __init__(self, build: Callable[[], tuple[dict[str, dict[str, Any]], ContentTable]],
                 **fields: Any) -> None:
        self.__dict__.update(fields)
        self.__dict__["_build"] = build

    def __getattr__(self, name: str) -> Any:
        build = self.__dict__.get("_build") if name in ("namespaces", "nodes") else None
        if build is None:
            raise AttributeError(name)
        with paused_gc():
            namespaces, nodes = build()
        # two threads racing here both build (equal results); neither fails
        self.__dict__.update(namespaces=namespaces, nodes=nodes)
        self.__dict__.pop("_build", None)
        self.__class__ = State  # type: ignore[assignment]  # same layout; from now on an ordinary State
        return self.__dict__[name]

    def __eq__(self, other: object) -> bool:
        self.namespaces  # noqa: B018 - builds, and makes self a State
        return self == other

    __hash__ = None  # type: ignore[assignment]  # like State's (a mutable dataclass)


def _decode(data: bytes) -> State:
    parts = unframe(data, _PARTS)
    head, names = orjson.loads(parts[0]), orjson.loads(parts[1])
    cols: list[list[Any]] = [orjson.loads(p) for p in parts[2:8]]
    if type(names) is not list or any(type(c) is not list for c in cols):
        raise ValueError("a column is not a JSON array")
    layout = list(head["namespaces"].items())
    totals = [0] * _KINDS
    for ns, counts in layout:
        if type(counts) is not list or len(counts) != _KINDS or any(type(c) is not int or c < 0 for c in counts):
            raise ValueError(f"namespace {ns!r}: bad kind counts {counts!r}")
        totals = [t + c for t, c in zip(totals, counts)]
    if totals != [len(c) for c in cols] or sum(totals) != len(names):
        raise ValueError("binding names, values and kind counts do not match")
    node_data = parts[8]
    node_count, explicit = _node_lines(node_data)
    positions = list(accumulate(cols[4]))
    if positions and (min(positions) < 0 or max(positions) >= node_count):
        raise ValueError("a binding refers to a node the image does not hold")
    blobs = decode_blobs(parts[9])
    head["namespaces"] = {}
    state = state_from_structure(head, {}, blobs)
    fields = {f.name: getattr(state, f.name) for f in dataclasses.fields(State)
              if f.name not in ("namespaces", "nodes")}
    return DeferredState(lambda: _build(layout, names, cols, positions, node_data, explicit), **fields)


def _node_lines(data: bytes) -> tuple[int, dict[str, bytes] | None]:
    """How many node lines there are, and the table itself when some line carries an explicit key
    (parsed now: that parse can fail); None when every line is keyless (keys are hashes, computed
    when the table is built)."""
    if not data:
        return 0, {}
    count = data.count(b"\n") + 1
    if data.count(b"\n[") + data.startswith(b"[") == count:
        return count, None
    table = decode_nodes(data)
    return len(table), table


def _build(layout: list[tuple[str, list[int]]], names: list[str], cols: list[list[Any]],
           positions: list[int], node_data: bytes, explicit: dict[str, bytes] | None,
           ) -> tuple[dict[str, dict[str, Any]], ContentTable]:
    """The namespaces and the node table from columns :func:`_decode` checked (C-level loops only)."""
    if explicit is None:
        lines = node_data.split(b"\n")
        keys = list(map(xxh3_128_hexdigest, lines))  # = content_hash, inlined
        table = dict(zip(keys, lines))
    else:
        keys, table = list(explicit), explicit
    referenced = itemgetter(*positions)(keys) if len(positions) > 1 else tuple(keys[p] for p in positions)
    s_col, i_col, f_col, big_col, _, o_col = cols
    values_by_kind: list[list[Any]] = [s_col, i_col, [["f", x] for x in f_col], [["I", x] for x in big_col],
                                       [["@", k] for k in referenced], o_col]
    namespaces: dict[str, dict[str, Any]] = {}
    if len(layout) == 1:  # the common case: no slicing at all
        values: list[Any] = []
        for col in values_by_kind:
            values += col
        namespaces[layout[0][0]] = dict(zip(names, values))
    else:
        starts = [0] * _KINDS
        start = 0
        for ns, counts in layout:
            values = []  # extended by slices, in C
            for kind, count in enumerate(counts):
                a = starts[kind]
                values += values_by_kind[kind][a:a + count]
                starts[kind] = a + count
            namespaces[ns] = dict(zip(names[start:start + len(values)], values))
            start += len(values)
    nodes = ContentTable()
    nodes._items = table  # ours already: no copy of a possibly large table
    return namespaces, nodes
