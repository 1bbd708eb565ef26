"""The read model's tables and views (documented in docs/cli.md) and the version of what they hold.

Rows are stored by stream (the id a session's records are stored under, which never changes), in
tables ending in ``_rows``; what a query reads are views over them that add ``session``, the
session's *name* (``sessions.name``, copied from the registry: ``tape run -f`` renames the old
stream ``work.1`` and starts a new one as ``work``, and ``WHERE session='work'`` must find the new
one), beside ``stream``:

* ``sessions(stream, name, parent, fork_at, events, first_time, last_time)`` (a table)
* ``events(session, stream, seq, type, cause, time, data)``: ``data`` the event's fields as JSON
* ``binding_history`` / ``fact_history`` / ``file_history``: every version of a binding, fact or
  file with the event numbers ``since`` (set) and ``until`` (replaced or removed; NULL while
  current); forks get copies of their source's rows valid at the fork point; a binding's
  ``value`` is its encoding, ``value_json`` the value as readable JSON cut at about
  ``value_json.LIMIT`` characters (``truncated`` 1 when cut), a fact's ``fact_json`` likewise;
* views ``bindings``, ``facts``, ``files``: the current rows;
* ``snapshots(session, stream, name, at, description, seq)`` from ``SnapshotTaken`` events;
* ``content(key, node)``: every value node the log stored (the node as JSON), so ``["@", key]``
  can be followed by hand; ``tape_json(value)`` and ``tape_source(value)`` (functions of the
  query connection) give a value whole.
"""

from __future__ import annotations

# What this code's tables hold (the file's ``PRAGMA user_version``).  A read model written by code
# of another version (older files say 0) is dropped when opened and rebuilt from the log, so a
# fix of the projection reaches tables built before it.  2: file imports, restores and image
# loads are applied.  3: rows by stream under views that name the session; value_json; content.
VERSION = 3
_NAMED = "COALESCE(s.name, r.stream) AS session, r.stream"
_JOIN = "LEFT JOIN sessions s ON s.stream = r.stream"
SCHEMA = f"""
CREATE TABLE IF NOT EXISTS sessions (stream TEXT PRIMARY KEY, name TEXT, parent TEXT, fork_at INTEGER,
    events INTEGER NOT NULL, first_time REAL, last_time REAL);
CREATE TABLE IF NOT EXISTS event_rows (stream TEXT NOT NULL, seq INTEGER NOT NULL, type TEXT NOT NULL,
    cause INTEGER NOT NULL, time REAL NOT NULL, data TEXT NOT NULL, PRIMARY KEY (stream, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS binding_rows (stream TEXT NOT NULL, ns TEXT NOT NULL, name TEXT NOT NULL,
    value TEXT, value_json TEXT, truncated INTEGER, since INTEGER NOT NULL, until INTEGER);
CREATE INDEX IF NOT EXISTS binding_open ON binding_rows (stream, ns, name) WHERE until IS NULL;
CREATE TABLE IF NOT EXISTS fact_rows (stream TEXT NOT NULL, fact_key TEXT NOT NULL, fact TEXT NOT NULL,
    fact_json TEXT, evidence TEXT, evidence_json TEXT, since INTEGER NOT NULL, until INTEGER);
CREATE INDEX IF NOT EXISTS fact_open ON fact_rows (stream, fact_key) WHERE until IS NULL;
CREATE TABLE IF NOT EXISTS file_rows (stream TEXT NOT NULL, path TEXT NOT NULL, blob TEXT NOT NULL,
    size INTEGER NOT NULL, since INTEGER NOT NULL, until INTEGER);
CREATE INDEX IF NOT EXISTS file_open ON file_rows (stream, path) WHERE until IS NULL;
CREATE TABLE IF NOT EXISTS snapshot_rows (stream TEXT NOT NULL, name TEXT, at INTEGER, description TEXT,
    seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS content (key TEXT PRIMARY KEY, node TEXT NOT NULL) WITHOUT ROWID;
CREATE VIEW IF NOT EXISTS events AS SELECT {_NAMED}, r.seq, r.type, r.cause, r.time, r.data
    FROM event_rows r {_JOIN};
CREATE VIEW IF NOT EXISTS binding_history AS SELECT {_NAMED}, r.ns, r.name, r.value, r.value_json, r.truncated,
    r.since, r.until FROM binding_rows r {_JOIN};
CREATE VIEW IF NOT EXISTS bindings AS SELECT {_NAMED}, r.ns, r.name, r.value, r.value_json, r.truncated, r.since
    FROM binding_rows r {_JOIN} WHERE r.until IS NULL;
CREATE VIEW IF NOT EXISTS fact_history AS SELECT {_NAMED}, r.fact_key, r.fact, r.fact_json, r.evidence,
    r.evidence_json, r.since, r.until FROM fact_rows r {_JOIN};
CREATE VIEW IF NOT EXISTS facts AS SELECT {_NAMED}, r.fact_key, r.fact, r.fact_json, r.evidence, r.evidence_json,
    r.since FROM fact_rows r {_JOIN} WHERE r.until IS NULL;
CREATE VIEW IF NOT EXISTS file_history AS SELECT {_NAMED}, r.path, r.blob, r.size, r.since, r.until
    FROM file_rows r {_JOIN};
CREATE VIEW IF NOT EXISTS files AS SELECT {_NAMED}, r.path, r.blob, r.size, r.since FROM file_rows r {_JOIN}
    WHERE r.until IS NULL;
CREATE VIEW IF NOT EXISTS snapshots AS SELECT {_NAMED}, r.name, r.at, r.description, r.seq
    FROM snapshot_rows r {_JOIN};
"""
