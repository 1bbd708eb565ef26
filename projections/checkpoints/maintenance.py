"""Rebuilding and verifying a stream's checkpoints from its log (``tape checkpoints rebuild|verify``).

A rebuild writes every checkpoint again (every ``interval`` events, and at the head) and keeps
them aside until the whole log has been read: a log that cannot be read (a damaged record) fails
the rebuild with the old checkpoints still in place.  A verify recomputes every checkpoint's events
hash from the log (of a fork: from its fork point, the events before being its source's to
verify) and loads each one; those that fail are dropped.  Imports the domain and the rest of this package.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from tapevm.domain.fold import fold_fields
from tapevm.domain.ports import CheckpointMeta, CheckpointStore
from tapevm.domain.state import State
from tapevm.projections.checkpoints.events_hash import ZERO_HASH, RunningEventsHash, chain_hash
from tapevm.projections.checkpoints.reader import CheckpointReader, ReadFields
from tapevm.projections.checkpoints.writer import CheckpointWriter

Progress = Callable[[int, int], None]


class StagedFrames:
    """Frames and packs a rebuild writes, held until it has read the whole log, then stored at once."""

    def __init__(self) -> None:
        self.rows: list[tuple[CheckpointMeta, bytes]] = []
        self.packs: list[tuple[list[CheckpointMeta], bytes]] = []

    def put(self, meta: CheckpointMeta, payload: bytes) -> None:
        self.rows.append((meta, payload))

    def put_pack(self, frames: Sequence[CheckpointMeta], payload: bytes) -> bool:
        """Hold the pack in place of its frames' rows."""
        seqs = {m.seq for m in frames}
        self.rows[:] = [(m, p) for m, p in self.rows if m.seq not in seqs]
        self.packs.append((list(frames), payload))
        return True

    def store(self, cache: CheckpointStore, stream: str) -> None:
        """Replace every checkpoint of ``stream`` in ``cache`` by those held."""
        cache.delete(stream)
        for meta, payload in self.rows:
            cache.put(meta, payload)
        for metas, payload in self.packs:
            cache.put_pack(metas, payload)


def rebuild(writer: CheckpointWriter, reader: CheckpointReader, read: ReadFields, head: int,
            interval: int, progress: Progress | None = None) -> list[CheckpointMeta]:
    """Drop every checkpoint of the writer's stream and write them again from the log, events 1..``head``."""
    stored = writer.stored
    assert stored.cache is not None
    kept = stored.metas()
    staged = StagedFrames()
    writer.sink = staged
    writer.packs.clear()
    stored.replace([])
    writer.basis.forget()
    reader.forget_checked()
    writer.running = RunningEventsHash(stored.fork_at)
    try:
        _write_all(writer, read, head, interval, progress)
    except BaseException:
        stored.replace(kept)
        writer.basis.key, writer.running = None, None
        writer.packs.clear()
        raise
    finally:
        writer.sink = writer.cache_sink
    staged.store(stored.cache, stored.stream)
    return stored.metas()


def _write_all(writer: CheckpointWriter, read: ReadFields, head: int, interval: int,
               progress: Progress | None) -> None:
    """Fold the log and write a checkpoint every ``interval`` events and at ``head``."""
    stored = writer.stored
    state = State(session=stored.stream)
    for seq, type_name, fields in read(1, head):
        fold_fields([(seq, type_name, fields)], state)
        if seq <= stored.fork_at:  # a fork's first events: its source's to checkpoint
            continue
        assert writer.running is not None
        writer.running.add(seq, type_name, fields)
        if seq % interval == 0 or seq == head:
            writer.write(state)  # chains on from the running hash, which write() restarts
            if progress is not None:
                progress(seq, head)
    writer.packs.flush(writer.sink)


def verify(reader: CheckpointReader, read: ReadFields) -> list[tuple[CheckpointMeta, str | None]]:
    """Every checkpoint with the reason it cannot be trusted (None: it can), checking the whole event
    chain (of a fork: from its fork point; the events before it are its source's to verify).

    Those that cannot be trusted are dropped (reported as ignored), and the frames based on them
    with them: the caller writes them again from the log."""
    stored = reader.stored
    results: list[tuple[CheckpointMeta, str | None]] = []
    reader.forget_checked()  # everything is checked again
    running = ZERO_HASH
    last = stored.fork_at
    for meta in list(stored.metas()):
        if meta.seq <= stored.fork_at:
            results.append((meta, "before the fork point (the source's checkpoints cover those events)"))
            continue
        running = chain_hash(running, read(last + 1, meta.seq))
        last = meta.seq
        reason = None if running.hex() == meta.events_hash else "events hash mismatch (the log changed)"
        if reason is not None:
            if stored.holds(meta):  # (not dropped already with the keyframe it is based on)
                reader.ignore(meta, reason)
        elif reader.load(meta) is None:
            reason = "ignored (see the log)"
        results.append((meta, reason))
    return results
