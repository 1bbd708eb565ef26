"""Checkpoints: the state at every K-th event, kept so ``state_at`` is fast.

One job a module: frame bytes (``frames``, with ``rice_coding`` for P-frames' integer
columns), the events hash that binds a checkpoint to the events it covers (``events_hash``),
the version stamped on them (``version``), the keyframe policy as pure functions (``policy``),
the stored list of a stream's checkpoints over the port (``stored``), the keyframe reader and
writer share (``keyframes``), reading (``reader``), writing (``writer``, ``packing``), rebuild
and verify (``maintenance``), what they report (``notices``), and the class that ties them for
a stream (``projection``).  A cache: throwing every checkpoint away loses nothing.  May import
``domain``, ``vm`` and the rest of ``projections``; the checkpoint tables are reached through
``domain.ports.CheckpointStore``, settings and the log are handed in by the caller.
"""
