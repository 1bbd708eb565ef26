"""PostgreSQL, for many machines: its recorder, its global log in commit order and its backend object.

Imported only for a ``postgresql://`` store (by the store factory), so a
SQLite command never pays for importing psycopg.  Everything that knows
PostgreSQL's dialect lives here; the rest of tapevm asks the backend object
(``stores.backend.Backend``).  May import ``domain``,
``infrastructure.logs``/``config`` and ``stores.records``; never the rest of
``stores`` nor the SQLite room.
"""
