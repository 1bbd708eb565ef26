"""Maps (immutable, insertion-ordered LMap); ``get``/``assoc``/``contains?`` also work on vectors by index.

nil is accepted wherever a map is read or extended, as the empty map.
(``update`` is in :mod:`higher_order`: it calls a function.)
"""

from __future__ import annotations

from typing import Any

from tapevm.vm.errors import INDEX_ERROR, KEY_ERROR, TYPE_ERROR, lisp_error, type_error
from tapevm.vm.primitives.registry import primitive
from tapevm.vm.primitives.support import integer, lmap, seq_items
from tapevm.vm.printer import describe, to_source
from tapevm.vm.values import NIL, LMap, make_list, map_items


@primitive("hash-map")
def hash_map(*kvs: Any) -> LMap:
    """``(hash-map k1 v1 k2 v2 ...)``."""
    if len(kvs) % 2:
        raise lisp_error(TYPE_ERROR, f"hash-map: expected key value pairs, got an odd number ({len(kvs)}) of arguments")
    return LMap((kvs[i], kvs[i + 1]) for i in range(0, len(kvs), 2))


def get_one(coll: Any, key: Any, default: Any, who: str) -> Any:
    t = type(coll)
    if t is LMap:
        return coll.get(key, default)
    if t is tuple:
        if type(key) is int and 0 <= key < len(coll):
            return coll[key]
        return default
    if coll is NIL:
        return default
    raise type_error(who, "a map or vector", coll)


@primitive("get")
def get(coll: Any, key: Any, default: Any = NIL) -> Any:
    """The value for ``key`` in a map (or at an index of a vector), else ``default`` (nil)."""
    return get_one(coll, key, default, "get")


@primitive("get-in")
def get_in(coll: Any, path: Any, default: Any = NIL) -> Any:
    """Follow a list/vector of keys through nested maps and vectors."""
    missing = object()
    for key in seq_items(path, "get-in"):
        coll = get_one(coll, key, missing, "get-in") if coll is not missing else missing
        if coll is missing:
            return default
    return coll


def assoc_one(coll: Any, key: Any, value: Any, who: str) -> Any:
    t = type(coll)
    if t is LMap:
        return coll.assoc(key, value)
    if coll is NIL:
        return LMap().assoc(key, value)
    if t is tuple:
        i = integer(key, who)
        if 0 <= i < len(coll):
            return coll[:i] + (value,) + coll[i + 1:]
        if i == len(coll):
            return coll + (value,)
        raise lisp_error(INDEX_ERROR, f"{who}: index {i} is out of range for a vector of length {len(coll)}")
    raise type_error(who, "a map or vector", coll)


@primitive("assoc")
def assoc(coll: Any, key: Any, value: Any, *kvs: Any) -> Any:
    """A copy of a map with keys set (``(assoc m k v k2 v2)``); on a vector, sets an index."""
    if len(kvs) % 2:
        raise lisp_error(TYPE_ERROR, "assoc: expected key value pairs after the map")
    coll = assoc_one(coll, key, value, "assoc")
    for i in range(0, len(kvs), 2):
        coll = assoc_one(coll, kvs[i], kvs[i + 1], "assoc")
    return coll


@primitive("assoc-in")
def assoc_in(coll: Any, path: Any, value: Any) -> Any:
    """Set a value in nested maps/vectors, creating maps along the path as needed."""
    keys = seq_items(path, "assoc-in")
    if not keys:
        return value
    chain = [coll]
    for key in keys[:-1]:
        chain.append(get_one(chain[-1], key, NIL, "assoc-in"))
    result = value
    for key, container in zip(reversed(keys), reversed(chain)):
        result = assoc_one(container, key, result, "assoc-in")
    return result


@primitive("dissoc")
def dissoc(m: Any, *keys: Any) -> LMap:
    result = lmap(m, "dissoc")
    for k in keys:
        result = result.dissoc(k)
    return result


@primitive("keys")
def keys(m: Any) -> Any:
    return make_list([k for k, _ in map_items(lmap(m, "keys"))])


@primitive("vals")
def vals(m: Any) -> Any:
    return make_list([v for _, v in map_items(lmap(m, "vals"))])


@primitive("contains?")
def contains(coll: Any, key: Any) -> bool:
    """Does a map have ``key``? (For a vector: is ``key`` a valid index?)"""
    t = type(coll)
    if t is LMap:
        return key in coll
    if t is tuple:
        return type(key) is int and 0 <= key < len(coll)
    if coll is NIL:
        return False
    raise type_error("contains?", "a map or vector", coll)


@primitive("merge")
def merge(*maps: Any) -> Any:
    """Later maps win; nil arguments are ignored."""
    entries: list[Any] = []
    for m in maps:
        entries.extend(map_items(lmap(m, "merge")))
    return LMap(entries)  # a repeated key keeps its first position and takes the last value


@primitive("select-keys")
def select_keys(m: Any, ks: Any) -> LMap:
    m = lmap(m, "select-keys")
    return LMap((k, m[k]) for k in seq_items(ks, "select-keys") if k in m)


@primitive("zipmap")
def zipmap(ks: Any, vs: Any) -> LMap:
    return LMap(zip(seq_items(ks, "zipmap"), seq_items(vs, "zipmap")))


@primitive("fetch")
def fetch(coll: Any, key: Any) -> Any:
    """Like ``get``, but a missing key (or index) is a ``key-error`` instead of nil."""
    missing = object()
    value = get_one(coll, key, missing, "fetch")
    if value is missing:
        raise lisp_error(KEY_ERROR, f"fetch: no key {to_source(key, 40)} in {describe(coll)}")
    return value
