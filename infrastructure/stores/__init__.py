"""Stores: everything that reads or writes the store's database.

The factory (``--store`` / ``TAPE_STORE`` to a store, and its backend object),
the event store over the eventsourcing library's recorders, the backend
protocol everything asks instead of sniffing the database, tapevm's own side
tables (session names, writer leases, checkpoint tables), names resolved to
streams, and the log tail.  Sub-rooms, lowest first: ``records`` (the record
format, the chain link, the head check), then ``sqlite`` and ``postgres``
(each backend's recorder, tracking and backend object; only the factory
imports ``postgres``).  May import ``domain``, ``vm``, ``projections`` and
``infrastructure.logs``/``config``; never ``session``, ``images``,
``followers`` or ``cli``.
"""
