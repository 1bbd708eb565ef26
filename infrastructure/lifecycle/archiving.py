"""Archiving a long-lived session's early history: events 1..N-1 moved to one file, the rest kept live.

``archive_session(store, name, before=N, path)``:

1. checks that N starts a commit and no form is open across it (3 <= N <= head), that the session
   is not a fork, was not archived before, and that no fork reads events before N-1 through it;
2. writes the archive: an image (``infrastructure/images``) of the state after event N-1 *with its
   history* (events 1..N-1, so it folds on its own to that state), plus a ``records`` section: the
   archived commit records exactly as stored (first event, topic, bytes), whose checksums and hash
   chain ``tape verify --archive`` checks and whose last link is the live log's join;
3. in ONE transaction of the store's database, replaces the archived records with a *marker*: a
   record holding ``HistoryArchived`` (the state after N-1 without its content, the chain link of
   the record holding event N-1, the archive's name and xxh3, who and when), then records of
   ``ContentStored`` events carrying the content that state reaches, numbered up to N-1; the
   marker's records chain among themselves from the genesis link, and the record at N keeps its
   stored link (which chains on the archived one's: the marker names it).  The session's
   checkpoints and content index rows go in the same transaction (caches: rebuilt from the log);
   the read model is emptied (rebuilt by the next ``tape sql``).

So the log is never edited record by record: the archiving is one explicit, recorded act, the
marker says what was archived where, ``tape verify`` checks the live part from the marker on, and
reading events the marker stands for but cannot give (``state --at M`` for M < N-1) is a
``HistoryIsArchived`` naming the file; :func:`archived_state` reads them from it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson
import xxhash

from tapevm.domain.errors import SessionNotFound, UsageError
from tapevm.domain.events import ContentStored, Event, HistoryArchived, RecordedEvent
from tapevm.domain.fold import fold_fields
from tapevm.domain.lineage import ARCHIVED, fork_origin
from tapevm.domain.ports import EventStore
from tapevm.domain.state import State, blob_entry, materialized
from tapevm.domain.upcasting import event_class, upcast
from tapevm.infrastructure.followers.read_model import rebuild
from tapevm.infrastructure.images.file_format import read_image, write_image
from tapevm.infrastructure.images.operations import image_sections, image_state
from tapevm.infrastructure.lifecycle.deletion import delete_session, forks_through, who
from tapevm.infrastructure.logs import get_logger
from tapevm.infrastructure.session.service import open_session
from tapevm.infrastructure.stores import checkpoint_tables, content_index
from tapevm.infrastructure.stores.named_sessions import raw_store
from tapevm.infrastructure.stores.records.chain_link import GENESIS, compute_link
from tapevm.infrastructure.stores.records.deleted_records import DELETED_TABLE
from tapevm.infrastructure.stores.records.events_table import EVENTS_TABLE
from tapevm.infrastructure.stores.records.record_codec import RecordCodec, record_link
from tapevm.infrastructure.stores.registry import SessionRegistry
from tapevm.infrastructure.stores.side_tables import SideTables
from tapevm.projections.state_codec import structure
from tapevm.vm.version import tapevm_version

log = get_logger("tapevm.lifecycle")

CONTENT_STEP = 2_000  # value nodes and blob entries per ContentStored of the marker (more when N is small)
CACHE_ROWS = ((checkpoint_tables.TABLE, "session"), (checkpoint_tables.PACKS, "session"),
              (content_index.TABLE, "stream"), (content_index.COVERED, "stream"))


@dataclass(frozen=True)
class ArchiveReport:
    """What ``tape archive`` did: events 1..``before``-1 of ``session`` in ``records`` records moved to ``file``."""

    session: str
    stream: str
    before: int
    file: str
    records: int
    link: str | None
    file_bytes: int
    marker_events: int

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def archive_marker(store: EventStore, stream: str) -> tuple[int, dict[str, Any]] | None:
    """(first event, fields) of ``stream``'s archive marker; None when its history was never archived."""
    first = raw_store(store).first_event(stream)
    return (first[0], first[2]) if first is not None and first[1] == ARCHIVED else None


