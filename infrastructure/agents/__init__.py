"""Python agent programs and their recordings: re-running a program against the log it recorded.

``replaying.open_replay`` gives a session whose forms are compared with the
recording as the program runs and whose effects (steps, ``ask``, ``tool``...)
are answered from it; ``replay_agent`` runs a program on one and says where it
parted from the recording.  May import ``domain``, ``vm``, ``projections``,
``infrastructure.session``, ``infrastructure.steps``, ``infrastructure.stores``
and ``infrastructure.logs``.
"""
