"""A session's lifecycle beyond its log: deleting a session (with the record that it existed) and
archiving the early history of a long-lived one.

It may import every room of ``infrastructure`` below the top level (``images``, ``branches``,
``session``, ``followers``, ``stores``, ``logs``, ``config``) and the floors below; only the top
level (``store.py``, ``housekeeping.py``) and the CLI import it.
"""
