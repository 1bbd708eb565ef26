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

from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple, Protocol

import orjson
import xxhash
import zstandard

from tapevm.domain.errors import CorruptRecord

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
# Strings at least this long (in characters) become TEXT nodes: stored once, referred to by key.  A
# session started at VM version 1 used 1,024 (TEXT_NODE_MIN_V1); from version 2 it is about what a
# reference costs, so a list chunk (stored again at every cons onto the list) holds references to its
# elements' text, never the text: an agent's history stores each message once, whatever its length.
TEXT_NODE_MIN = 40
TEXT_NODE_MIN_V1 = 1024

MAX_SAFE_INT = 2**53


def canonical_bytes(node: Any) -> bytes:
    """The bytes a node is hashed and compared by, exactly as long as they are.

    ``orjson.dumps`` hands back its output buffer whole: 4 KiB at least, and about twelve times the
    output for larger ones.  A content table keeps these bytes for as long as a session runs, so a
    copy of the exact size is made (a memcpy): 100,000 nodes held were ~1 GB instead of ~100 MB.
    """
    return bytes(memoryview(orjson.dumps(node)))


def canonical_bytes_of_all(nodes: Iterable[Any]) -> Iterable[bytes]:
    """``canonical_bytes`` of each node, lazily, without a Python frame per node (folds of large
    ContentStored events, e.g. the first events of a session loaded from an image)."""
    return map(bytes, map(memoryview, map(orjson.dumps, nodes)))  # type: ignore[arg-type]  # (typeshed: memoryview generic)


def content_hash(data: bytes) -> str:
    """xxh3-128 of ``data`` as 32 hex digits: the content address."""
    return xxhash.xxh3_128_hexdigest(data)


def ref(key: str) -> list[str]:
    return [REF, key]


class ContentSource(Protocol):
    """Where a table finds content it does not hold in memory: the store's content index over the log.

    A session's state holds the content its tail since the latest checkpoint stored; everything
    before is found here, on first touch, through a bounded cache.  ``find`` answers the entries it
    holds of ``keys`` (a node's canonical bytes; a blob's whole bytes or :data:`Edit`), as stored:
    content is addressed, so an entry, once found, never changes.
    """

    def find(self, keys: Sequence[str]) -> dict[str, Any]: ...


class RecentContent:
    """A :class:`ContentSource` for a reader that walks a log in order (``tape log``): the nodes of the
    last ``keep`` ContentStored events it passed (:meth:`add`), then ``table``'s.  A value an event
    names was most often stored by the same form, so showing it needs no lookup in the store."""

    def __init__(self, table: ContentTable, keep: int = 256) -> None:
        self.table = table
        self.keep = keep
        self._events: deque[list[str]] = deque()
        self._nodes: dict[str, bytes] = {}

    def add(self, nodes: Sequence[Any]) -> None:
        """The ``[key, node]`` pairs of a ContentStored event just passed (the oldest event's forgotten)."""
        keys = [key for key, _ in nodes]
        self._nodes.update(zip(keys, canonical_bytes_of_all(node for _, node in nodes)))
        self._events.append(keys)
        if len(self._events) > self.keep:
            for key in self._events.popleft():
                self._nodes.pop(key, None)

    def find(self, keys: Sequence[str]) -> dict[str, Any]:
        found = {key: self._nodes[key] for key in keys if key in self._nodes}
        rest = [key for key in keys if key not in found]
        if rest:
            found.update(self.table.get_many(rest))
        return found


class ContentTable:
    """Key -> canonical bytes, for value nodes or for file blobs.

    Only ever grows: content stays addressable for as long as any event that
    mentions it, and the log is append-only.  With a ``source``, the table holds in
    memory only what was added since the source last covered it (:meth:`forget_held`);
    ``get``, ``in`` and ``key_for`` look in the source for the rest, while ``len`` and
    ``items`` answer what is held (what a checkpoint without a source must carry).
    """

    __slots__ = ("_items", "source")

    def __init__(self, items: dict[str, bytes] | None = None, source: ContentSource | None = None) -> None:
        self._items: dict[str, bytes] = dict(items) if items else {}
        self.source = source

    def _found(self, key: str) -> Any:
        """The entry of ``key``: held, else from the source (None: neither has it)."""
        entry = self._items.get(key)
        if entry is None and self.source is not None:
            entry = self.source.find((key,)).get(key)
        return entry

    def key_for(self, data: bytes, held_only: bool = False) -> tuple[str, bool]:
        """The key ``data`` has (or would get) here, and whether it is new; with ``held_only``, new
        to what is held in memory (the caller asks the source about its new keys at once)."""
        h = content_hash(data)
        key = h
        n = 0
        while True:
            existing = self._items.get(key) if held_only else self._found(key)
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
        entry: bytes | None = self._found(key)
        if entry is None:
            raise KeyError(key)
        return entry

    def get_many(self, keys: Sequence[str]) -> dict[str, bytes]:
        """The entries of those of ``keys`` this table has (held, else found through the source at once:
        one index lookup, events near each other read together; what a walk or a decoder asks of a
        node's children before it takes them one by one)."""
        items = self._items
        out = {key: items[key] for key in keys if key in items}
        if self.source is not None:
            missing = [key for key in keys if key not in out]
            if missing:
                out.update(self.source.find(missing))
        return out

    def __contains__(self, key: object) -> bool:
        return key in self._items or (self.source is not None and type(key) is str and self._found(key) is not None)

    def __len__(self) -> int:
        """How many entries are held in memory (with a source, the rest are found through it)."""
        return len(self._items)

    def items(self) -> Any:
        """The entries held in memory, in the order they were added."""
        return self._items.items()

    def forget_held(self) -> None:
        """Drop what is held: the source now covers it (the caller knows: it just had it indexed)."""
        if self.source is None:
            raise ValueError("a table without a source would lose its content")
        self._items = {}

    def copy(self) -> ContentTable:
        return ContentTable(self._items, self.source)

    def same_items(self, other: ContentTable) -> bool:
        """The same keys for the same bytes, in any order (one C-level dict comparison)."""
        return self._items == other._items


