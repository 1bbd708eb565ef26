"""Branches: sessions made from sessions, and compared and joined again.

``forks`` (fork at an event, clone, address resolution), ``merging`` (three-way
merge and take, with content transfer and provenance) and ``compare`` (two
states and where their logs part, ``tape diff``).  May import ``domain``,
``vm``, ``projections``, ``infrastructure.stores`` and
``infrastructure.session``.
"""
