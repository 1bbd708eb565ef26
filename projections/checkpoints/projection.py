"""The checkpoint projection: fast ``state_at(n)`` and fast session opening, as a disposable cache.

A checkpoint is written after a commit once ``interval`` events (K, per store, default 1,000)
have passed since the last one.  Checkpoints are keyframes (``I``: the whole state; ``D``: a
delta keyframe, the change from the previous keyframe) or P-frames (``P``: the *cumulative*
change from the latest keyframe); the bytes are in ``frames.py``, the choice between them in
``policy.py``, P-frames' packs in ``packing.py``.

``state_at(n)`` = the nearest valid checkpoint at or before ``n`` (``reader.py``: nothing is
trusted, see there) + the tail folded on top (the fast ``read_fields`` path).  At the head the
tail is hashed as it is folded (``events_hash.py``), so the next checkpoint (``writer.py``)
needs no second read of it.  ``rebuild`` and ``verify`` are in ``maintenance.py``.

:class:`Checkpoints` ties these parts together for one stream.  It is handed everything from
outside: the ``CheckpointStore`` (the caller's concrete tables), the interval and whether to write
after commits (the caller's settings), and where to ``report`` what it meets (the caller logs).

A fork keeps checkpoints only after its fork point: before it, and while it has none of its own,
it reads its source's (``checkpoints_of``), so opening a fork of a long session costs the
source's nearest checkpoint + the tail, and its events hash chains from its fork point.  Its
frames may be based on the source's keyframe, so its first checkpoint is a patch, not a keyframe.
Imports the domain and the rest of this package.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from tapevm.domain import lineage
from tapevm.domain.errors import UsageError
from tapevm.domain.events import Draft
from tapevm.domain.fold import fold_fields
from tapevm.domain.ports import CheckpointMeta, CheckpointStore, EventStore, LineageContentPort
from tapevm.domain.state import State
from tapevm.projections.checkpoints import maintenance
from tapevm.projections.checkpoints.events_hash import RunningEventsHash
from tapevm.projections.checkpoints.frames import FrameCodec
from tapevm.projections.checkpoints.keyframes import FrameBasis
from tapevm.projections.checkpoints.notices import Notice, Report, discard
from tapevm.projections.checkpoints.packing import PackBuffer
from tapevm.projections.checkpoints.policy import DEFAULT_INTERVAL, parse_interval
from tapevm.projections.checkpoints.reader import CheckpointReader, ReadFields
from tapevm.projections.checkpoints.stored import StoredCheckpoints
from tapevm.projections.checkpoints.writer import CheckpointWriter

# Content entries a tail folded at opening may hold before a checkpoint is written at once (with a content
# index): a session loaded from an image stores its whole content in its first events, far fewer than
# ``interval``, and would otherwise fold and hold all of it at every open.
HEAVY_TAIL = 10_000


class Checkpoints:
    """The checkpoints of one stream: reading (verified) and writing (after commits)."""

    def __init__(self, store: EventStore, stream: str, cache: CheckpointStore | None = None,
                 interval: int | None = None, read_fields: ReadFields | None = None,
                 source: Checkpoints | None = None, fork_at: int = 0, inline: bool = True,
                 report: Report = discard, content: LineageContentPort | None = None) -> None:
        """``cache``: where the checkpoints are (None: a store that keeps none).  ``interval``: events
        between checkpoints (None: the store's ``checkpoint_interval`` setting, else 1,000).  ``inline``
        False: ``after_append`` writes nothing (a ``tape follow`` process keeps the checkpoints).
        ``report`` is told what the checkpoints meet (a checkpoint ignored, the cache unavailable...).

        ``read_fields(start, stop)`` reads the stream's events (default: the store's, of ``stream``);
        a session whose log spans several streams passes its own reader.

        A fork passes its ``source``'s checkpoints and its fork point: events ``1..fork_at`` are
        its source's, so the source's checkpoints of them are as good as its own (checkpoints_of
        builds the chain), and its own checkpoints, all after ``fork_at``, chain their events hash
        from there (events ``1..fork_at`` are the source's checkpoints' to vouch for).

        ``content``: the session's content as the store's index serves it.  With it, checkpoints carry
        roots and no content, and every state read here finds its content through it; without it
        (a store with no index), they carry the content the state holds, which is all of it.
        """
        self.store = store
        self.stream = stream
        self.cache = cache
        self.source = source
        self.fork_at = fork_at
        self._read = read_fields or (lambda start, stop: store.read_fields(stream, start, stop))
        self._interval = interval
        self.content = content
        self.stored: StoredCheckpoints = StoredCheckpoints(cache, stream, report, fork_at,
                                                           source.stored if source else None)
        self.basis = FrameBasis()
        codec = FrameCodec()  # one for reading and writing: it keeps the dictionaries it digested
        self.reader: CheckpointReader = CheckpointReader(self.stored, self.read_events, codec, self.basis,
                                       source.reader if source else None,
                                       places=lambda seqs: store.event_places(stream, seqs))
        packs = PackBuffer(self.stored, self.reader, codec, self.basis)
        self.writer = CheckpointWriter(self.stored, self.read_events, codec, self.basis, packs,
                                       lambda: self.interval, inline, content, seal=self.reader.seal)

    @property
    def session(self) -> str:
        """The stream id (the name older callers use)."""
        return self.stream

    def read_events(self, start: int, stop: int | None) -> Iterator[tuple[int, str, dict[str, Any]]]:
        """The stream's events ``start..stop``: every part reads the log through here."""
        return self._read(start, stop)

    @property
    def _running(self) -> RunningEventsHash | None:
        """The events hash kept at the head (tests break it to see the writer fall back on the log)."""
        return self.writer.running

    # -- settings ----------------------------------------------------------------------------
    @property
    def interval(self) -> int:
        """Events between checkpoints: as given, else the store's setting, else the default (a damaged
        setting is reported and the default used: never fatal, it is read after commits)."""
        if self._interval is None:
            self._interval = self._stored_interval()
        return self._interval

    @interval.setter
    def interval(self, value: int) -> None:
        """Use ``value`` from now on (``tape checkpoints rebuild --interval``, which also saves it)."""
        self._interval = value

    def _stored_interval(self) -> int:
        cache = self.cache
        value = None if cache is None else self.stored.safely(lambda: cache.get_setting("checkpoint_interval"), None)
        try:
            return parse_interval(value, "the store's checkpoint_interval") or DEFAULT_INTERVAL
        except UsageError as e:  # a stored setting damaged: never fatal here
            self.stored.report(Notice("checkpoint_interval_ignored",
                                      {"session": self.stream, "error": str(e), "used": DEFAULT_INTERVAL}))
            return DEFAULT_INTERVAL

    def metas(self) -> list[CheckpointMeta]:
        """The stream's checkpoints by event number, as this process knows them."""
        return self.stored.metas()

    def due(self, state: State) -> bool:
        """Whether ``state`` is ``interval`` events or more past the last checkpoint (a fork without
        one: past its fork point): time to write one."""
        return self.writer.due(state)

    def reload_metas(self) -> list[CheckpointMeta]:
        """Forget the cached list and read it again (another process may have written or dropped checkpoints).

        A remembered keyframe that is no longer stored as it was (dropped by a
        rebuild, or another writer's frame kept at its event) is forgotten, so
        the next checkpoint is not a P-frame against a keyframe readers cannot find.
        """
        metas = self.stored.reload()
        if self.source is not None:
            self.source.reload_metas()
        if self.basis.key is not None and not self.stored.holds(self.basis.key.meta):
            self.basis.forget()
        return metas

    # -- reading and writing ----------------------------------------------------------------------
    def state_at(self, n: int | None) -> State:
        """The state after event ``n`` (None: the head): nearest valid checkpoint + the tail."""
        state, base, ignored = self.reader.nearest(n)
        start = state.seq + 1 if state is not None else 1
        events = self._read(start, n)
        if n is None:
            # The tail is hashed as it is folded, so the next checkpoint needs no second read of it.
            running = (RunningEventsHash(self.fork_at) if base is None or base.session != self.stream
                       else RunningEventsHash(base.seq, bytes.fromhex(base.events_hash)))  # (its tip is a seal)
            self.writer.running = running
            events = running.tee(events)
        state = fold_fields(events, self.with_content(state if state is not None else State(session=self.stream)))
        if n is None:
            # Opening: a checkpoint that was ignored is rebuilt now, and a log with a long tail
            # (written before checkpoints existed, or loaded from an image's history) gets one, as
            # does a tail that stored much content (an image loaded): its next opens read roots.
            heavy = self.content is not None and len(state.nodes) + len(state.blobs) >= HEAVY_TAIL
            self.after_append(state, force=ignored or heavy)
        return state

    def with_content(self, state: State) -> State:
        """``state`` finding the content it does not hold through the store's index (when there is one)."""
        if self.content is not None:
            state.nodes.source, state.blobs.source = self.content.nodes, self.content.blobs
        return state

    def content_counts(self, seq: int) -> tuple[int, int] | None:
        """The value nodes and blobs the session's events ``1..seq`` store (None: no content index)."""
        return None if self.content is None else self.content.counts(seq)

    def type_of_event(self, seq: int) -> str | None:
        """The type of event ``seq`` when it is the last event hashed at the head, else None."""
        return self.writer.type_of_event(seq)

    def after_append(self, state: State, first: int = 0, drafts: Sequence[Draft] = (), force: bool = False) -> None:
        """After every commit: hash its events, write a checkpoint once due (never raises; see the writer)."""
        self.writer.after_append(state, first, drafts, force)

    def write(self, state: State, touched: dict[str, set[str]] | None = None) -> CheckpointMeta | None:
        """Store a checkpoint of ``state`` now (a P-frame when one pays, else a keyframe)."""
        return self.writer.write(state, touched)

    # -- maintenance -------------------------------------------------------------------------------
    def rebuild(self, progress: Callable[[int, int], None] | None = None,
                head: int | None = None) -> list[CheckpointMeta]:
        """Drop every checkpoint of the stream and write them again from the log (every ``interval`` events)."""
        if self.cache is None:
            raise UsageError(f"the store {self.store.url_for_display} keeps no checkpoints")
        if head is None:
            head = self.store.last_seq(self.stream)
        return maintenance.rebuild(self.writer, self.reader, self.read_events, head, self.interval, progress)

    def verify(self) -> list[tuple[CheckpointMeta, str | None]]:
        """Every checkpoint with the reason it cannot be trusted (None: it can); see ``maintenance.verify``."""
        return maintenance.verify(self.reader, self.read_events)


def checkpoints_of(store: EventStore, stream: str, segments: list[lineage.Segment] | None = None,
                   cache: CheckpointStore | None = None, interval: int | None = None, inline: bool = True,
                   report: Report = discard,
                   content: Callable[[list[lineage.Segment]], LineageContentPort] | None = None) -> Checkpoints:
    """The checkpoints of ``stream``, reading its events through its lineage; a fork's fall back on
    its source's (and theirs on their source's) for the events it shares with it, so a fork of a
    long session starts from the source's nearest checkpoint, not from event 1."""
    segs = segments if segments is not None else lineage.lineage(store, stream)
    source = (checkpoints_of(store, segs[-2].stream, segs[:-1], cache, interval, inline, report, content)
              if len(segs) > 1 else None)
    return Checkpoints(store, stream, cache=cache, interval=interval, source=source, fork_at=segs[-1].first - 1,
                       read_fields=lambda a, b: lineage.read_fields(store, stream, a, b, segs),
                       inline=inline, report=report, content=None if content is None else content(segs))
