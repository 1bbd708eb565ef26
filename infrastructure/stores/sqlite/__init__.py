"""SQLite, the embedded default: its recorder, its opening checks, its tracking and its backend object.

Everything that knows SQLite's dialect and the eventsourcing library's SQLite
classes lives here; the rest of tapevm asks the backend object
(``stores.backend.Backend``) the factory builds.  May import ``domain``,
``infrastructure.logs``/``config`` and ``stores.records``; never the rest of
``stores`` (which builds on it) nor the PostgreSQL room.
"""
