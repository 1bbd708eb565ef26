"""Reading checkpoints: the nearest one that can be trusted, its payload checked against the log.

Nothing is trusted: a checkpoint is used only if its projection version is this code's (the list
dropped the others), its seal (``tip``, and its keyframes': ``seal.py``) matches the log, which
binds it to its stream, its event and every record up to it, and its payload matches its xxh3
checksum, taken over the seal.  One that fails is reported, dropped and forgotten (frames based
on it with it), never served; the caller writes it again from the fold.  Reading a
checkpoint costs its keyframe chain (one ``I`` and at most ``MAX_DEPTH`` ``D``s) and at most one
P-frame; keyframes are checked and decompressed once per reader.

A fork reads its source's checkpoints for the events before its fork point (``source``): its
``nearest``, and the payloads of the keyframes its own first frames are based on.  Imports the
domain and the rest of this package.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from tapevm.domain.ports import CheckpointMeta, EventPlace
from tapevm.domain.state import State
from tapevm.projections.checkpoints import policy
from tapevm.projections.checkpoints.frames import FrameCodec, apply_delta_frame, split_pack
from tapevm.projections.checkpoints.keyframes import FrameBasis, Keyframe, semantic_copy
from tapevm.projections.checkpoints.notices import Notice
from tapevm.projections.checkpoints.seal import checkpoint_seal, pack_hash, payload_hash
from tapevm.projections.checkpoints.stored import StoredCheckpoints
from tapevm.projections.state_codec import decode_state

ReadFields = Callable[[int, "int | None"], Iterator[tuple[int, str, dict[str, Any]]]]
# events of the stream's own records where the log holds them, with one scan for all
PlacesOf = Callable[[Sequence[int]], "list[EventPlace | None]"]
LoadedKeyframe = tuple[State, bytes, int, int]  # state, its chain's dictionary, depth, delta entries


class CheckpointReader:
    """Loads ``stored``'s checkpoints, checking each against the log: the events ``read`` returns
    and the stream's own records ``place`` finds."""

    def __init__(self, stored: StoredCheckpoints, read: ReadFields, codec: FrameCodec, basis: FrameBasis,
                 source: CheckpointReader | None = None, *, places: PlacesOf) -> None:
        self.stored = stored
        self.read = read
        self.places = places
        self._seals: dict[int, str | None] = {}  # the seals of the checkpoints one load checks, read at once
        self.codec = codec
        self.basis = basis  # the latest keyframe loaded is remembered there for the writer
        self.source = source
        # Keyframe payloads already checked (version, seal, checksum) and decompressed, by seq: a chain
        # is read once per reader, not once per state_at (P-frames are still checked every time).
        self._checked: dict[int, tuple[CheckpointMeta, bytes]] = {}
        # the last pack read: (first frame, hash) and its frames' raw bytes by event number
        self._pack: tuple[tuple[int, str] | None, dict[int, bytes]] = (None, {})

    def forget_checked(self) -> None:
        """Check every keyframe again on its next read (verify and rebuild trust nothing read before)."""
        self._checked = {}
        self._seals = {}

    def nearest(self, n: int | None) -> tuple[State | None, CheckpointMeta | None, bool]:
        """The state at the nearest valid checkpoint at or before ``n`` (None: any), that checkpoint
        (None: there is none; it may be the source's), and whether one of the stream's own was ignored."""
        ignored = False
        for meta in reversed(self.stored.metas()):
            if n is not None and meta.seq > n:
                continue
            state = self.load(meta)
            if state is not None:
                return state, meta, ignored
            ignored = True
        fork_at = self.stored.fork_at
        if self.source is not None and fork_at > 0:
            inherited, at, _ = self.source.nearest(fork_at if n is None else min(n, fork_at))
            if inherited is not None:
                inherited.session = self.stored.stream
                key = self.source.basis.key  # the fork's first frames are based on it, as on a keyframe of its own
                if key is not None and self.basis.key is None:
                    self.use_key(key)
                return inherited, at, ignored
        return None, None, ignored

    def seal(self, seq: int) -> str | None:
        """The seal a checkpoint of the stream at event ``seq`` must carry, from the log as it is now
        (None: the stream's records hold no such event); read with the others of its load, if it was."""
        if seq in self._seals:
            return self._seals.pop(seq)
        return self.seals([seq])[0]

    def seals(self, seqs: Sequence[int]) -> list[str | None]:
        """``seal`` of each of ``seqs``, with one scan of the log's records up to the last."""
        stream = self.stored.stream
        return [None if place is None else checkpoint_seal(stream, seq, place)
                for seq, place in zip(seqs, self.places(seqs))]

    def _read_seals(self, meta: CheckpointMeta) -> None:
        """Read at once the seals of ``meta`` and of the stream's own keyframes it is based on that are
        not checked yet: what one load checks costs one scan of the log, however long its chain."""
        wanted: list[int] = []
        m: CheckpointMeta | None = meta
        while m is not None and m.session == self.stored.stream and len(wanted) <= policy.MAX_DEPTH + 2:
            checked = self._checked.get(m.seq)
            if checked is None or checked[0] != m:
                wanted.append(m.seq)
            base = None if m.kind == "I" else self.stored.keyframe_at(m.base)
            m = base if base is not None and base.seq < m.seq else None
        self._seals = dict(zip(wanted, self.seals(wanted))) if len(wanted) > 1 else {}

    def payload(self, meta: CheckpointMeta, dict_raw: bytes | None = None) -> bytes | None:
        """The checked, decompressed payload of ``meta``, or None (reported, dropped) when it must not
        be trusted; ``dict_raw``: its keyframe chain's raw frames (a delta frame's dictionary)."""
        if meta.session != self.stored.stream and self.source is not None:  # a keyframe a fork's frames are based on
            return self.source.payload(meta, dict_raw)
        checked = self._checked.get(meta.seq)
        if checked is not None and checked[0] == meta:
            return checked[1]
        # (another projection version's checkpoints never get here: the list dropped them)
        raw = None
        if self.seal(meta.seq) != meta.tip:
            reason: str | None = ("not sealed to this session's log up to its event (another session's, "
                                  "or the records it covers changed or were deleted)")
        elif meta.pack:
            raw, reason = self._packed(meta, dict_raw)
        else:
            raw, reason = self._checked_raw(self.stored.payload(meta.seq), payload_hash, meta.tip,
                                            meta.payload_hash, dict_raw)
        if reason is not None:
            self.ignore(meta, reason)
        elif meta.kind != "P" and raw is not None:
            self._checked[meta.seq] = (meta, raw)
        return raw

    def _checked_raw(self, stored: bytes | None, checksum: Callable[[Any, bytes], str], seals: str | Sequence[str],
                     expected_hash: str, dict_raw: bytes | None) -> tuple[bytes | None, str | None]:
        """``stored`` decompressed if it is the payload ``expected_hash`` names (``checksum`` over
        ``seals`` and it); else None and why not."""
        if stored is None:
            return None, "payload missing"
        if checksum(seals, stored) != expected_hash:
            return None, "payload checksum mismatch (damaged, or not this checkpoint's)"
        try:
            return self.codec.decompress(stored, dict_raw), None
        except ValueError as e:
            return None, str(e)

    def _packed(self, meta: CheckpointMeta, dict_raw: bytes | None) -> tuple[bytes | None, str | None]:
        """The raw frame of ``meta`` from its pack (the pack read, checked and split once for its frames)."""
        key = (meta.pack, meta.payload_hash)
        if self._pack[0] != key:
            seals = [m.tip for m in self.stored.metas() if m.pack == meta.pack]
            raw, reason = self._checked_raw(self.stored.pack_payload(meta.pack), pack_hash, seals,
                                            meta.payload_hash, dict_raw)
            if raw is None:
                return None, reason
            try:
                self._pack = (key, split_pack(raw))
            except ValueError as e:
                return None, str(e)
        raw = self._pack[1].get(meta.seq)
        return (raw, None) if raw is not None else (None, f"its pack {meta.pack} does not hold it")

    def ignore(self, meta: CheckpointMeta, reason: str) -> None:
        """Report ``meta`` as not to be trusted and drop it (a source's keyframe: from the source)."""
        self.basis.forget_if(meta)
        if meta.session != self.stored.stream and self.source is not None:
            self.source.ignore(meta, reason)
            return
        self.stored.report(Notice("checkpoint_ignored", {
            "session": self.stored.stream, "seq": meta.seq, "kind": meta.kind, "reason": reason,
            **({"pack": meta.pack} if meta.pack else {})}))
        self._checked.pop(meta.seq, None)
        self.stored.dropped(meta)

    def load(self, meta: CheckpointMeta) -> State | None:
        """The state at ``meta`` (freshly decoded), or None when it cannot be trusted (reported, dropped)."""
        self._read_seals(meta)
        try:
            if meta.kind != "P":
                found = self.keyframe(meta)
                if found is None:
                    return None
                self._remember_key(meta, found)
                return found[0]
            key_meta = self.stored.keyframe_at(meta.base)
            if key_meta is None:
                self.ignore(meta, f"its keyframe {meta.base} is gone")
                return None
            found = self.keyframe(key_meta)
            if found is None:
                self.ignore(meta, f"its keyframe {meta.base} was ignored")
                return None
            raw = self.payload(meta, found[1])
            if raw is None:
                return None
            self._remember_key(key_meta, found)
            return apply_delta_frame(found[0], raw, meta.seq)[0]
        except (ValueError, KeyError, TypeError, IndexError) as e:
            self.ignore(meta, f"undecodable payload ({type(e).__name__}: {e})")
            return None
        finally:
            self._seals = {}  # read for this load only

    def _keyframe_chain(self, meta: CheckpointMeta) -> list[CheckpointMeta] | None:
        """``meta`` and the delta keyframes and full keyframe it is based on, newest first; None
        (reported, dropped) when a link is gone or the chain is longer than this code writes."""
        chain: list[CheckpointMeta] = [meta]
        while chain[-1].kind == "D":
            if len(chain) > policy.MAX_DEPTH + 1:
                self.ignore(meta, "its keyframe chain is longer than this code writes")
                return None
            base = self.stored.keyframe_at(chain[-1].base)
            if base is None or base.seq >= chain[-1].seq:
                self.ignore(chain[-1], f"its keyframe {chain[-1].base} is gone")
                return None
            chain.append(base)
        return chain

    def keyframe(self, meta: CheckpointMeta) -> LoadedKeyframe | None:
        """A keyframe's state (freshly decoded: the caller may consume it), its chain's dictionary,
        depth and delta entries; None (reported, dropped) when it or its chain cannot be trusted."""
        if meta.kind == "I":
            raw = self.payload(meta)
            return None if raw is None else (decode_state(raw), raw, 0, 0)
        chain = self._keyframe_chain(meta)
        if chain is None:
            return None
        root = chain.pop()
        raw = self.payload(root)
        if raw is None:
            for later in chain:
                self.ignore(later, f"its keyframe {root.seq} was ignored")
            return None
        state, dict_raw, entries = decode_state(raw), raw, 0
        above = list(reversed(chain))
        for i, frame in enumerate(above):
            raw = self.payload(frame, dict_raw)
            if raw is None:
                for later in above[i + 1:]:  # based on it: useless now
                    self.ignore(later, f"its keyframe {frame.seq} was ignored")
                return None
            state, n = apply_delta_frame(state, raw, frame.seq)
            dict_raw += raw
            entries += n
        return state, dict_raw, len(chain), entries

    def _remember_key(self, meta: CheckpointMeta, found: LoadedKeyframe) -> None:
        """Make the keyframe just loaded the basis of the next frames, unless a later one is."""
        state, dict_raw, depth, entries = found
        if self.basis.key is None or self.basis.key.meta.seq <= meta.seq:
            self.use_key(Keyframe(meta, semantic_copy(state), len(state.nodes), len(state.blobs), dict_raw,
                                  depth, entries))

    def use_key(self, key: Keyframe) -> None:
        """Base the next frames on ``key`` (one of the stream's keyframes, or its source's)."""
        self.basis.use(key, self.stored.p_frames_on(key.meta.seq))
