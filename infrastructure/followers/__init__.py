"""Followers: projections kept current from the global log (``tape follow``).

The runner (the ``Projection`` protocol, the follow loop, lag), follower leases
(one running follower per projection), and the one place that knows every
projection: the SQL read model and the checkpoints follower.  May import
``domain``, ``vm``, ``projections``, ``infrastructure.stores`` and
``infrastructure.logs``.
"""
