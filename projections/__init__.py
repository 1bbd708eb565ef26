"""Projections: everything rebuilt from the log that may be thrown away.

The state codec (a State as bytes), image state sections, state diffs and
merge rules, checkpoints, audit timelines, provenance (blame) and session
summaries.  May import ``domain`` and ``vm``; storage reaches it only through
the ports in ``domain.ports``.
"""