def forks_before(store: EventStore, stream: str, before: int) -> list[str]:
    """The forks of ``stream`` that read events before ``before``-1 through it (they would lose them)."""
    found = []
    for fork in forks_through(store, stream):
        origin = fork_origin(store, fork)
        if origin is not None and origin[0] == stream and origin[1] < before - 1:
            found.append(fork)
    return found


def _refusal(store: EventStore, name: str, stream: str, before: int) -> str | None:
    """Why events before ``before`` of ``stream`` cannot be archived, or None (forks aside: :func:`forks_before`)."""
    head = store.last_seq(stream)
    if fork_origin(store, stream) is not None:
        return f"session {name!r} is a fork: its first events are its source's; archive the source instead"
    if (marker := archive_marker(store, stream)) is not None:
        return f"session {name!r} was archived before event {marker[1]['before']} already (archiving again is not supported)"
    if not 3 <= before <= head:
        return f"--before takes an event number 3..{head} (session {name!r} has events 1..{head})"
    starts = [first for rows in store.records(stream, before, before) for first, _, _ in rows]
    if starts[:1] != [before]:
        return f"event {before} is inside a commit that began at event {starts[0] if starts else '?'}: archive before that event"
    [(_, _, _, cause, _)] = list(store.read_decoded(stream, before, before))
    if cause < before:
        return f"event {before} is inside the form that began at event {cause}: archive before {cause} or after its end"
    return None


def archive_session(store: EventStore, name: str, before: int, path: str | Path, *, by: str | None = None,
                    delete_forks: bool = False) -> ArchiveReport:
    """Move events 1..``before``-1 of session ``name`` to the archive file ``path`` (see the module).

    Forks that read events before ``before``-1 through it are refused, unless ``delete_forks``: then they
    are deleted first (``tape delete --with-forks`` each, with their tombstones)."""
    store = raw_store(store)
    registry = SessionRegistry(store)
    stream = registry.stream_of(name)
    if "@" in name or store.last_seq(stream) == 0:
        raise SessionNotFound(f"no session {name!r}")
    why = _refusal(store, name, stream, before)
    if why is not None:
        raise UsageError(why)
    forks = forks_before(store, stream, before)
    if forks and not delete_forks:
        names = registry.names()
        raise UsageError(f"fork {names.get(forks[0], forks[0])!r} reads events before {before - 1} through "
                         f"{name!r}: archive later, or delete such forks (--delete-forks, or tape delete)")
    for fork in forks:
        if store.last_seq(fork):  # (not deleted already with a fork before it)
            delete_session(store, registry.names().get(fork, fork), with_forks=True, by=by)
    with open_session(name, store, create=False) as session:  # (its writer lease: nothing appends meanwhile)
        state, sections = image_sections(session, before - 1, with_history=True)
        found = store.link_at(stream, before - 1)
        link = None if found is None else found.hex()
        raw = [[first, topic, bytes(body).hex()] for rows in store.records(stream, 1, before - 1)
               for first, topic, body in rows]
        sections["records"] = orjson.dumps(raw)
        header = {"tapevm_version": tapevm_version(), "created_at": time.time(),
                  "description": f"events 1..{before - 1} of session {name!r}, archived",
                  "source_session": name, "source_seq": before - 1,
                  "source_chain_link": link,
                  "archive": {"stream": stream, "before": before, "records": len(raw)}}
        write_image(path, header, sections)
        data = Path(path).read_bytes()
        marker = HistoryArchived(before=before, file=Path(path).name, link=link,
                                 records=len(raw), archive_xxh3=xxhash.xxh3_64_hexdigest(data),
                                 archived_at=time.time(), archived_by=by or who(),
                                 vm_version=session.vm_version, state=_loaded(state))
        events = [marker, *_content_events(state, before - 2)]
        _replace(store, stream, before, events)
    rebuild(store)  # (the read model held the archived events' rows: emptied, rebuilt from the log)
    log.info("history_archived", session=name, before=before, file=str(path), records=len(raw))
    return ArchiveReport(name, stream, before, str(path), len(raw), link, len(data),
                         len(events))


