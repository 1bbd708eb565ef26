"""A State as bytes and back: the payload of keyframe checkpoints and of image state sections.

Layout (uncompressed; callers compress and checksum)::

    8 bytes  length of the structure (big-endian), then the structure:
             orjson of {seq, session, current_ns, namespaces, atoms: [[id, enc]...],
                        facts: [enc...] (assertion order), files, snapshots, merged}
    8 bytes  length of the node section, then lines ``key SP canonical-node-bytes`` joined by LF
             (a node's canonical bytes are compact JSON, which never holds a raw LF); images
             write a node whose key is its content hash as the bytes alone (they start with
             ``[``) and any other as ``=key SP bytes``
    rest     the blob section: orjson of [[key, encoding, data]...] (utf8 text or base64); an
             entry that edits another is ``[key, encoding, appended data, prefix key]``,
             ``[key, encoding, middle, prefix key, head, tail]`` or ``[key, "zstd", patch, prefix
             key]`` (``domain/state.blob_entry``)

Content is written in the content table's insertion order, which is log
order, so a table rebuilt from this and folded further has the same order as
one folded from the start (checkpoint deltas rely on that: "the content added
since" is a suffix).  Encoding is deterministic: the same state gives the
same bytes, which is what "byte for byte" means for images.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice, repeat
from operator import itemgetter, methodcaller
from typing import Any

import orjson
from xxhash import xxh3_128_hexdigest

from tapevm.domain.content import BlobTable, ContentTable, Edit, content_hash
from tapevm.domain.state import (
    State,
    add_blob_entries,
    blob_entry,
    fact_key,
    file_blobs,
    live_content,
    paused_gc,
)

_LEN = 8


def frame(*parts: bytes) -> bytes:
    """``parts`` as one byte string: each but the last after its length (8 bytes, big-endian)."""
    out = bytearray()
    for part in parts[:-1]:
        out += len(part).to_bytes(_LEN, "big")
        out += part
    out += parts[-1]
    return bytes(out)


def unframe(data: bytes, n: int) -> list[bytes]:
    """The ``n`` parts :func:`frame` joined into ``data``; ValueError when a length runs past its end."""
    parts = []
    pos = 0
    for _ in range(n - 1):
        size = int.from_bytes(data[pos:pos + _LEN], "big")
        pos += _LEN
        if pos + size > len(data):
            raise ValueError("truncated state payload")
        parts.append(data[pos:pos + size])
        pos += size
    parts.append(data[pos:])
    return parts


def encode_nodes(items: Iterable[tuple[str, bytes]], keyless: bool = False) -> bytes:
    """Node lines ``key SP bytes``; with ``keyless``, a node whose key is its content hash is stored
    as its bytes alone (the key is recomputed on load: content addresses are random, so they are
    most of what a compressed image would otherwise hold), others as ``=key SP bytes``."""
    if not keyless:  # C-level loops: canonical_state_bytes writes every node of a state, twice per image load
        pairs = list(items)
        keys = map(_ascii, map(itemgetter(0), pairs))
        return b"\n".join(map(b" ".join, zip(keys, map(itemgetter(1), pairs))))
    return b"\n".join(data if data[:1] == b"[" and content_hash(data) == key
                      else b"=" + key.encode("ascii") + b" " + data for key, data in items)


_ascii = methodcaller("encode", "ascii")


def decode_nodes(data: bytes) -> dict[str, bytes]:
    """Reads every form :func:`encode_nodes` writes (keyed, keyless, explicit)."""
    if not data:
        return {}
    lines = data.split(b"\n")
    if data.count(b"\n[") + data.startswith(b"[") == len(lines):  # all keyless: hash in C, no Python loop
        return dict(zip(map(xxh3_128_hexdigest, lines), lines))  # = content_hash, inlined
    out: dict[str, bytes] = {}
    for line in lines:
        first = line[:1]
        if first == b"[":
            out[content_hash(line)] = line
            continue
        if first == b"=":
            line = line[1:]
        key, _, node = line.partition(b" ")
        out[key.decode("ascii")] = node
    return out


def encode_blobs(items: Iterable[tuple[str, bytes | Edit]]) -> bytes:
    return orjson.dumps([blob_entry(key, stored) for key, stored in items])


def decode_blobs(data: bytes) -> BlobTable:
    table = BlobTable()
    entries = orjson.loads(data)
    if type(entries) is not list:
        raise ValueError("the blob section is not a list of entries")
    add_blob_entries(table, entries)
    return table


def content_since(table: ContentTable, count: int) -> Iterable[tuple[str, bytes]]:
    """The entries added to ``table`` after its first ``count`` (tables only grow, in log order)."""
    return islice(table.items(), count, None)


def structure(state: State, indexed: bool = False) -> dict[str, Any]:
    """The state without its content.

    With ``indexed`` (images), a binding that is a reference ``["@", key]`` is
    stored by node position instead, in ``refs: {ns: [[names...], [positions...]]}``
    beside the other bindings: content addresses are random 128-bit numbers,
    so storing each once (in its node line, or not at all when keyless) is most
    of what makes an image small, and the split keeps loading a dict update.
    """
    namespaces: Any = state.namespaces
    refs: dict[str, list[list[Any]]] = {}
    if indexed:
        index = {key: i for i, (key, _) in enumerate(state.nodes.items())}
        namespaces = {}
        for ns, b in state.namespaces.items():
            plain: dict[str, Any] = {}
            names: list[str] = []
            positions: list[int] = []
            for name, v in b.items():
                if type(v) is list and len(v) == 2 and v[0] == "@" and v[1] in index:
                    names.append(name)
                    positions.append(index[v[1]])
                else:
                    plain[name] = v
            namespaces[ns] = plain
            if names:
                refs[ns] = [names, positions]
    return {
        "session": state.session,
        "seq": state.seq,
        "current_ns": state.current_ns,
        "namespaces": namespaces,
        "atoms": [[k, v] for k, v in state.atoms.items()],
        "facts": list(state.facts.values()),
        "files": state.files,
        "snapshots": {name: [at, description] for name, (at, description) in state.snapshots.items()},
        "merged": state.merged,
        **({"refs": refs} if indexed else {}),
    }


def state_from_structure(s: dict[str, Any], nodes: dict[str, bytes], blobs: BlobTable) -> State:
    namespaces, atoms, facts = s["namespaces"], s["atoms"], s["facts"]
    refs = s.get("refs")
    if refs:
        keys = list(nodes)
        for ns, (names, positions) in refs.items():
            named = itemgetter(*positions)(keys) if len(positions) > 1 else (keys[positions[0]],)
            namespaces.setdefault(ns, {}).update(zip(names, map(list, zip(repeat("@"), named))))
    return State(
        session=s["session"],
        seq=s["seq"],
        current_ns=s["current_ns"],
        namespaces=namespaces,
        atoms={int(k): v for k, v in atoms},
        facts={fact_key(f): f for f in facts},
        files=s["files"],
        nodes=_table(nodes),
        blobs=blobs,
        snapshots={name: (at, description) for name, (at, description) in s["snapshots"].items()},
        merged=dict(s.get("merged", {})),  # (absent from states written before it, as in v1 images)
    )


def _table(items: dict[str, bytes]) -> ContentTable:
    table = ContentTable()
    table._items = items  # the dict is ours already: no copy of a possibly large table
    return table


def encode_state(state: State, with_blobs: bool = True, keyless: bool = False, with_content: bool = True) -> bytes:
    """The whole state, the content it holds included (deterministic); blobs left out (``[]``) when not
    ``with_blobs``, all content when not ``with_content`` (a checkpoint whose content the store's index
    serves); node keys left out where they are the content hash when ``keyless`` (images: smaller)."""
    if not with_content:
        return frame_state(orjson.dumps(structure(state)), encode_nodes(()), b"[]")
    return frame_state(orjson.dumps(structure(state, indexed=keyless)), encode_nodes(state.nodes.items(), keyless),
                       encode_blobs(state.blobs.items()) if with_blobs else b"[]")


def frame_state(structure_json: bytes, nodes: bytes, blobs: bytes = b"[]") -> bytes:
    """The payload from its three parts (what format upcasters build)."""
    return frame(structure_json, nodes, blobs)


def decode_state(data: bytes) -> State:
    """Inverse of :func:`encode_state`; raises ValueError on malformed bytes.

    The cyclic garbage collector is paused meanwhile: decoding builds hundreds of
    thousands of acyclic containers, and each generation-2 pass it would trigger
    walks every live object of the process (a third of the time on a large state).
    """
    with paused_gc():
        return _decode_state(data)


def _decode_state(data: bytes) -> State:
    try:
        head, nodes, blobs = unframe(data, 3)
        return state_from_structure(orjson.loads(head), decode_nodes(nodes), decode_blobs(blobs))
    except (KeyError, TypeError, IndexError, UnicodeDecodeError, orjson.JSONDecodeError) as e:
        raise ValueError(f"malformed state payload ({type(e).__name__}: {e})") from e


def same_canonical_state(a: State, b: State) -> bool:
    """``canonical_state_bytes(a) == canonical_state_bytes(b)``, without writing both out sorted.

    Loading an image compares the session folded from its new log with the image's state: on
    100,000 bindings writing both canonical encodings (40,000 nodes sorted, every key sorted) was
    ~0.15 s of a 0.5 s load.  Node tables map text to bytes, so dict equality is equality of the
    sorted lines; the semantic part written as it stands is the same bytes sorted when it is the
    same unsorted, and is sorted only when the two orders differ.  Each part of the canonical
    bytes is free of raw newlines, so equal parts are exactly equal bytes.  The content compared is
    each state's live content (its values' nodes), however much of it the state holds in memory.
    """
    if file_blobs(a) != file_blobs(b) or dict(live_content(a)) != dict(live_content(b)):
        return False
    semantic_a, semantic_b = a.semantic(), b.semantic()
    as_is = orjson.OPT_NON_STR_KEYS
    if orjson.dumps(semantic_a, option=as_is) == orjson.dumps(semantic_b, option=as_is):
        return True
    return orjson.dumps(semantic_a, option=_CANONICAL) == orjson.dumps(semantic_b, option=_CANONICAL)


_CANONICAL = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


def canonical_state_bytes(state: State) -> bytes:
    """What "the same state, byte for byte" compares: the semantic state and its live content (what its
    values reach, not what its history left behind), canonically.

    Snapshots are left out: they name event numbers of one log, not part of what the VM sees.  Of the
    blobs, the whole content of those the world files refer to (how a version was stored, and the
    versions a file had before, are the log's business).
    """
    semantic = orjson.dumps(state.semantic(), option=_CANONICAL)
    nodes = sorted(live_content(state), key=itemgetter(0))  # keys are unique: no tuple comparisons (3x faster)
    return (semantic + b"\n" + encode_nodes(nodes) + b"\n"
            + encode_blobs(file_blobs(state)))
