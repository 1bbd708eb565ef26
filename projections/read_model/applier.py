"""What rows each event makes in the read model's tables (``schema``): the projection's pure half.

A ``ReadModelApplier`` is given a SQLite cursor inside the caller's transaction
(the one that also moves the tracking position) and the decoded events of one
commit record at a time (``apply_commit``), then ``finish`` writes what it
buffered.  It reads and writes only through that cursor: opening the file,
reading the log and the transaction are the caller's.

Bindings are the hot path (most events define or set one): their versions are
buffered per batch and written as one UPDATE per name at ``flush``, not one per
event, and ``apply_commit`` inlines ``set_binding`` for them.  ``flush`` also gives
each version its readable JSON (``value_json``), decoded from the ``content`` table
the batch's ``ContentStored`` events fill (a form's content comes before the events
that refer to it, and a fork's, a merge's or an image's were stored before it).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from tapevm.domain.content import BlobTable
from tapevm.domain.errors import CorruptRecord
from tapevm.domain.ports import DecodedEvent
from tapevm.domain.state import add_blob_entries, fact_key, split_fact
from tapevm.projections.read_model.value_json import ValueJson


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


_REMOVED: Any = object()  # a binding's version that removes it (a merge's or restore's removal)


class ReadModelApplier:
    """Writes a batch's rows: each event's effect on the tables (one cursor, inside the batch's transaction)."""

    def __init__(self, c: sqlite3.Cursor) -> None:
        self.c = c
        self.pending: dict[tuple[str, str, str], tuple[str, int] | None] = {}
        self.first_since: dict[tuple[str, str, str], int] = {}
        self.closed: list[tuple[Any, ...]] = []
        self.handlers: dict[str, Callable[[str, int, dict[str, Any]], None]] = {
            "Defined": self.defined, "Assigned": self.defined, "FactAsserted": self.fact_asserted,
            "FactRetracted": self.fact_retracted, "FileWritten": self.file_written,
            "FileDeleted": self.file_deleted, "MergeApplied": self.merge_applied,
            "SessionForked": self.forked, "SnapshotTaken": self.snapshot,
            # a session action that sets files, or the whole state, without a form's events
            "FileImported": self.file_written, "StateRestored": self.restored,
            "ContentStored": self.content_stored, "ImageLoaded": self.image_loaded,
            "HistoryArchived": self.history_archived,
        }
        # per stream, the files an archive marker set (event, path -> key): their sizes come with the
        # ContentStored events right after it
        self.archived_files: dict[str, tuple[int, dict[str, str]]] = {}
        # the blob entries of the last ContentStored seen, by stream (an ImageLoaded's files are there),
        # and their table once a size was asked of it
        self.content: tuple[str, list[Any]] = ("", [])
        self.content_table: BlobTable | None = None
        # the batch's event rows, and each stream's last event (number, time), written by ``finish``
        self.rows: list[tuple[Any, ...]] = []
        self.touched: dict[str, tuple[int, float]] = {}
        self.new_sessions = False  # a stream started or forked: a name may have changed
        lookup = c.connection.cursor()
        self.json = ValueJson(lambda key: content_node(lookup, key))
        self.json_of: dict[str, tuple[str, bool]] = {}  # the batch's values (as stored) -> value_json

    def apply_commit(self, stream: str, decoded: Sequence[DecodedEvent]) -> None:
        """The rows of one commit record's events (``decoded``, in order, of ``stream``)."""
        head = decoded[0]
        if head[0] == 1 or head[1] in ("SessionForked", "HistoryArchived"):
            self.session_row(stream, head[0], head[4] / 1000.0)
            self.new_sessions = True
        handlers, rows, dumps = self.handlers, self.rows, orjson.dumps
        pending, first_since, closed = self.pending, self.first_since, self.closed
        for seq, type_name, fields, cause, ms in decoded:
            rows.append((stream, seq, type_name, cause, ms / 1000.0, dumps(fields).decode()))
            if type_name == "Defined" or type_name == "Assigned":
                # the hot path, inlined: set_binding
                k = (stream, fields["ns"], fields["name"])
                if k in pending:
                    cur_version = pending[k]
                    if cur_version is not None:
                        closed.append((*k, cur_version[0], cur_version[1], seq))
                else:
                    first_since[k] = seq
                pending[k] = (dumps(fields["value"]).decode(), seq)
                continue
            handler = handlers.get(type_name)
            if handler is not None:
                handler(stream, seq, fields)
        last = decoded[-1]
        self.touched[stream] = (last[0], last[4] / 1000.0)

    def finish(self) -> None:
        """Write what the batch buffered: binding versions, event rows, each touched session's count and time."""
        self.flush()
        self.c.executemany("INSERT INTO event_rows VALUES (?,?,?,?,?,?)", self.rows)
        self.c.executemany("UPDATE sessions SET events=?, last_time=? WHERE stream=?",
                           [(seq, last_time, stream) for stream, (seq, last_time) in self.touched.items()])

    def session_row(self, stream: str, seq: int, t: float) -> None:
        """A new stream's row; its name is the stream until the caller copies the registry's names."""
        self.c.execute("INSERT OR IGNORE INTO sessions (stream, name, events, first_time, last_time) "
                       "VALUES (?,?,?,?,?)", (stream, stream, seq, t, t))

    def set_binding(self, stream: str, seq: int, ns: str, name: str, value: Any) -> None:
        """Buffered: a page's versions of a binding become rows at ``flush`` (one UPDATE per name, not per event)."""
        k = (stream, ns, name)
        pending = self.pending
        if k in pending:
            cur = pending[k]
            if cur is not None:
                self.closed.append((stream, ns, name, cur[0], cur[1], seq))
        else:
            self.first_since[k] = seq
        pending[k] = None if value is _REMOVED else (_json(value), seq)

    def flush(self) -> None:
        """Write the buffered binding versions: close the rows left open by earlier pages, then insert."""
        c, readable = self.c, self.readable
        if self.first_since:
            c.executemany("UPDATE binding_rows SET until=? WHERE stream=? AND ns=? AND name=? AND until IS NULL",
                          [(since, *k) for k, since in self.first_since.items()])
        if self.closed:
            c.executemany("INSERT INTO binding_rows VALUES (?,?,?,?,?,?,?,?)",
                          [(stream, ns, name, value, *readable(value), since, until)
                           for stream, ns, name, value, since, until in self.closed])
        c.executemany("INSERT INTO binding_rows VALUES (?,?,?,?,?,?,?,NULL)",
                      [(*k, v[0], *readable(v[0]), v[1]) for k, v in self.pending.items() if v is not None])
        self.pending.clear()  # in place: apply_commit holds references to these
        self.first_since.clear()
        self.closed.clear()

    def readable(self, value: str) -> tuple[str, bool]:
        """``value`` (an encoding as JSON text) as readable JSON, cut, and whether it was cut."""
        found = self.json_of.get(value)
        if found is None:
            found = self.json_of[value] = self.json.text(orjson.loads(value))
        return found

    def defined(self, stream: str, seq: int, f: dict[str, Any]) -> None:
        self.set_binding(stream, seq, f["ns"], f["name"], f["value"])

    def fact_asserted(self, stream: str, seq: int, f: dict[str, Any]) -> None:
        enc, evidence = split_fact(f["fact"])  # (a merge's, a restore's or an image's fact entry)
        evidence = f.get("evidence", evidence)
        key = fact_key(enc).hex()
        self.c.execute("UPDATE fact_rows SET until=? WHERE stream=? AND fact_key=? AND until IS NULL",
                       (seq, stream, key))
        fact = _json(enc)
        proof = None if evidence is None else _json(evidence)
        self.c.execute("INSERT INTO fact_rows VALUES (?,?,?,?,?,?,?,NULL)",
                       (stream, key, fact, self.readable(fact)[0], proof,
                        None if proof is None else self.readable(proof)[0], seq))

    def fact_retracted(self, stream: str, seq: int, f: dict[str, Any]) -> None:
        self.c.execute("UPDATE fact_rows SET until=? WHERE stream=? AND fact_key=? AND until IS NULL",
                       (seq, stream, fact_key(f["fact"]).hex()))

    def file_written(self, stream: str, seq: int, f: dict[str, Any]) -> None:
        self.file_deleted(stream, seq, f)
        self.c.execute("INSERT INTO file_rows VALUES (?,?,?,?,?,NULL)",
                       (stream, f["path"], f["content"], f["size"], seq))

    def file_deleted(self, stream: str, seq: int, f: dict[str, Any]) -> None:
        self.c.execute("UPDATE file_rows SET until=? WHERE stream=? AND path=? AND until IS NULL",
                       (seq, stream, f["path"]))

    def merge_applied(self, stream: str, seq: int, f: dict[str, Any]) -> None:
        for ns, name, value in f["bindings"]:
            self.set_binding(stream, seq, ns, name, value)
        for ns, name in f["removed"]:
            self.set_binding(stream, seq, ns, name, _REMOVED)
        for fact in f["facts_removed"]:
            self.fact_retracted(stream, seq, {"fact": fact})
        for fact in f["facts_added"]:
            self.fact_asserted(stream, seq, {"fact": fact})
        for path, key in f["files"]:
            if key is None:
                self.file_deleted(stream, seq, {"path": path})
            else:
                self.c.execute("UPDATE file_rows SET until=? WHERE stream=? AND path=? AND until IS NULL",
                               (seq, stream, path))
                self.c.execute("INSERT INTO file_rows SELECT ?, path, blob, size, ?, NULL FROM file_rows "
                               "WHERE stream=? AND path=? AND blob=? LIMIT 1", (stream, seq, f["source"], path, key))

    def forked(self, stream: str, seq: int, f: dict[str, Any]) -> None:
        self.flush()  # the source's rows must be current before they are copied
        src, at = f["source"], f["at"]
        valid = "stream=? AND since<=? AND (until IS NULL OR until>?)"
        self.c.execute(f"INSERT INTO binding_rows SELECT ?, ns, name, value, value_json, truncated, since, NULL "
                       f"FROM binding_rows WHERE {valid}", (stream, src, at, at))
        self.c.execute(f"INSERT INTO fact_rows SELECT ?, fact_key, fact, fact_json, evidence, evidence_json, since, "
                       f"NULL FROM fact_rows WHERE {valid}", (stream, src, at, at))
        self.c.execute(f"INSERT INTO file_rows SELECT ?, path, blob, size, since, NULL FROM file_rows "
                       f"WHERE {valid}", (stream, src, at, at))
        self.c.execute("UPDATE sessions SET parent=?, fork_at=? WHERE stream=?", (src, at, stream))

    def content_stored(self, stream: str, seq: int, f: dict[str, Any]) -> None:
        """The value nodes become ``content`` rows (what value_json is decoded from); the blobs are only
        remembered (no decoding): the ImageLoaded that may follow needs their sizes (and the files of an archive
        marker just before, those it stores)."""
        if f["nodes"]:
            self.c.executemany("INSERT OR IGNORE INTO content VALUES (?,?)",
                               [(key, orjson.dumps(node).decode()) for key, node in f["nodes"]])
        self.content = (stream, f["blobs"])
        self.content_table = None
        pending = self.archived_files.get(stream)
        if pending is not None and f["blobs"]:
            at, files = pending
            stored = {entry[0] for entry in f["blobs"]}
            for path, key in [(p, k) for p, k in files.items() if k in stored]:
                self._base("file_rows", "path=?", (path,), (stream, path, key, self._blob_size(stream, key), at))
                del files[path]

    def history_archived(self, stream: str, seq: int, f: dict[str, Any]) -> None:
        """The archived history's state (its files once their content follows).  An archive marker is
        committed after the live records it stands before, so the log in commit order may have brought
        later versions already: each of its rows ends where the first of those begins."""
        self.flush()
        state = f["state"]
        for ns, names in state["namespaces"].items():
            for name, value in names.items():
                value_text = _json(value)
                self._base("binding_rows", "ns=? AND name=?", (ns, name),
                           (stream, ns, name, value_text, *self.readable(value_text), seq))
        for entry in state["facts"]:
            enc, evidence = split_fact(entry)
            key, fact = fact_key(enc).hex(), _json(enc)
            proof = None if evidence is None else _json(evidence)
            self._base("fact_rows", "fact_key=?", (key,), (stream, key, fact, self.readable(fact)[0], proof,
                                                            None if proof is None else self.readable(proof)[0], seq))
        self.archived_files[stream] = (seq, dict(state["files"]))

    def _base(self, table: str, where: str, key: tuple[Any, ...], row: tuple[Any, ...]) -> None:
        """A row of an archived state (``row``: the session first, ``since`` last), until the stream's
        earliest later version of the same ``key`` (NULL: none yet)."""
        later = self.c.execute(f"SELECT MIN(since) FROM {table} WHERE stream=? AND {where}", (row[0], *key)).fetchone()
        self.c.execute(f"INSERT INTO {table} VALUES ({', '.join('?' * (len(row) + 1))})", (*row, later[0]))

    def _blob_size(self, stream: str, key: str) -> int:
        """The size of file content ``key``: from the last ContentStored of ``stream`` (an image load's
        content) or, since a restore goes back to content the store already held, from a row."""
        content_stream, entries = self.content
        if content_stream == stream and entries:
            if self.content_table is None:
                self.content_table = BlobTable()
                add_blob_entries(self.content_table, entries)
            if key in self.content_table:
                return len(self.content_table.get(key))
        row = self.c.execute("SELECT size FROM file_rows WHERE blob=? LIMIT 1", (key,)).fetchone()
        if row is None:
            raise CorruptRecord(f"session {stream!r}: a file refers to content {key} that no event stored")
        return int(row[0])

    def _set_file(self, stream: str, seq: int, path: str, key: str) -> None:
        self.file_written(stream, seq, {"path": path, "content": key, "size": self._blob_size(stream, key)})

    def restored(self, stream: str, seq: int, f: dict[str, Any]) -> None:
        """A restore changes what its delta says (the fold applies the same delta; atoms and the
        current namespace have no table)."""
        delta = f["delta"]
        for ns, table in delta.get("bindings", {}).items():
            for name, value in table.get("added", {}).items():
                self.set_binding(stream, seq, ns, name, value)
            for name, (_, value) in table.get("changed", {}).items():
                self.set_binding(stream, seq, ns, name, value)
            for name in table.get("removed", {}):
                self.set_binding(stream, seq, ns, name, _REMOVED)
        facts = delta.get("facts", {})
        for fact in facts.get("retracted", {}).values():
            self.fact_retracted(stream, seq, {"fact": fact})
        for fact in facts.get("asserted", []):
            self.fact_asserted(stream, seq, {"fact": fact})
        files = delta.get("files", {})
        for path in files.get("removed", {}):
            self.file_deleted(stream, seq, {"path": path})
        for path, key in files.get("added", {}).items():
            self._set_file(stream, seq, path, key)
        for path, (_, key) in files.get("changed", {}).items():
            self._set_file(stream, seq, path, key)

    def image_loaded(self, stream: str, seq: int, f: dict[str, Any]) -> None:
        """The image's state replaces the session's (None: its history was re-appended before this
        event, and those events made the rows)."""
        state = f["state"]
        if state is None:
            return
        self.flush()  # the session's buffered bindings become rows before they are all closed
        for table in ("binding_rows", "fact_rows", "file_rows"):
            self.c.execute(f"UPDATE {table} SET until=? WHERE stream=? AND until IS NULL", (seq, stream))
        for ns, names in state["namespaces"].items():
            for name, value in names.items():
                self.set_binding(stream, seq, ns, name, value)
        for fact in state["facts"]:
            self.fact_asserted(stream, seq, {"fact": fact})
        for path, key in state["files"].items():
            self._set_file(stream, seq, path, key)

    def snapshot(self, stream: str, seq: int, f: dict[str, Any]) -> None:
        self.c.execute("INSERT INTO snapshot_rows VALUES (?,?,?,?,?)",
                       (stream, f.get("name"), f.get("at"), f.get("description"), seq))


def content_node(c: sqlite3.Cursor, key: str) -> bytes:
    """A value node's canonical bytes from the ``content`` table (a KeyError when no event stored it)."""
    row = c.execute("SELECT node FROM content WHERE key=?", (key,)).fetchone()
    if row is None:
        raise KeyError(key)
    return str(row[0]).encode()
