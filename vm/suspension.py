"""Suspending a running form at ``(await TAG ...)``: what leaves the machine, and the names involved.

``await`` is performed through the effect port (:mod:`tapevm.vm.effects`) with the
kind :data:`AWAIT`.  A port that can keep a suspended form (the session's) raises
:class:`Suspend`; the machine catches it on its way out, attaches its continuation
stack (plain data, see :mod:`tapevm.vm.machine`), and re-raises it past every Lisp
``try`` (a suspension is not an error).  A top-level ``(begin ...)`` adds the forms it
has still to run.  The host then stores the continuation
(:mod:`tapevm.vm.continuation_codec`) and later resumes the machine from it
(:meth:`tapevm.vm.machine.Machine.resume`) with the answer as the value of the ``await``.

A bare interpreter's port (``NoEffects``) refuses ``await`` with a catchable error, as it
refuses every effect: a VM alone never suspends.
"""

from __future__ import annotations

from typing import Any

AWAIT = "await"
AWAIT_TIMEOUT = "await-timeout"  # the error kind an await raises once its deadline passed unanswered
AWAIT_UNSUPPORTED = "await-unsupported"  # an await where the continuation cannot be kept


class Suspend(Exception):
    """The running form suspends awaiting ``tag``; raised by the port, completed by the machine.

    Contract: ``stack`` is the machine's continuation at the ``await`` call (the frames the answer
    is returned to), set once by the innermost machine loop; ``rest_forms`` are the top-level forms
    still to run after it (a top-level ``begin``'s), in order.
    """

    def __init__(self, tag: str, payload: Any, timeout_ms: int | None) -> None:
        super().__init__(f"suspended awaiting {tag}")
        self.tag = tag
        self.payload = payload
        self.timeout_ms = timeout_ms
        self.stack: list[tuple[Any, ...]] | None = None
        self.rest_forms: list[Any] = []