class Piece(NamedTuple):
    """A file version stored as an edit of an earlier version (``prefix``, a blob key).

    ``head < 0`` (an *append*): the earlier version followed by ``data``.
    Otherwise (a *splice*): the earlier version's first ``head`` bytes, then
    ``data``, then its last ``tail`` bytes.  A program that appends to a world
    file, or rewrites one with a small change, would otherwise store the whole
    file again at every write (n appends of a line cost O(n^2) bytes in the log
    and in every session that holds its content); a piece costs what changed.
    Its key is still the hash of the *whole* content, so a version reached by
    edits and the same bytes written at once have one key, and diffs, merges and
    state equality never see how a version was stored.
    """

    prefix: str
    data: bytes
    head: int = -1
    tail: int = 0


class ZstdPatch(NamedTuple):
    """A file version stored as a zstd frame compressed with the version it edits (``prefix``) as
    a raw-content dictionary: edits in several places (a counter at the top of a file and a line
    at its end, a file with hunks changed here and there), which no single splice covers, cost
    what zstd finds new.  Made and applied by :func:`make_zstd_patch` and :func:`apply_zstd_patch`.
    """

    prefix: str
    data: bytes


ZSTD_PATCH_LIMIT = 64 << 20  # old + new bytes beyond which no patch is made (zstd's default window limit is 128 MiB)


def _patch_params(size: int) -> zstandard.ZstdCompressionParameters:
    # the window must reach back over the whole dictionary (the base) from the end of the new version
    return zstandard.ZstdCompressionParameters.from_level(
        3, window_log=max(zstandard.WINDOWLOG_MIN, size.bit_length()), write_checksum=False, write_dict_id=False)


