"""The content index: where in the log each content node and file blob is stored, kept beside the events.

A session's values are content-addressed nodes carried by its ``ContentStored`` events.  The
fold used to keep every node ever stored in memory, and checkpoints carried the whole table, so
opening a session, ``state_at`` and memory all followed the length of the history, not the live
state (issue 20).  Now a state holds only the content of the events folded since its checkpoint;
the rest is found on first touch through this index, which maps a key to the event that stored
it, and read back from that event (a bounded cache keeps the content of the events read last).

Two tables, created on first use::

    tape_content(key, stream, seq)   primary key (key, stream); blob keys are stored as 'b:' + key
    tape_content_covered(stream, seq)     the index holds every key of ``stream``'s events 1..seq

The index is a projection of the log (a cache, like the checkpoints): it is rebuilt from the
events when missing, and :meth:`ContentIndex.cover` extends it to an event number before a
checkpoint that relies on it is written.  A key is looked up per stream: within one stream a key
always names the same content (a session's table only grows, and colliding hashes get a ``.N``
suffix), and a session reads its lineage's streams only up to each fork point.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from operator import itemgetter
from typing import Any

from eventsourcing.persistence import ConnectionPoolClosedError

from tapevm.domain import lineage
from tapevm.domain.content import BlobTable, canonical_bytes_of_all
from tapevm.domain.errors import CorruptRecord, StoreClosed, StoreError
from tapevm.domain.events import ContentStored, Draft
from tapevm.domain.ports import EventStore
from tapevm.domain.state import add_blob_entries
from tapevm.infrastructure.stores.backend import Backend, backend_of

TABLE = "tape_content"
COVERED = "tape_content_covered"
BLOB = "b:"  # the prefix of a blob's key in the index (a node and a blob may share a hash)
CONTENT_TYPE = ContentStored.__name__
CACHE_BYTES = 64 << 20  # content found last, kept for the next touch
_BATCH = 500  # keys per lookup statement
SPAN_GAP = 16  # events apart that are still read with one read of the span between them
LARGE_EVENT = 256  # entries in an event whose parsed content is kept (the last LARGE_EVENTS_KEPT of them)
LARGE_EVENTS_KEPT = 2


class ContentIndex:
    """The content index of one store (SQLite or PostgreSQL, as its backend says)."""

    def __init__(self, store: EventStore, backend: Backend) -> None:
        self.store = store
        self.backend = backend
        self._ready = False
        self._covered: dict[str, int] = {}  # what this process knows is covered, per stream

    def _run(self, statements: Sequence[tuple[str, Sequence[Any]]], *, commit: bool,
             many: tuple[str, list[tuple[Any, ...]]] | None = None) -> list[tuple[Any, ...]]:
        """Run ``?``-placeholder ``statements`` (after ``many``: one statement over many rows) in one
        transaction; the rows of the last (when not ``commit``: a read)."""
        ph = self.backend.placeholder
        try:
            with self.backend.cursor(commit) as c:
                if many is not None and many[1]:
                    c.executemany(many[0].replace("?", ph), many[1])
                for sql, params in statements:
                    c.execute(sql.replace("?", ph), tuple(params))
                return [] if commit else self.backend.rows(c)
        except StoreError:
            raise
        except ConnectionPoolClosedError:
            raise StoreClosed(f"{self.store.url_for_display} is closed, and a state read from it finds the content "
                              "it does not hold there: use the state while its store is open, or keep "
                              "materialized(state), which holds its content itself") from None
        except Exception as e:  # the driver's and the library's errors alike
            raise StoreError(f"content index in {self.store.url_for_display}: {type(e).__name__}: {e}") from e

    def _ensure(self) -> None:
        if self._ready:
            return
        t, c = self.backend.table(TABLE), self.backend.table(COVERED)
        sql, params = self.backend.tables_exist_sql((TABLE, COVERED))
        if int(self._run([(sql.replace(self.backend.placeholder, "?"), params)], commit=False)[0][0]) != 2:
            self.backend.run([
                *((s, ()) for s in self.backend.ddl_lock()),
                ((f"CREATE TABLE IF NOT EXISTS {t} (key TEXT NOT NULL, stream TEXT NOT NULL, seq BIGINT NOT NULL, "
                 f"PRIMARY KEY (key, stream)){self.backend.compact_table}"), ()),
                (f"CREATE TABLE IF NOT EXISTS {c} (stream TEXT PRIMARY KEY, seq BIGINT NOT NULL)", ()),
            ])
        self._ready = True

    # -- keeping it current ------------------------------------------------------------------------
    def covered(self, stream: str) -> int:
        """The event number through which ``stream``'s content is indexed (0: none)."""
        known = self._covered.get(stream)
        if known is not None:
            return known
        self._ensure()
        rows = self._run([(f"SELECT seq FROM {self.backend.table(COVERED)} WHERE stream=?", (stream,))],
                         commit=False)
        seq = int(rows[0][0]) if rows else 0
        self._covered[stream] = seq
        return seq

    def cover(self, stream: str, seq: int, noted: Noted | None = None) -> None:
        """Index the content of ``stream``'s events up to ``seq`` (a no-op when it already is); the rows of
        ``noted`` (its events as they were appended) serve when they span what is missing, else the log is read."""
        done = self.covered(stream)
        if done >= seq:
            return
        if noted is not None and noted.first <= done + 1 and noted.last >= seq:
            rows = [row for row in noted.rows if done < row[2] <= seq]
        else:
            rows = []
            for n, type_name, fields in self.store.read_fields(stream, done + 1, seq):
                if type_name == CONTENT_TYPE:
                    rows.extend(content_rows(stream, n, fields))
        rows.sort()  # in key order: the b-tree fills page by page instead of at random places (~2x faster)
        t, c = self.backend.table(TABLE), self.backend.table(COVERED)
        self._run([(f"DELETE FROM {c} WHERE stream=? AND seq<?", (stream, seq)),
                   (f"INSERT INTO {c} (stream, seq) VALUES (?, ?) ON CONFLICT DO NOTHING", (stream, seq))],
                  commit=True, many=(f"INSERT INTO {t} (key, stream, seq) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                                     rows))
        self._covered[stream] = seq

    def forget(self, stream: str) -> None:
        """Forget what this process knew was covered (another process may have dropped the tables)."""
        self._covered.pop(stream, None)

    def count(self, stream: str, seq: int) -> tuple[int, int]:
        """How many value nodes and blobs ``stream``'s events ``1..seq`` store (as indexed)."""
        self._ensure()
        t = self.backend.table(TABLE)
        rows = self._run([((f"SELECT SUM(CASE WHEN SUBSTR(key, 1, 2) = 'b:' THEN 0 ELSE 1 END) AS nodes, "
                            f"SUM(CASE WHEN SUBSTR(key, 1, 2) = 'b:' THEN 1 ELSE 0 END) AS blobs "
                            f"FROM {t} WHERE stream=? AND seq<=?"),
                           (stream, seq))], commit=False)
        return int(rows[0][0] or 0), int(rows[0][1] or 0)

    # -- looking up -----------------------------------------------------------------------------------
    def locate(self, keys: Sequence[str], streams: Sequence[str]) -> list[tuple[str, str, int]]:
        """(key, stream, seq) of every row of ``keys`` in ``streams``."""
        self._ensure()
        found: list[tuple[str, str, int]] = []
        t = self.backend.table(TABLE)
        for i in range(0, len(keys), _BATCH):
            batch = list(keys[i:i + _BATCH])
            marks = ", ".join("?" * len(batch))
            smarks = ", ".join("?" * len(streams))
            sql = f"SELECT key, stream, seq FROM {t} WHERE key IN ({marks}) AND stream IN ({smarks})"
            found.extend((str(k), str(s), int(n)) for k, s, n in
                         self._run([(sql, (*batch, *streams))], commit=False))
        return found


def content_rows(stream: str, seq: int, fields: dict[str, Any]) -> list[tuple[str, str, int]]:
    """The index rows of a ContentStored event: its node keys, and its blob keys (prefixed)."""
    return [*((key, stream, seq) for key, _ in fields["nodes"]),
            *((BLOB + entry[0], stream, seq) for entry in fields["blobs"])]


class Noted:
    """The index rows of a stream's events ``first..last`` as a writer appended them: what lets
    :meth:`ContentIndex.cover` index a session's own new events without reading them back."""

    __slots__ = ("first", "last", "rows", "stream")

    def __init__(self, stream: str) -> None:
        self.stream = stream
        self.first, self.last = 0, -1
        self.rows: list[tuple[str, str, int]] = []

    def add(self, first: int, drafts: Sequence[Draft]) -> None:
        """Note events ``first..`` (``drafts``); a gap since the last noted starts afresh."""
        if first != self.last + 1:
            self.first, self.rows = first, []
        for n, (type_name, _, fields) in enumerate(drafts, first):
            if type_name == CONTENT_TYPE:
                self.rows.extend(content_rows(self.stream, n, fields))
        self.last = first + len(drafts) - 1

    def drop_through(self, seq: int) -> None:
        """Forget the rows of events up to ``seq`` (indexed now)."""
        if seq >= self.first:
            self.rows = [row for row in self.rows if row[2] > seq]
            self.first = seq + 1


class _EventContent:
    """The content one ContentStored event carries, parsed: node keys -> canonical bytes, blobs as stored."""

    __slots__ = ("blobs", "nodes")

    def __init__(self, fields: dict[str, Any]) -> None:
        pairs = fields["nodes"]
        self.nodes: dict[str, bytes] = dict(zip(map(itemgetter(0), pairs), canonical_bytes_of_all(map(itemgetter(1), pairs))))
        table = BlobTable()
        add_blob_entries(table, fields["blobs"])
        self.blobs: dict[str, Any] = dict(table.items())


class LineageContent:
    """A session's content as its lineage stores it, read through the index (and a bounded cache).

    ``segments`` are the session's lineage (``domain.lineage``): a key is looked for in each
    segment's stream, up to the segment's last event, nearest stream first.  The entries found
    are kept in a cache of at most ``cache_bytes`` (least recently used dropped first); the last
    few large events read are kept parsed too, so that the content of one giant commit (an image
    loaded, a form that defined 100,000 values) is decoded once, not once per value.
    """

    def __init__(self, index: ContentIndex, segments: Sequence[lineage.Segment], cache_bytes: int = CACHE_BYTES) -> None:
        self.index = index
        self.segments = list(segments)
        self.streams = [s.stream for s in self.segments]
        self._bounds = {s.stream: s.last for s in self.segments}
        self._order = {s.stream: i for i, s in enumerate(reversed(self.segments))}
        # entries found, by kind (nodes, blobs) and key, least recently used first
        self._cache: tuple[OrderedDict[str, Any], OrderedDict[str, Any]] = (OrderedDict(), OrderedDict())
        self._bytes = 0
        self._cache_bytes = cache_bytes
        self._large: OrderedDict[tuple[str, int], _EventContent] = OrderedDict()
        self._noted = Noted(self.segments[-1].stream)
        self.nodes = _View(self, nodes=True)
        self.blobs = _View(self, nodes=False)

    def _spans(self, seq: int) -> Iterator[tuple[str, int]]:
        """(stream, its last event) of each segment of the session's events ``1..seq``."""
        for s in self.segments:
            if s.first > seq:
                return
            yield s.stream, seq if s.last is None else min(s.last, seq)

    def cover(self, seq: int) -> None:
        """Index the lineage's content through the session's event ``seq`` (before a checkpoint relies on it)."""
        for stream, last in self._spans(seq):
            self.index.cover(stream, last, self._noted if stream == self._noted.stream else None)
        self._noted.drop_through(seq)

    def note(self, first: int, drafts: Sequence[Draft]) -> None:
        """The session appended ``drafts`` as events ``first..``: their content rows, for the next :meth:`cover`."""
        self._noted.add(first, drafts)

    def counts(self, seq: int) -> tuple[int, int]:
        """How many value nodes and blobs the session's events ``1..seq`` store (indexing them first)."""
        self.cover(seq)
        counts = [self.index.count(stream, last) for stream, last in self._spans(seq)]
        return sum(n for n, _ in counts), sum(b for _, b in counts)

    def find(self, keys: Iterable[str], nodes: bool) -> dict[str, Any]:
        """The entries of ``keys`` the lineage stores (nodes, or blobs when not ``nodes``)."""
        found: dict[str, Any] = {}
        wanted: list[str] = []
        cache = self._cache[0 if nodes else 1]
        for key in keys:
            entry = cache.get(key)
            if entry is None:
                wanted.append(key)
            else:
                cache.move_to_end(key)
                found[key] = entry
        if not wanted:
            return found
        places = self._places(wanted if nodes else [BLOB + k for k in wanted])
        events = self._read_events(set(places.values()))
        for key, place in places.items():
            if not nodes:
                key = key[len(BLOB):]
            content = events.get(place)
            entry = None if content is None else (content.nodes if nodes else content.blobs).get(key)
            if entry is None:
                raise CorruptRecord(f"the content index says event {place[1]} of stream {place[0]!r} stores "
                                    f"{key}, and it does not: rebuild it with 'tape checkpoints rebuild'")
            found[key] = entry
        return found

    def _places(self, keys: Sequence[str]) -> dict[str, tuple[str, int]]:
        """Per key, the (stream, event) that stores it for this lineage: the nearest stream's row within bounds."""
        best: dict[str, tuple[int, str, int]] = {}
        for key, stream, seq in self.index.locate(keys, self.streams):
            bound = self._bounds.get(stream)
            if bound is not None and seq > bound:
                continue  # stored by the source after the fork point: not this session's
            rank = self._order[stream]
            if key not in best or rank < best[key][0]:
                best[key] = (rank, stream, seq)
        return {key: (stream, seq) for key, (_, stream, seq) in best.items()}

    def _read_events(self, places: set[tuple[str, int]]) -> dict[tuple[str, int], _EventContent]:
        """The content of the events at ``places``, nearby ones read with one read of their span: a list's
        elements were stored by consecutive forms, so decoding a list chunk reads its elements at once."""
        out: dict[tuple[str, int], _EventContent] = {}
        by_stream: dict[str, list[int]] = {}
        for place in places:
            large = self._large.get(place)
            if large is not None:
                out[place] = large
            else:
                by_stream.setdefault(place[0], []).append(place[1])
        for stream, seqs in by_stream.items():
            seqs.sort()
            start = 0
            for i in range(1, len(seqs) + 1):
                if i == len(seqs) or seqs[i] - seqs[i - 1] > SPAN_GAP:
                    wanted = set(seqs[start:i])
                    for n, type_name, fields in self.index.store.read_fields(stream, seqs[start], seqs[i - 1]):
                        if type_name == CONTENT_TYPE:  # all of a span's kept: a walk's next level is often there
                            content = _EventContent(fields)
                            self._keep_all(content)
                            if n in wanted:
                                out[(stream, n)] = content
                            if len(content.nodes) + len(content.blobs) >= LARGE_EVENT:
                                self._large[(stream, n)] = content
                                while len(self._large) > LARGE_EVENTS_KEPT:
                                    self._large.popitem(last=False)
                    start = i
        return out

    def _keep_all(self, content: _EventContent) -> None:
        """Cache every entry of an event read on the way (a span's other events)."""
        for key, entry in content.nodes.items():
            self._keep(self._cache[0], key, entry)
        for key, entry in content.blobs.items():
            self._keep(self._cache[1], key, entry)

    def _keep(self, cache: OrderedDict[str, Any], key: str, entry: Any) -> None:
        """Cache ``entry`` (the least recently used beyond the budget dropped)."""
        cache[key] = entry
        self._bytes += _size(entry)
        nodes, blobs = self._cache
        while self._bytes > self._cache_bytes and (nodes or blobs):
            _, dropped = (nodes if nodes else blobs).popitem(last=False)
            self._bytes -= _size(dropped)


def _size(entry: Any) -> int:
    """Bytes an entry takes in the cache (roughly: its data and a key)."""
    return 64 + (len(entry) if type(entry) is bytes else len(entry.data))


class _View:
    """One kind of a lineage's content (nodes or blobs) as a table's ``ContentSource``."""

    __slots__ = ("_content", "_nodes")

    def __init__(self, content: LineageContent, *, nodes: bool) -> None:
        self._content = content
        self._nodes = nodes

    def find(self, keys: Sequence[str]) -> dict[str, Any]:
        return self._content.find(keys, self._nodes)


def content_index_for(store: EventStore) -> ContentIndex | None:
    """The content index in the same database as ``store`` (None for a store without SQL)."""
    backend = backend_of(store)
    return None if backend is None else ContentIndex(store, backend)


def lineage_content_for(store: EventStore) -> Callable[[list[lineage.Segment]], LineageContent] | None:
    """What serves the content of a session of ``store`` by its lineage (None for a store without SQL):
    every session of one call shares the store's index."""
    index = content_index_for(store)
    if index is None:
        return None
    return lambda segments: LineageContent(index, segments)
