"""Followers: projections kept current from the global log (``tape follow``).

The runner (the follow loop, lag; it runs the projections it is given), follower
leases (one running follower per projection), the read model's I/O (its file,
tracking transaction and queries) and the checkpoints follower, and ``catalog``:
the one place that knows every projection by name.  May import ``domain``,
``vm``, ``projections``, ``infrastructure.stores`` and ``infrastructure.logs``.
"""
