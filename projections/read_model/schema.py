"""The read model's tables (documented in docs/cli.md) and the version of what they hold.

* ``sessions(stream, name, parent, fork_at, events, first_time, last_time)``
* ``events(session, seq, type, cause, time, data)``: ``data`` the event's fields as JSON
* ``binding_history`` / ``fact_history`` / ``file_history``: every version of a
  binding, fact or file with the event numbers ``since`` (set) and ``until``
  (replaced or removed; NULL while current); forks get copies of their source's
  rows valid at the fork point;
* views ``bindings``, ``facts``, ``files``: the current rows;
* ``snapshots(session, name, at, description, seq)`` from ``SnapshotTaken``
  events, matched by type name.
"""

from __future__ import annotations

# What this code's tables hold (the file's ``PRAGMA user_version``).  A read model written by code
# of another version (older files say 0) is emptied when opened and rebuilt from the log, so a
# fix of the projection reaches tables built before it.  2: file imports, restores and image
# loads are applied.
VERSION = 2
SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (stream TEXT PRIMARY KEY, name TEXT, parent TEXT, fork_at INTEGER,
    events INTEGER NOT NULL, first_time REAL, last_time REAL);
CREATE TABLE IF NOT EXISTS events (session TEXT NOT NULL, seq INTEGER NOT NULL, type TEXT NOT NULL,
    cause INTEGER NOT NULL, time REAL NOT NULL, data TEXT NOT NULL, PRIMARY KEY (session, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS binding_history (session TEXT NOT NULL, ns TEXT NOT NULL, name TEXT NOT NULL,
    value TEXT, since INTEGER NOT NULL, until INTEGER);
CREATE INDEX IF NOT EXISTS binding_open ON binding_history (session, ns, name) WHERE until IS NULL;
CREATE TABLE IF NOT EXISTS fact_history (session TEXT NOT NULL, fact_key TEXT NOT NULL, fact TEXT NOT NULL,
    since INTEGER NOT NULL, until INTEGER);
CREATE INDEX IF NOT EXISTS fact_open ON fact_history (session, fact_key) WHERE until IS NULL;
CREATE TABLE IF NOT EXISTS file_history (session TEXT NOT NULL, path TEXT NOT NULL, blob TEXT NOT NULL,
    size INTEGER NOT NULL, since INTEGER NOT NULL, until INTEGER);
CREATE INDEX IF NOT EXISTS file_open ON file_history (session, path) WHERE until IS NULL;
CREATE TABLE IF NOT EXISTS snapshots (session TEXT NOT NULL, name TEXT, at INTEGER, description TEXT,
    seq INTEGER NOT NULL);
CREATE VIEW IF NOT EXISTS bindings AS SELECT session, ns, name, value, since FROM binding_history WHERE until IS NULL;
CREATE VIEW IF NOT EXISTS facts AS SELECT session, fact, since FROM fact_history WHERE until IS NULL;
CREATE VIEW IF NOT EXISTS files AS SELECT session, path, blob, size, since FROM file_history WHERE until IS NULL;
"""
