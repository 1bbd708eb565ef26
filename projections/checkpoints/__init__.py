"""Checkpoints: the state at every K-th event, kept so ``state_at`` is fast.

Frame bytes (``frames``: I, D and P frames and their compression, with
``rice_coding`` for P-frames' integer columns), the events hash that binds a
checkpoint to the events it covers (``events_hash``), and the projection
itself (``projection``: keyframe policy, reading, writing, rebuild, verify).
A cache: throwing every checkpoint away loses nothing.  May import
``domain``, ``vm`` and the rest of ``projections``; the checkpoint tables are
reached through ``domain.ports.CheckpointStore``.
"""
