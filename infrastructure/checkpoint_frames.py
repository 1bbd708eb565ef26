"""The bytes of checkpoint frames: keyframes, delta keyframes and P-frames, and their compression.

Three kinds of frame (``CheckpointMeta.kind``):

* ``I``: the whole state (``projections/state_codec.encode_state``);
* ``D``: a *delta keyframe*: the change from the previous keyframe (``base``, an ``I`` or a ``D``)
  plus the content added since it.  A state that grows (a session defining its bindings)
  is stored once, as a chain of what each step added, instead of as ever larger full frames;
* ``P``: the cumulative change from the latest keyframe (``base``, ``I`` or ``D``) plus the
  content added since it.  Nothing is based on a P-frame.

A delta frame (``D`` or ``P``) is, uncompressed::

    4 bytes  length of the head, then the head: orjson of {"p": patch, "n": nodes in the base,
             "b": blobs in the base, "s": snapshots, "m": merged (each only when it differs
             from the base's)}
    4 bytes  length of the node section (``key SP bytes`` lines), then it
    rest     the blob section (orjson)

Every stored payload starts with one byte saying how the rest is stored: ``0`` as is (tiny
frames that zstd would only make longer), ``1`` zstd, ``2`` zstd with the frame's *chain
dictionary*: the raw bytes of its base keyframe's chain, root first (the last
``DICT_LIMIT`` bytes of them).  What a delta repeats of the states before it (names,
structure, values that come back) then costs almost nothing.  zstd frames are written
without magic number, dictionary id and checksum (the payload has its own xxh3 in the
checkpoint's row): on a P-frame of a few dozen bytes those are a large share.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import orjson
import xxhash
import zstandard

from tapevm.domain.state import State, fact_key
from tapevm.projections.delta import Delta, diff
from tapevm.projections.state_codec import (
    content_since,
    decode_blobs,
    decode_nodes,
    encode_blobs,
    encode_nodes,
)

ZSTD_LEVEL = 9
KEYFRAME_LEVEL = 19
KEYFRAME_LEVEL_LIMIT = 256 << 10  # larger keyframes at ZSTD_LEVEL: level 19 runs at a few MB/s, after a commit
DICT_LIMIT = 1 << 20  # zstd's window at level 9 is larger: all of it can be referenced
RAW, ZSTD, ZSTD_DICT = 0, 1, 2
_LEN = 4


def _params(level: int) -> zstandard.ZstdCompressionParameters:
    return zstandard.ZstdCompressionParameters.from_level(
        level, format=zstandard.FORMAT_ZSTD1_MAGICLESS, write_checksum=False, write_dict_id=False)


class FrameCodec:
    """Compression of frame payloads; keeps the dictionary of one keyframe chain (the latest) at a time.

    Keyframes (``I``, ``D``) are a few per thousand checkpoints and read as often as the P-frames on
    them, so they are compressed harder (``KEYFRAME_LEVEL``, up to ``KEYFRAME_LEVEL_LIMIT`` raw bytes:
    a checkpoint is written right after a commit and must not stall it); P-frames at ``level``.
    """

    def __init__(self, level: int = ZSTD_LEVEL, keyframe_level: int = KEYFRAME_LEVEL) -> None:
        self._levels = (level, keyframe_level)
        self._plain_c = [zstandard.ZstdCompressor(compression_params=_params(lv)) for lv in self._levels]
        self._plain_d = zstandard.ZstdDecompressor(format=zstandard.FORMAT_ZSTD1_MAGICLESS)
        self._dict_key: object = None
        self._dict: zstandard.ZstdCompressionDict | None = None
        self._dict_c: dict[int, zstandard.ZstdCompressor] = {}
        self._dict_d: zstandard.ZstdDecompressor | None = None

    def _use_dict(self, dict_raw: bytes) -> zstandard.ZstdCompressionDict:
        data = dict_raw[-DICT_LIMIT:]
        key = (len(data), xxhash.xxh3_64_intdigest(data))  # a few microseconds; building a dictionary is not
        if self._dict_key != key or self._dict is None:
            self._dict = zstandard.ZstdCompressionDict(data, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
            self._dict_c = {}
            self._dict_d = zstandard.ZstdDecompressor(dict_data=self._dict, format=zstandard.FORMAT_ZSTD1_MAGICLESS)
            self._dict_key = key
        return self._dict

    def compress(self, raw: bytes, dict_raw: bytes | None = None, keyframe: bool = False) -> bytes:
        """The stored payload of ``raw`` (with the chain dictionary ``dict_raw`` when given)."""
        keyframe = keyframe and len(raw) <= KEYFRAME_LEVEL_LIMIT
        level = self._levels[keyframe]
        if dict_raw:
            d = self._use_dict(dict_raw)
            compressor = self._dict_c.get(level)
            if compressor is None:
                compressor = self._dict_c[level] = zstandard.ZstdCompressor(
                    dict_data=d, compression_params=_params(level))
            packed, how = compressor.compress(raw), ZSTD_DICT
        else:
            packed, how = self._plain_c[keyframe].compress(raw), ZSTD
        if len(packed) >= len(raw):
            return bytes((RAW,)) + raw
        return bytes((how,)) + packed

    def decompress(self, payload: bytes, dict_raw: bytes | None = None) -> bytes:
        """Inverse of :meth:`compress`; raises ValueError on bytes it cannot read."""
        if not payload:
            raise ValueError("empty payload")
        how, body = payload[0], payload[1:]
        try:
            if how == RAW:
                return body
            if how == ZSTD:
                return self._plain_d.decompress(body)
            if how == ZSTD_DICT:
                if dict_raw is None:
                    raise ValueError("a dictionary frame without its keyframe chain")
                self._use_dict(dict_raw)
                assert self._dict_d is not None
                return self._dict_d.decompress(body)
        except zstandard.ZstdError as e:
            raise ValueError(f"undecompressable payload ({e})") from e
        raise ValueError(f"unknown payload encoding {how}")


# -- delta frames ------------------------------------------------------------------------------
def _patch(delta: Delta) -> dict[str, Any]:
    """A delta without the old values (the base has them) and without empty parts: what a frame stores."""
    patch = {
        "ns": delta.current_ns[1] if delta.current_ns else None,
        "set": {ns: {**c.added, **{k: n for k, (_, n) in c.changed.items()}} for ns, c in delta.bindings.items()
                if c.added or c.changed},
        "del": {ns: list(c.removed) for ns, c in delta.bindings.items() if c.removed},
        "atoms_set": [[k, v] for k, v in {**delta.atoms.added,
                                           **{k: n for k, (_, n) in delta.atoms.changed.items()}}.items()],
        "atoms_del": list(delta.atoms.removed),
        "facts_del": sorted(delta.facts.retracted),
        "facts_add": delta.facts.asserted,
        "files_set": {**delta.files.added, **{k: n for k, (_, n) in delta.files.changed.items()}},
        "files_del": list(delta.files.removed),
    }
    return {k: v for k, v in patch.items() if v}


def patch_entries(patch: dict[str, Any]) -> int:
    """How many entries a patch sets or removes (what the keyframe policy weighs against the state's)."""
    count = 1 if patch.get("ns") else 0
    for part in ("set", "del"):
        count += sum(len(v) for v in patch.get(part, {}).values())
    for part in ("atoms_set", "atoms_del", "facts_del", "facts_add", "files_set", "files_del"):
        count += len(patch.get(part, ()))
    return count


def state_entries(state: State) -> int:
    """The entries of a state (bindings, atoms, facts, files, content): its size for the keyframe policy."""
    return (sum(len(b) for b in state.namespaces.values()) + len(state.atoms) + len(state.facts)
            + len(state.files) + len(state.nodes) + len(state.blobs))


class DeltaFrame(NamedTuple):
    """A delta frame's raw bytes, and what the keyframe policy weighs."""

    raw: bytes
    entries: int                          # entries it sets or removes, content included
    values: dict[tuple[str, str], Any]    # the bindings it sets
    nodes: int                            # content entries it carries
    blobs: int


def delta_frame(base: State, base_nodes: int, base_blobs: int, state: State) -> DeltaFrame:
    """The change from ``base`` to ``state`` plus the content added since ``base``."""
    patch = _patch(diff(base, state))
    head: dict[str, Any] = {"p": patch, "n": base_nodes, "b": base_blobs}
    if state.snapshots != base.snapshots:
        head["s"] = {name: [at, d] for name, (at, d) in state.snapshots.items()}
    if state.merged != base.merged:
        head["m"] = state.merged
    head_bytes = orjson.dumps(head)
    added_nodes = list(content_since(state.nodes, base_nodes))
    added_blobs = list(content_since(state.blobs, base_blobs))
    nodes = encode_nodes(added_nodes)
    raw = (len(head_bytes).to_bytes(_LEN, "big") + head_bytes + len(nodes).to_bytes(_LEN, "big") + nodes
           + (encode_blobs(added_blobs) if added_blobs else b""))
    values = {(ns, name): v for ns, table in patch.get("set", {}).items() for name, v in table.items()}
    return DeltaFrame(raw, patch_entries(patch) + len(added_nodes) + len(added_blobs), values,
                      len(added_nodes), len(added_blobs))


def apply_delta_frame(base: State, raw: bytes, seq: int) -> tuple[State, int]:
    """``base`` (decoded from the frame's base, consumed) moved on to event ``seq`` by a delta frame;
    and the frame's entry count."""
    n = int.from_bytes(raw[:_LEN], "big")
    head = orjson.loads(raw[_LEN:_LEN + n])
    rest = raw[_LEN + n:]
    m = int.from_bytes(rest[:_LEN], "big")
    if len(rest) < _LEN + m:
        raise ValueError("truncated delta frame")
    if len(base.nodes) != head["n"] or len(base.blobs) != head["b"]:
        raise ValueError("the base keyframe's content does not match the frame's")
    _apply_patch(base, head["p"])
    entries = patch_entries(head["p"])
    for k, v in decode_nodes(rest[_LEN:_LEN + m]).items():
        base.nodes.add(k, v)
        entries += 1
    blobs = rest[_LEN + m:]
    if blobs:
        added = decode_blobs(blobs)
        base.blobs.add_table(added)
        entries += len(added)
    if "s" in head:
        base.snapshots = {name: (at, d) for name, (at, d) in head["s"].items()}
    if "m" in head:
        base.merged = dict(head["m"])
    base.seq = seq
    return base, entries


def _apply_patch(state: State, found: dict[str, Any]) -> None:
    patch = {"ns": None, "set": {}, "del": {}, "atoms_set": [], "atoms_del": [], "facts_del": [], "facts_add": [],
             "files_set": {}, "files_del": [], **found}
    if patch["ns"] is not None:
        state.current_ns = patch["ns"]
        state.namespaces.setdefault(patch["ns"], {})
    for ns, names in patch["del"].items():
        table = state.namespaces.get(ns, {})
        for name in names:
            table.pop(name, None)
    for ns, values in patch["set"].items():
        state.namespaces.setdefault(ns, {}).update(values)
    for k in patch["atoms_del"]:
        state.atoms.pop(int(k), None)
    for k, v in patch["atoms_set"]:
        state.atoms[int(k)] = v
    for path in patch["files_del"]:
        state.files.pop(path, None)
    state.files.update(patch["files_set"])
    if patch["facts_del"] or patch["facts_add"]:
        gone = set(patch["facts_del"])
        state.facts = {k: v for i, (k, v) in enumerate(state.facts.items()) if i not in gone}
        for enc in patch["facts_add"]:
            state.facts[fact_key(enc)] = enc
