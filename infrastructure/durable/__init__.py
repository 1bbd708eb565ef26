"""Durable execution: forms that suspend at ``(await ...)`` into the log and go on from the stored continuation.

Holds the session's side of suspending (storing a form's continuation as a
FormSuspended event), listing pending forms, answering them (an AwaitAnswered event,
then the machine goes on from the decoded continuation in whatever process answers),
timeouts as recorded outcomes, and finishing suspended forms from the log during a
replay.  The continuation's format is the VM's (``vm/continuation_codec.py``).

May import ``infrastructure/session`` (not ``service``, whose ``Session`` takes the
mixin defined here), ``stores``, ``logs``, ``config`` and the floors below.
"""
