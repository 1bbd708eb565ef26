"""Recorded Python steps: the session mixin that records a Python function call as an effect.

``recorder.StepRecorder`` gives ``Session`` its ``step`` (and ``astep``),
``call`` and ``define``: a Python agent passes its values into forms as data
and records each call of its own functions (a tool, a model, anything
nondeterministic) whole in the log, to be answered from the log on replay.
It sees the session through a small ``Protocol``, so it sits a floor below
``infrastructure.session`` and the service imports it.  May import
``domain``, ``vm``, ``infrastructure.logs`` and ``infrastructure.config``.
"""
