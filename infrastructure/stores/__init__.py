"""Stores: everything that reads or writes the store's database.

The factory (``--store`` / ``TAPE_STORE`` to a store), the event store over the
eventsourcing library's recorders (SQLite, PostgreSQL and its global log), the
record codec and hash chain, the head check, tapevm's own side tables (session
names, writer leases, checkpoint tables), lineage (reading a fork through its
sources) and the log tail.  May import ``domain``, ``vm``, ``projections`` and
``infrastructure.logs``; never ``session``, ``images``, ``followers`` or ``cli``.
"""