def make_zstd_patch(base: bytes, data: bytes) -> bytes | None:
    """``data`` compressed against ``base`` (None when the two are too large to patch)."""
    if len(base) + len(data) > ZSTD_PATCH_LIMIT:
        return None
    dictionary = zstandard.ZstdCompressionDict(base, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
    params = _patch_params(len(base) + len(data))
    return zstandard.ZstdCompressor(dict_data=dictionary, compression_params=params).compress(data)


def apply_zstd_patch(base: bytes, patch: bytes) -> bytes:
    """Inverse of :func:`make_zstd_patch`; raises ``zstandard.ZstdError`` on a patch that does not fit."""
    dictionary = zstandard.ZstdCompressionDict(base, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
    return zstandard.ZstdDecompressor(dict_data=dictionary, max_window_size=2 * ZSTD_PATCH_LIMIT).decompress(patch)


Edit = Piece | ZstdPatch  # how a version that is not stored whole is stored


class BlobTable(ContentTable):
    """Key -> file content: whole bytes, or an :data:`Edit` of an earlier entry.

    ``get`` always answers whole bytes; ``items`` answers the entries as stored
    (what the log, checkpoints and their codecs carry).
    """

    __slots__ = ("_copies", "_last")

    def __init__(self, items: dict[str, bytes] | None = None, copies: dict[str, int] | None = None,
                 source: ContentSource | None = None) -> None:
        super().__init__(items, source)
        # the last version assembled: the next append's version is that plus one piece
        self._last: tuple[str, bytes] = ("", b"")
        # key -> splices and zstd patches under it, for the edits among the entries (see copies_under)
        self._copies: dict[str, int] = dict(copies) if copies is not None else {}
        if copies is None:
            for key, entry in self._items.items():
                self._count_copies(key, entry)

    def _count_copies(self, key: str, entry: Any) -> None:
        if type(entry) is not bytes:
            count = self._copies.get(entry.prefix, 0) + _copies_of(entry)
            if count:  # (chains of appends, the commonest, need no entry here)
                self._copies[key] = count

    def key_for(self, data: bytes, held_only: bool = False) -> tuple[str, bool]:
        """As :meth:`ContentTable.key_for`, comparing whole contents (an entry may be a piece)."""
        h = content_hash(data)
        key = h
        n = 0
        while (self._items.get(key) if held_only else self._found(key)) is not None:
            if self.get(key) == data:
                return key, False
            n += 1
            key = f"{h}.{n}"
        return key, True

    def add(self, key: str, data: bytes | Edit) -> None:
        """Store ``data``: whole bytes, or an edit of an entry this table holds."""
        self._items[key] = data  # type: ignore[assignment]  # entries: bytes | Edit
        self._count_copies(key, data)

    def get(self, key: str) -> bytes:
        """The whole content of ``key``, assembled from its chain of edits (oldest first)."""
        entry: Any = self._found(key)
        if entry is None:
            raise KeyError(key)
        if type(entry) is bytes:
            return entry
        if key == self._last[0]:
            return self._last[1]
        last_key, last_data = self._last
        chain: list[Edit] = []
        seen = {key}
        while type(entry) is not bytes:
            chain.append(entry)
            prefix: str = entry.prefix
            entry = last_data if prefix == last_key else self._found(prefix)
            if entry is None or prefix in seen:
                raise CorruptRecord(
                    f"the content of world file version {key} continues {prefix}, which this session "
                    "does not hold (or which continues itself): check the log with 'tape verify' and "
                    "rebuild the checkpoints with 'tape checkpoints rebuild'")
            seen.add(prefix)
        parts: list[bytes] = [entry]
        for edit in reversed(chain):
            if type(edit) is Piece and edit.head < 0:  # appends join once, at the end (or at the next edit)
                parts.append(edit.data)
                continue
            base = parts[0] if len(parts) == 1 else b"".join(parts)
            parts = [self._apply(key, base, edit)]
        data = b"".join(parts)
        self._last = (key, data)
        return data

    @staticmethod
    def _apply(key: str, base: bytes, edit: Edit) -> bytes:
        if isinstance(edit, ZstdPatch):
            try:
                return apply_zstd_patch(base, edit.data)
            except zstandard.ZstdError as e:
                raise CorruptRecord(f"the content of world file version {key} is a zstd patch of {edit.prefix} "
                                    f"that does not decode ({e}): check the log with 'tape verify'") from None
        head, tail = edit.head, edit.tail  # a splice
        if head + tail > len(base):
            raise CorruptRecord(
                f"the content of world file version {key} keeps {head} + {tail} bytes of "
                f"{edit.prefix}, which has {len(base)}: check the log with 'tape verify'")
        return base[:head] + edit.data + base[len(base) - tail:]

    def copies_under(self, key: str, pending: dict[str, Edit] | None = None) -> int:
        """How many splices and zstd patches assembling ``key`` applies (each copies the whole file once),
        looking in ``pending`` (edits not yet added) first: what bounds the chains writers make.
        Counted as entries are added, so asking costs no walk down the chain."""
        pending = pending or {}
        count = 0
        for _ in range(len(pending) + 1):  # a circular chain of pending edits ends too
            edit = pending.get(key)
            if edit is None:
                break
            count += _copies_of(edit)
            key = edit.prefix
        return count + self._copies_under_entry(key)

    def _copies_under_entry(self, key: str) -> int:
        """What :meth:`copies_under` counts for an entry this table has: counted when it was added, or
        (found through the source) counted down its chain once and remembered."""
        known = self._copies.get(key)
        if known is not None or key in self._items or self.source is None:
            return known or 0
        chain: list[tuple[str, Edit]] = []
        entry = self._found(key)
        while entry is not None and type(entry) is not bytes and key not in self._copies and len(chain) < 1 << 16:
            chain.append((key, entry))
            key = entry.prefix
            entry = self._found(key)
        count = self._copies.get(key, 0)
        for edited, edit in reversed(chain):
            count += _copies_of(edit)
            self._copies[edited] = count
        return count

    def entry(self, key: str) -> bytes | Edit:
        """How ``key`` is stored: whole bytes or an :data:`Edit` of another entry (KeyError: it is not)."""
        found: bytes | Edit | None = self._found(key)
        if found is None:
            raise KeyError(key)
        return found

    def stored_bytes(self) -> int:
        """The bytes of content held (an edit counts its own data): what a session keeps in memory."""
        entries: Iterable[Any] = self._items.values()  # bytes | Edit (typed bytes, as the base's)
        return sum(len(v) if type(v) is bytes else len(v.data) for v in entries)

    def add_table(self, other: BlobTable) -> None:
        """Every entry of ``other``, as stored (its pieces' prefixes are in ``other`` or here)."""
        for key, entry in other._items.items():  # counted here: a prefix may be here, not in ``other``
            self._items[key] = entry
            self._count_copies(key, entry)

    def copy(self) -> BlobTable:
        return BlobTable(self._items, self._copies, self.source)


def _copies_of(edit: Edit) -> int:
    """1 for an edit whose assembly copies the file (a splice, a zstd patch), 0 for an append."""
    return 0 if type(edit) is Piece and edit.head < 0 else 1
