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
             from the base's), "i": length of the integer section (when there is one)}
    "i" bytes  the integer section: the Rice code (``rice_coding.py``) of the integer columns
    4 bytes  length of the node section (``key SP bytes`` lines), then it
    rest     the blob section (orjson)

The bindings a patch sets are stored as columns per namespace (``"S": {ns: [order, runs, new,
ref, k, int_runs, others]}``), because on a state that churns (the same bindings updated again
and again) the names and the values' digits were most of a P-frame: names the base already
has are given by their *positions* in the base namespace's order, as runs (``[gap, length,
...]``), new names as strings; ``order`` is a 32-bit digest of the base's name order (so a
reader whose base is ordered differently refuses the frame instead of misnaming bindings).
The values at the positions ``int_runs`` are integers, stored as ``ref - value`` (frame of
reference: counters, times and event numbers updated together differ in their last digits
only), Rice-coded with parameter ``k`` into the integer section, in order, namespace after
namespace; the ``others`` are JSON.  Writer and readers must see the base in the same order:
the writer keeps its keyframe in the order a reader decodes it to (:func:`follow_delta_frame`).

Every stored payload starts with one byte saying how the rest is stored: ``0`` as is (tiny
frames that zstd would only make longer), ``1`` zstd, ``2`` zstd with the frame's *chain
dictionary*: the raw bytes of its base keyframe's chain, root first (the last
``DICT_LIMIT`` bytes of them), ``3`` the same for a delta keyframe, with the last
``KEYFRAME_DICT_LIMIT`` bytes only.  What a delta repeats of the states before it (names,
structure, values that come back) then costs almost nothing.  (A delta keyframe's chain is new
each time, and zstd digests a dictionary before using it: at level 19 with 1 MB of chain that
took ~0.2 s per keyframe of a 100,000-binding session, after a commit.  Level 17 over the last
256 KB compresses as well on the benchmarks' sessions, 5-7x faster.)  zstd frames are written
without magic number, dictionary id and checksum (the payload has its own xxh3 in the
checkpoint's row): on a P-frame of a few dozen bytes those are a large share.

P-frames on one keyframe are stored several to a row as a *pack* (:func:`join_pack`): their
raw bytes, each after its event number and length, compressed together as one payload.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, NamedTuple

import orjson
import xxhash
import zstandard

from tapevm.domain.delta import Delta, diff
from tapevm.domain.state import State, fact_key
from tapevm.projections.checkpoints import rice_coding
from tapevm.projections.state_codec import (
    content_since,
    decode_blobs,
    decode_nodes,
    encode_blobs,
    encode_nodes,
)

ZSTD_LEVEL = 9
KEYFRAME_LEVEL = 17
KEYFRAME_LEVEL_LIMIT = 256 << 10  # larger keyframes at ZSTD_LEVEL: level 17 runs at a few MB/s, after a commit
DICT_LIMIT = 1 << 20  # zstd's window at level 9 is larger: all of it can be referenced
KEYFRAME_DICT_LIMIT = 256 << 10  # a delta keyframe's dictionary (digested anew for each: see above)
RAW, ZSTD, ZSTD_DICT, ZSTD_KEY_DICT = 0, 1, 2, 3
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

    def _use_dict(self, dict_raw: bytes, limit: int = DICT_LIMIT) -> zstandard.ZstdCompressionDict:
        data = dict_raw[-limit:]
        key = (len(data), xxhash.xxh3_64_intdigest(data))  # a few microseconds; building a dictionary is not
        if self._dict_key != key or self._dict is None:
            self._dict = zstandard.ZstdCompressionDict(data, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
            self._dict_c = {}
            self._dict_d = zstandard.ZstdDecompressor(dict_data=self._dict, format=zstandard.FORMAT_ZSTD1_MAGICLESS)
            self._dict_key = key
        return self._dict

    def compress(self, raw: bytes, dict_raw: bytes | None = None, keyframe: bool = False) -> bytes:
        """The stored payload of ``raw`` (with the chain dictionary ``dict_raw`` when given)."""
        harder = keyframe and len(raw) <= KEYFRAME_LEVEL_LIMIT
        level = self._levels[harder]
        if dict_raw:
            d = self._use_dict(dict_raw, KEYFRAME_DICT_LIMIT if keyframe else DICT_LIMIT)
            compressor = self._dict_c.get(level)
            if compressor is None:
                compressor = self._dict_c[level] = zstandard.ZstdCompressor(
                    dict_data=d, compression_params=_params(level))
            packed, how = compressor.compress(raw), ZSTD_KEY_DICT if keyframe else ZSTD_DICT
        else:
            packed, how = self._plain_c[harder].compress(raw), ZSTD
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
            if how in (ZSTD_DICT, ZSTD_KEY_DICT):
                if dict_raw is None:
                    raise ValueError("a dictionary frame without its keyframe chain")
                self._use_dict(dict_raw, KEYFRAME_DICT_LIMIT if how == ZSTD_KEY_DICT else DICT_LIMIT)
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


def state_entries(state: State, with_content: bool = True) -> int:
    """The entries of a state (bindings, atoms, facts, files, and the content it holds unless a keyframe
    of it would not carry content): its size for the keyframe policy."""
    return (sum(len(b) for b in state.namespaces.values()) + len(state.atoms) + len(state.facts)
            + len(state.files) + (len(state.nodes) + len(state.blobs) if with_content else 0))


class DeltaFrame(NamedTuple):
    """A delta frame's raw bytes, and what the keyframe policy weighs."""

    raw: bytes
    entries: int                          # entries it sets or removes, content included
    values: dict[tuple[str, str], Any]    # the bindings it sets
    nodes: int                            # content entries it carries
    blobs: int
    names: dict[str, set[str]]            # per namespace, the names of the bindings it sets or removes


def delta_frame(base: State, base_nodes: int, base_blobs: int, state: State,
                positions: Positions | None = None, touched: dict[str, set[str]] | None = None,
                with_content: bool = True) -> DeltaFrame:
    """The change from ``base`` to ``state`` plus the content added since ``base`` (none when not
    ``with_content``: the store's index serves it); ``positions``: a memo of ``base``'s binding
    positions, kept by the caller while it writes frames on the same base; ``touched``: per
    namespace, the only binding names that may differ (see ``delta.diff``)."""
    memo: Positions = {} if positions is None else positions
    patch = _patch(diff(base, state, touched, lambda ns: _base_positions(base, ns, memo)[0]))
    head: dict[str, Any] = {"p": patch, "n": base_nodes, "b": base_blobs}
    if state.snapshots != base.snapshots:
        head["s"] = {name: [at, d] for name, (at, d) in state.snapshots.items()}
    if state.merged != base.merged:
        head["m"] = state.merged
    ints = b""
    if "set" in patch:
        packed = {k: v for k, v in patch.items() if k != "set"}
        packed["S"], bits = _pack_bindings(patch["set"], base, memo)
        head["p"] = packed
        ints = rice_coding.to_bytes(bits)
        if ints:
            head["i"] = len(ints)
    head_bytes = orjson.dumps(head)
    added_nodes = list(content_since(state.nodes, base_nodes)) if with_content else []
    added_blobs = list(content_since(state.blobs, base_blobs)) if with_content else []
    nodes = encode_nodes(added_nodes)
    raw = (len(head_bytes).to_bytes(_LEN, "big") + head_bytes + ints + len(nodes).to_bytes(_LEN, "big") + nodes
           + (encode_blobs(added_blobs) if added_blobs else b""))
    values = {(ns, name): v for ns, table in patch.get("set", {}).items() for name, v in table.items()}
    names: dict[str, set[str]] = {}
    for part in ("set", "del"):
        for ns, changed in patch.get(part, {}).items():
            names.setdefault(ns, set()).update(changed)
    return DeltaFrame(raw, patch_entries(patch) + len(added_nodes) + len(added_blobs), values,
                      len(added_nodes), len(added_blobs), names)


def _split(raw: bytes) -> tuple[dict[str, Any], bytes, bytes]:
    """A delta frame's head, the bytes of its integer column, and the rest (its content)."""
    n = int.from_bytes(raw[:_LEN], "big")
    if len(raw) < _LEN + n:
        raise ValueError("truncated delta frame")
    head = orjson.loads(raw[_LEN:_LEN + n])
    m = _LEN + n + head.get("i", 0)
    return head, raw[_LEN + n:m], raw[m:]


def _apply_head(state: State, head: dict[str, Any], ints: bytes) -> int:
    """Apply what a frame's head changes (not its content); the entries it sets or removes."""
    patch = dict(head["p"])
    if "S" in patch:
        patch["set"] = _unpack_bindings(patch.pop("S"), rice_coding.from_bytes(ints), state)
    _apply_patch(state, patch)
    if "s" in head:
        state.snapshots = {name: (at, d) for name, (at, d) in head["s"].items()}
    if "m" in head:
        state.merged = dict(head["m"])
    return patch_entries(patch)


def follow_delta_frame(base: State, raw: bytes) -> None:
    """Move ``base`` (a semantic copy, content tables left alone) on by a delta frame, in the order a
    reader decoding the frame gets: how the writer keeps a delta keyframe for the frames based on it.

    A state reached through the log may order a namespace differently (a binding removed and defined
    again moves to its end; a patch changes it where it was), and P-frames name bindings by position.
    """
    head, ints, _ = _split(raw)
    _apply_head(base, head, ints)


def apply_delta_frame(base: State, raw: bytes, seq: int) -> tuple[State, int]:
    """``base`` (decoded from the frame's base, consumed) moved on to event ``seq`` by a delta frame;
    and the frame's entry count."""
    head, ints, rest = _split(raw)
    m = int.from_bytes(rest[:_LEN], "big")
    if len(rest) < _LEN + m:
        raise ValueError("truncated delta frame")
    if len(base.nodes) != head["n"] or len(base.blobs) != head["b"]:
        raise ValueError("the base keyframe's content does not match the frame's")
    entries = _apply_head(base, head, ints)
    for k, v in decode_nodes(rest[_LEN:_LEN + m]).items():
        base.nodes.add(k, v)
        entries += 1
    blobs = rest[_LEN + m:]
    if blobs:
        added = decode_blobs(blobs)
        base.blobs.add_table(added)
        entries += len(added)
    base.seq = seq
    return base, entries


def join_pack(frames: Sequence[tuple[int, bytes]]) -> bytes:
    """P-frames ``(event number, raw bytes)`` as the raw bytes of one *pack* (compressed as one payload):
    each frame as 8 bytes of event number, 4 of length, then it."""
    return b"".join(seq.to_bytes(8, "big") + len(raw).to_bytes(_LEN, "big") + raw for seq, raw in frames)


def split_pack(raw: bytes) -> dict[int, bytes]:
    """Inverse of :func:`join_pack`: each frame's raw bytes by event number; ValueError on damage."""
    frames: dict[int, bytes] = {}
    pos = 0
    while pos < len(raw):
        end = pos + 8 + _LEN + int.from_bytes(raw[pos + 8:pos + 8 + _LEN], "big")
        if end > len(raw) or pos + 8 + _LEN > len(raw):
            raise ValueError("truncated pack")
        frames[int.from_bytes(raw[pos:pos + 8], "big")] = raw[pos + 8 + _LEN:end]
        pos = end
    return frames


def _order_digest(names: list[str]) -> int:
    return xxhash.xxh3_64_intdigest(orjson.dumps(names)) & 0xFFFFFFFF


Positions = dict[str, tuple[dict[str, int], int]]  # ns -> (name -> position, order digest) of one base


def _base_positions(base: State, ns: str, memo: Positions) -> tuple[dict[str, int], int]:
    """``base``'s names in ``ns`` by position, and the digest of their order (kept in ``memo``)."""
    found = memo.get(ns)
    if found is None:
        order = list(base.namespaces.get(ns, ()))
        found = memo[ns] = ({name: i for i, name in enumerate(order)}, _order_digest(order))
    return found


def _pack_bindings(sets: dict[str, dict[str, Any]], base: State, memo: Positions) -> tuple[dict[str, list[Any]], str]:
    """The bindings a patch sets, as columns per namespace, and the bits of their integers (see the
    module's docstring); ``memo`` keeps the base's positions for the next frames on the same base."""
    packed: dict[str, list[Any]] = {}
    bits: list[str] = []
    for ns, table in sets.items():
        index, digest = _base_positions(base, ns, memo)
        known = sorted((index[name], name) for name in table if name in index)
        new = [name for name in table if name not in index]
        values = [table[name] for _, name in known] + [table[name] for name in new]
        ints = [v for v in values if type(v) is int]
        ref = max(ints, default=0)
        ages = [ref - v for v in ints]
        k = rice_coding.choose_k(ages)
        bits.append(rice_coding.encode(ages, k))
        packed[ns] = [digest if known else 0, _runs(p for p, _ in known), new, ref, k,
                      _runs(i for i, v in enumerate(values) if type(v) is int), [v for v in values if type(v) is not int]]
    return packed, "".join(bits)


def _runs(positions: Iterable[int]) -> list[int]:
    """Increasing positions as ``[gap, length, ...]`` runs."""
    runs: list[int] = []
    end = 0
    for p in positions:
        if runs and p == end:
            runs[-1] += 1
        else:
            runs += [p - end, 1]
        end = p + 1
    return runs


def _positions(runs: list[int]) -> Iterator[tuple[int, int]]:
    """The ``(start, end)`` of each run of :func:`_runs`."""
    end = 0
    for gap, length in zip(runs[::2], runs[1::2]):
        if gap < 0 or length < 1:
            raise ValueError("a frame's runs are not increasing")
        start = end + gap
        end = start + length
        yield start, end


def _unpack_bindings(packed: dict[str, list[Any]], bits: str, base: State) -> dict[str, dict[str, Any]]:
    """Inverse of :func:`_pack_bindings` against the same base; ValueError when the base is not that."""
    sets: dict[str, dict[str, Any]] = {}
    pos = 0
    for ns, (digest, runs, new, ref, k, int_runs, others) in packed.items():
        order = list(base.namespaces.get(ns, ()))
        if runs and _order_digest(order) != digest:
            raise ValueError(f"the base keyframe's bindings of {ns} are not in the order the frame names them by")
        names: list[str] = []
        for start, end in _positions(runs):
            if end > len(order):
                raise ValueError(f"a frame names binding {end - 1} of {ns}, which has {len(order)}")
            names += order[start:end]
        names += new
        at = [False] * len(names)
        for start, end in _positions(int_runs):
            if end > len(names):
                raise ValueError(f"a frame sets integers past the {len(names)} bindings of {ns} it names")
            at[start:end] = [True] * (end - start)
        ages, pos = rice_coding.decode(bits, sum(at), k, pos)
        if len(names) != len(ages) + len(others):
            raise ValueError(f"a frame sets {len(ages) + len(others)} values for {len(names)} bindings of {ns}")
        ints, rest = iter(ages), iter(others)
        sets[ns] = {name: ref - next(ints) if is_int else next(rest) for name, is_int in zip(names, at)}
    return sets


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
