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
:func:`state_codec._frame`'s framing (8-byte big-endian length before each but
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

from itertools import accumulate
from operator import itemgetter
from typing import Any

import orjson
from tapevm.domain.state import State
from tapevm.projections.state_codec import (
    _frame,
    _unframe,
    decode_blobs,
    decode_nodes,
    encode_nodes,
    paused_gc,
    state_from_structure,
    structure,
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
    return _frame(orjson.dumps(head), orjson.dumps(names), *(orjson.dumps(c) for c in cols),
                  encode_nodes(state.nodes.items(), keyless=True), b"[]")


def decode_image_state(data: bytes) -> State:
    """Inverse of :func:`encode_image_state`; raises ValueError on malformed bytes."""
    with paused_gc():
        try:
            return _decode(data)
        except (KeyError, TypeError, IndexError, UnicodeDecodeError, orjson.JSONDecodeError) as e:
            raise ValueError(f"malformed image state ({type(e).__name__}: {e})") from e


def _decode(data: bytes) -> State:
    parts = _unframe(data, _PARTS)
    head, names = orjson.loads(parts[0]), orjson.loads(parts[1])
    s_col, i_col, f_col, big_col, r_col, o_col = (orjson.loads(p) for p in parts[2:8])
    nodes = decode_nodes(parts[8])
    keys = list(nodes)
    positions = list(accumulate(r_col))
    if positions and (min(positions) < 0 or max(positions) >= len(keys)):
        raise ValueError("a binding refers to a node the image does not hold")
    referenced = itemgetter(*positions)(keys) if len(positions) > 1 else tuple(keys[p] for p in positions)
    cols: list[list[Any]] = [s_col, i_col, [["f", x] for x in f_col], [["I", x] for x in big_col],
                             [["@", k] for k in referenced], o_col]
    namespaces: dict[str, dict[str, Any]] = {}
    starts = [0] * _KINDS
    start = 0
    for ns, counts in head["namespaces"].items():
        if len(counts) != _KINDS:
            raise ValueError(f"namespace {ns!r}: {len(counts)} kind counts")
        values: list[Any] = []
        for kind, count in enumerate(counts):
            col, a = cols[kind], starts[kind]
            values += col if a == 0 and count == len(col) else col[a:a + count]
            starts[kind] = a + count
        size = len(values)
        table_names = names if start == 0 and size == len(names) else names[start:start + size]
        if len(table_names) != size:
            raise ValueError("binding names do not match the values")
        namespaces[ns] = dict(zip(table_names, values))
        start += size
    if start != len(names) or starts != [len(c) for c in cols]:
        raise ValueError("binding names, values and kind counts do not match")
    head["namespaces"] = namespaces
    return state_from_structure(head, nodes, decode_blobs(parts[9]))
