"""The state a session's events fold into, and the blob entries its content travels in.

The state is plain data: encoded values (see :mod:`tapevm.domain.content`),
never live VM objects, so it can be built, compared, checkpointed and shipped
without a VM.  How each event changes it is :mod:`tapevm.domain.fold`'s
business; what changed between two states, :mod:`tapevm.domain.delta`'s.
"""

from __future__ import annotations

import base64
import gc
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson

from tapevm.domain.content import (
    GROUP_MEMBER,
    REF,
    BlobTable,
    ContentTable,
    Edit,
    Piece,
    ZstdPatch,
    canonical_bytes,
)

DEFAULT_NAMESPACE = "user"


class _Missing:
    """What one side of a comparison of states holds where it lacks the item: a binding, atom, fact
    or file only the other side has.  One instance, :data:`MISSING`, which every diff, delta and
    merge of states uses (an encoded value is never it).  It prints as ``MISSING``, so a change
    shown in a REPL or a log reads ``b=MISSING``, not an object address."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __reduce__(self) -> str:  # copies (and pickles) are the one instance: changes test it with ``is``
        return "MISSING"


MISSING: Any = _Missing()


@dataclass
class State:
    """Everything a session's log says about its VM at one event number.

    ``namespaces`` maps namespace -> name -> encoded value, ``atoms`` atom id ->
    encoded value, ``facts`` canonical key -> encoded fact (assertion order),
    ``files`` world path -> blob key.  ``nodes`` and ``blobs`` are the content
    the encoded values and files refer to.  ``seq`` is the last event folded.
    """

    session: str = ""
    seq: int = 0
    current_ns: str = DEFAULT_NAMESPACE
    namespaces: dict[str, dict[str, Any]] = field(default_factory=lambda: {DEFAULT_NAMESPACE: {}})
    atoms: dict[int, Any] = field(default_factory=dict)
    facts: dict[bytes, Any] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    nodes: ContentTable = field(default_factory=ContentTable)
    blobs: BlobTable = field(default_factory=BlobTable)
    # Named snapshots of this session: name -> (event number, description).  Not part of
    # ``semantic()``: a restore changes what the VM sees, never the names taken so far.
    snapshots: dict[str, tuple[int, str]] = field(default_factory=dict)
    # Source stream -> the last of its events ``tape merge`` brought in (its next merge's base).
    # Not part of ``semantic()`` either: bookkeeping of the log, which a restore leaves alone.
    merged: dict[str, int] = field(default_factory=dict)

    @property
    def next_atom_id(self) -> int:
        return max(self.atoms, default=0) + 1

    def copy(self) -> State:
        """A deep-enough copy: the containers are new, encoded values are shared (immutable)."""
        return State(
            session=self.session,
            seq=self.seq,
            current_ns=self.current_ns,
            namespaces={ns: dict(b) for ns, b in self.namespaces.items()},
            atoms=dict(self.atoms),
            facts=dict(self.facts),
            files=dict(self.files),
            nodes=self.nodes.copy(),
            blobs=self.blobs.copy(),
            snapshots=dict(self.snapshots),
            merged=dict(self.merged),
        )

    def semantic(self) -> dict[str, Any]:
        """What the VM can observe, as plain data: what state equality compares.

        The content tables are left out (they only grow and may hold nodes no
        binding uses any more); ``seq`` is left out so states reached by
        different paths compare equal.
        """
        return {
            "current_ns": self.current_ns,
            "namespaces": {ns: b for ns, b in sorted(self.namespaces.items()) if b or ns == self.current_ns},
            "atoms": dict(sorted(self.atoms.items())),
            "facts": list(self.facts.values()),
            "files": dict(sorted(self.files.items())),
        }

    def same_as(self, other: State) -> bool:
        return self.semantic() == other.semantic()

    def binding(self, ns: str, name: str) -> Any:
        return self.namespaces[ns][name]

    def blob(self, key: str) -> bytes:
        return self.blobs.get(key)

    def file_bytes(self, path: str) -> bytes:
        return self.blobs.get(self.files[path])


# A fact asserted with evidence is held in ``State.facts`` as ``["F+", fact, evidence]`` (both
# encodings; no value encoding uses the tag), a fact without as its encoding alone, so every table,
# delta, checkpoint, image and merge carries the evidence with its fact, unchanged; who reads a
# fact splits the entry (``split_fact``).
FACT_WITH_EVIDENCE = "F+"


def fact_entry(fact: Any, evidence: Any = None) -> Any:
    """What ``State.facts`` holds for ``fact`` (an encoding) with ``evidence`` (an encoding; None: none)."""
    return fact if evidence is None else [FACT_WITH_EVIDENCE, fact, evidence]


def split_fact(entry: Any) -> tuple[Any, Any]:
    """A ``State.facts`` entry as (the fact's encoding, its evidence's encoding or None)."""
    if type(entry) is list and len(entry) == 3 and entry[0] == FACT_WITH_EVIDENCE:
        return entry[1], entry[2]
    return entry, None


def fact_key(fact: Any) -> bytes:
    """Identity of a fact: the canonical bytes of its encoding (of an entry: of its fact, whatever
    its evidence)."""
    if type(fact) is list and len(fact) == 3 and fact[0] == FACT_WITH_EVIDENCE:
        fact = fact[1]
    return canonical_bytes(fact)


ZSTD_PATCH_ENCODING = "zstd"  # the encoding field of a zstd patch entry (its data is base64)


def decode_blob(encoding: str, data: str) -> bytes:
    if encoding == "utf8":
        return data.encode("utf-8")
    return base64.b64decode(data)


def encode_blob(data: bytes) -> tuple[str, str]:
    """Blobs that are text stay readable in the log; others are base64."""
    try:
        return "utf8", data.decode("utf-8")
    except UnicodeDecodeError:
        return "base64", base64.b64encode(data).decode("ascii")


def blob_entry(key: str, stored: bytes | Edit) -> list[Any]:
    """A blob table entry as ContentStored, checkpoints and state payloads carry it:
    ``[key, encoding, data]``; for an :data:`~tapevm.domain.content.Edit`,
    ``[key, encoding, appended data, prefix key]`` (an append),
    ``[key, encoding, middle, prefix key, head, tail]`` (a splice) or
    ``[key, "zstd", base64 patch, prefix key]`` (a zstd patch)."""
    if isinstance(stored, bytes):
        return [key, *encode_blob(stored)]
    if isinstance(stored, ZstdPatch):
        return [key, ZSTD_PATCH_ENCODING, base64.b64encode(stored.data).decode("ascii"), stored.prefix]
    if stored.head < 0:
        return [key, *encode_blob(stored.data), stored.prefix]
    return [key, *encode_blob(stored.data), stored.prefix, stored.head, stored.tail]


def add_blob_entries(table: BlobTable, entries: Iterable[Any]) -> None:
    """Inverse of :func:`blob_entry`, into ``table``; ValueError on an entry of another shape."""
    for entry in entries:
        n = len(entry) if type(entry) is list else 0
        if n not in (3, 4, 6):
            raise ValueError("a blob entry is not [key, encoding, data], [key, encoding, data, prefix] "
                             "or [key, encoding, data, prefix, head, tail]")
        if n == 3:
            key, encoding, data = entry
            table.add(key, decode_blob(encoding, data))
        elif n == 4:
            key, encoding, data, prefix = entry
            if encoding == ZSTD_PATCH_ENCODING:
                table.add(key, ZstdPatch(prefix, base64.b64decode(data)))
            else:
                table.add(key, Piece(prefix, decode_blob(encoding, data)))
        else:
            key, encoding, data, prefix, head, tail = entry
            if type(head) is not int or type(tail) is not int or head < 0 or tail < 0:
                raise ValueError(f"a spliced blob entry keeps {head!r} and {tail!r} bytes, not two counts")
            table.add(key, Piece(prefix, decode_blob(encoding, data), head, tail))


def file_blobs(state: State) -> list[tuple[str, bytes]]:
    """The whole content of every blob a world file refers to, by key (sorted; each key once).

    What an image keeps and what state equality compares: the versions a file
    had before are history, and the log keeps them.
    """
    blobs = state.blobs
    return [(key, blobs.get(key)) for key in sorted(set(state.files.values())) if key in blobs]


def add_refs(enc: Any, out: list[str]) -> None:
    """Add every content key an encoding (or a parsed node) mentions to ``out``.  Over-approximates
    (data shaped like a reference counts): callers look each key up and skip what no table holds."""
    stack = [enc]
    while stack:
        x = stack.pop()
        if type(x) is list:
            if len(x) >= 2 and x[0] in (REF, GROUP_MEMBER) and type(x[1]) is str:
                out.append(x[1])
            stack.extend(x)


def reached_nodes(table: ContentTable, values: Iterable[Any], known: Any = ()) -> dict[str, Any]:
    """The parsed nodes of ``table`` that ``values`` reach, parents before children, not looking into
    ``known`` ones (a node there holds its children there too: content is addressed)."""
    nodes: dict[str, Any] = {}
    frontier: list[str] = []
    for v in values:
        add_refs(v, frontier)
    while frontier:  # a level at a time, each asked of the table's source at once (see ContentTable.get_many)
        level = [key for key in dict.fromkeys(frontier) if key not in nodes and key not in known]
        frontier = []
        for key, data in table.get_many(level).items():
            nodes[key] = node = orjson.loads(data)
            add_refs(node, frontier)
    return nodes


def state_values(state: State) -> Iterator[Any]:
    """Every encoded value a state names: its bindings, atoms and facts (the roots of its content)."""
    for bindings in state.namespaces.values():
        yield from bindings.values()
    yield from state.atoms.values()
    yield from state.facts.values()


def live_content(state: State) -> list[tuple[str, bytes]]:
    """The content ``state``'s values reach, children before parents: what it is, as opposed to what its
    history left behind.  What images keep and what states are compared by, whether a state holds
    its content or finds it through the store's index."""
    table = state.nodes
    keys = list(reached_nodes(table, state_values(state)))
    keys.reverse()
    return [(key, table.get(key)) for key in keys]


def materialized(state: State) -> State:
    """A copy of ``state`` that holds exactly its live content and its files' current versions (whole),
    needing no source: what an image writes."""
    out = state.copy()
    out.nodes = ContentTable(dict(live_content(state)))
    out.blobs = BlobTable(dict(file_blobs(state)))
    return out


@contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic garbage collection inside; restored after.

    For building a large state or world in bulk (decoding a checkpoint or an image, binding a
    session's names at open): hundreds of thousands of new acyclic containers, for which every
    generation-2 pass the collector would trigger walks every live object of the process.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
