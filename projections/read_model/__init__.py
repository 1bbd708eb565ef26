"""The SQL read model's pure half: its schema (tables, views, version) and its applier.

The applier says what rows each event makes, over a DB-API (SQLite) cursor it
is given inside the caller's transaction; opening the file, the tracking
position and reading the log are ``infrastructure.followers.read_model``'s.
May import ``domain``, ``vm`` and the rest of ``projections``; never storage.
"""
