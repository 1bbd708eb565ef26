"""Content addressing: hashes, the value encoding's tags, and the content table.

A stored value is either *inline* (JSON scalars and short tagged lists for
numbers, symbols and keywords) or a *reference* ``["@", key]`` to a node in
the content table.  A node is a JSON list whose canonical bytes (``orjson``
output, which is deterministic for lists and scalars) are hashed with xxh3-128.
The key is that hash, confirmed by comparing bytes: in the astronomically
unlikely event of a collision the key gets a ``.N`` suffix, so two different
nodes never share a key.  See docs/architecture.md for the full encoding.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
import xxhash

# Tags of the value encoding (first element of a tagged list).
REF = "@"          # ["@", key]                  reference to a node
FLOAT = "f"        # ["f", 1.5] / ["f", "nan"]   a float (keeps 1.0 distinct from 1)
BIGINT = "I"       # ["I", "123..."]             an integer beyond 2**53
SYMBOL = "s"       # ["s", "name"]
KEYWORD = "k"      # ["k", "name"]
ATOM = "a"         # ["a", id]                   an atom, by its session-wide id
PRIMITIVE = "p"    # ["p", name]                 a built-in function, by name
# Node tags (content-addressed, stored in ContentStored events).
LIST_CHUNK = "L"   # ["L", [elements], tail]     tail: null, a value, or ["@", next chunk]
VECTOR_CHUNK = "V" # ["V", [elements], prefix]   prefix: null or ["@", previous chunk]
MAP_CHUNK = "M"    # ["M", [k, v, ...], prefix]
CLOSURE = "C"      # ["C", params, body, env, name, ns]
FRAME = "E"        # ["E", [name, value, ...], parent]
MACRO = "m"        # ["m", closure]
ERROR = "X"        # ["X", kind, message, data]
GROUP = "G"        # ["G", [member nodes]]        a cycle (closures and frames that refer to each other)
GROUP_MEMBER = "g" # ["g", group key, index]      reference to one member of a group
LOCAL = "^"        # ["^", index]                 reference inside a group to another member
TEXT = "T"         # ["T", text]                  a long string, stored once however often it recurs
TEXT_NODE_MIN = 1024  # strings at least this long (in characters) become TEXT nodes

MAX_SAFE_INT = 2**53


def canonical_bytes(node: Any) -> bytes:
    """The bytes a node is hashed and compared by."""
    return orjson.dumps(node)


def canonical_bytes_of_all(nodes: Iterable[Any]) -> Iterable[bytes]:
    """``canonical_bytes`` of each node, lazily, without a Python frame per node (folds of large
    ContentStored events, e.g. the first events of a session loaded from an image)."""
    return map(orjson.dumps, nodes)


def content_hash(data: bytes) -> str:
    """xxh3-128 of ``data`` as 32 hex digits: the content address."""
    return xxhash.xxh3_128_hexdigest(data)


def ref(key: str) -> list[str]:
    return [REF, key]


class ContentTable:
    """Key -> canonical bytes, for value nodes or for file blobs.

    Only ever grows: content stays addressable for as long as any event that
    mentions it, and the log is append-only.
    """

    __slots__ = ("_items",)

    def __init__(self, items: dict[str, bytes] | None = None) -> None:
        self._items: dict[str, bytes] = dict(items) if items else {}

    def key_for(self, data: bytes) -> tuple[str, bool]:
        """The key ``data`` has (or would get) here, and whether it is new."""
        h = content_hash(data)
        key = h
        n = 0
        while True:
            existing = self._items.get(key)
            if existing is None:
                return key, True
            if existing == data:
                return key, False
            n += 1
            key = f"{h}.{n}"

    def add(self, key: str, data: bytes) -> None:
        self._items[key] = data

    def add_all(self, keys: Iterable[str], data: Iterable[bytes]) -> None:
        """``add`` of each pair, in order (one C-level update: a ContentStored may carry 100,000 nodes)."""
        self._items.update(zip(keys, data))

    def get(self, key: str) -> bytes:
        return self._items[key]

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def items(self) -> Any:
        return self._items.items()

    def copy(self) -> ContentTable:
        return ContentTable(self._items)
