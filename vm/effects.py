"""The effect port: the one door through which nondeterminism enters the VM.

The VM never reads a clock, a random source, standard input, a model or a
host function itself.  The effect primitives (:mod:`tapevm.vm.primitives.effects`)
call :meth:`EffectPort.perform` on the port the Interpreter was given; the
session layer implements it (``tapevm.infrastructure.session.effects``) and records
every request and result in the log, so a replay can answer the same calls
from the log instead of the world.

A port returns a Lisp value or raises :class:`~tapevm.vm.errors.LispError`
(an error a program can ``catch``).
"""

from __future__ import annotations

from typing import Any, Protocol

from tapevm.vm.errors import LispError
from tapevm.vm.values import ErrorValue

# Effect kinds, the names stored in EffectRequested events.
NOW = "now"
RANDOM = "random"
UUID = "uuid"
READ_LINE = "read-line"
ASK = "ask"
TOOL = "tool"
LIST_IMAGES = "list-images"  # the image directory's listing: recorded, so a replay sees the listing the run saw
CHAT = "chat"
# A recorded Python function call (``Session.step``): ``(step name arg...)``, answered by the step
# function registered under ``name``, or from the log on replay.
STEP = "step"
EFFECT_KINDS = (NOW, RANDOM, UUID, READ_LINE, ASK, TOOL, LIST_IMAGES, CHAT, STEP)

EFFECT_UNAVAILABLE = "effect-unavailable"
EFFECT_ERROR = "effect-error"


class EffectAbort(Exception):
    """Raised by a port to stop the whole form at once, past any Lisp ``try``.

    For host failures that are not the program's business (the store could
    not record a result, a replay found a divergence): the session unwraps
    ``inner`` and raises it to its caller.
    """

    def __init__(self, inner: BaseException) -> None:
        super().__init__(str(inner))
        self.inner = inner


class EffectPort(Protocol):
    """Performs one effect of ``kind`` with Lisp-value ``args``; returns a Lisp value."""

    def perform(self, kind: str, args: tuple[Any, ...]) -> Any: ...


class NoEffects:
    """The port of a bare Interpreter: every effect is a catchable error (a VM alone stays pure)."""

    def perform(self, kind: str, args: tuple[Any, ...]) -> Any:
        raise LispError(ErrorValue(EFFECT_UNAVAILABLE, f"({kind}) needs a session: this VM has no effect port"))