def _loaded(state: State) -> dict[str, Any]:
    """What the marker's fold sets (as ``ImageLoaded``): the state less its log's own snapshots and merges."""
    s = structure(state)
    for key in ("snapshots", "merged", "session", "seq"):
        s.pop(key, None)
    return s


def _content_events(state: State, room: int) -> list[Event]:
    """The content ``state`` reaches, as ContentStored events: at most ``room`` of them."""
    nodes = [[key, orjson.loads(body)] for key, body in state.nodes.items()]
    blobs = [blob_entry(k, v) for k, v in state.blobs.items()]
    entries: list[tuple[str, Any]] = [("n", n) for n in nodes] + [("b", b) for b in blobs]
    step = max(CONTENT_STEP, math.ceil(len(entries) / max(room, 1)))
    events: list[Event] = []
    for i in range(0, len(entries), step):
        part = entries[i:i + step]
        events.append(ContentStored.model_construct(nodes=[e for k, e in part if k == "n"],
                                                    blobs=[e for k, e in part if k == "b"]))
    return events or [ContentStored.model_construct(nodes=[], blobs=[])]


def _replace(store: EventStore, stream: str, before: int, events: Sequence[Event]) -> None:
    """ONE transaction: the archived records out, the marker's in (each event a record, chained from the
    genesis link), the session's checkpoints and content index rows out."""
    first = before - len(events)
    codec, key, now = RecordCodec(), getattr(store, "chain_key", None), time.time()
    prev, rows = GENESIS, []
    for i, event in enumerate(events):
        def link(s: str, seq: int, topic: str, body: bytes, prev: bytes = prev) -> tuple[bytes, bool]:
            return compute_link(prev, s, seq, topic, body, key), key is not None

        stored = codec.encode([RecordedEvent(stream, first + i, first, now, event)], link)
        rows.append(stored)
        prev = record_link(stored.state) or GENESIS
    db = SideTables(store)
    table = db.table(EVENTS_TABLE)
    statements: list[tuple[str, Sequence[Any]]] = [
        (f"DELETE FROM {table} WHERE originator_id = ? AND originator_version < ?", (stream, before))]
    statements += [(f"INSERT INTO {table} (originator_id, originator_version, topic, state) VALUES (?, ?, ?, ?)",
                    (stream, r.originator_version, r.topic, r.state)) for r in rows]
    # the witness of deleted records saw the archived ones go: moved to the archive on purpose, no hole
    statements.append((f"DELETE FROM {db.table(DELETED_TABLE)} WHERE stream = ? AND version < ?", (stream, before)))
    for t, column in CACHE_ROWS:
        sql, params = db.backend.tables_exist_sql((t,))
        if db.query(sql, params)[0][0]:
            statements.append((f"DELETE FROM {db.table(t)} WHERE {column} = ?", (stream,)))
    db.run(statements)


def archived_history(path: str | Path) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """The archive's events ``(seq, type, fields)`` at this code's schema versions (its history section)."""
    image = read_image(path, ("history",))
    for seq, _, _, type_name, version, fields in orjson.loads(image.sections.get("history", b"[]")):
        yield seq, type_name, fields if version == event_class(type_name).version else upcast(type_name, version, fields)


def archived_state(path: str | Path, at: int) -> State:
    """The state after event ``at`` of the history archived in ``path`` (folded from its history)."""
    image = read_image(path, None)
    last = int(image.header.get("source_seq", 0))
    if "archive" not in image.header:
        raise UsageError(f"{path} is not an archive (tape archive writes them)")
    if not 1 <= at <= last:
        raise UsageError(f"the archive {path} holds events 1..{last}; there is no event {at} in it")
    name = str(image.header.get("source_session", ""))
    if at == last:
        state = image_state(image)
    else:
        state = materialized(fold_fields((e for e in archived_history(path) if e[0] <= at), State()))
    state.session = name
    return state
