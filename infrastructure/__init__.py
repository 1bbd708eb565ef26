"""Infrastructure: I/O, in rooms by concern.

``stores`` (the database: events, side tables, leases, lineage), ``session``
(the session service and what serves it), ``models`` (``chat``'s requests,
answers, retries and SDK providers), ``tools`` (``@tapevm.tool``, tools loaded
for the CLI, MCP servers' tools), ``followers`` (projections kept
current from the global log), ``branches`` (fork, merge, compare), ``images``
(the image file and its operations), ``logs`` (structlog), ``config`` (the
``TAPE_*`` settings), ``integrity`` (``tape verify``) and ``housekeeping``
(``tape gc``).  May import ``domain``, ``vm`` and
``projections``; ``cli`` imports it, never the other way.
"""
