"""Sessions as the public API opens them: given the image writer their ``(save-image ...)`` calls.

The session room sits a floor below the images room, so a session cannot reach the image writer by
itself; it is given one when it is opened (``Session.image_writer``).  ``tapevm.open_session`` is
this module's :func:`open_session`; the ``tape`` commands that run forms give the writer themselves.
"""

from __future__ import annotations

from tapevm.domain.ports import EventStore
from tapevm.infrastructure.images.operations import save_image_from_language
from tapevm.infrastructure.session import service
from tapevm.infrastructure.session.service import Session
from tapevm.vm.limits import FormLimits


def open_session(
    session_id: str = "default",
    store: EventStore | str | None = None,
    *,
    create: bool = True,
    durability: str | None = None,
    writable: bool = True,
    fresh: bool = False,
    lease: bool = True,
    limits: FormLimits | None = None,
) -> Session:
    """:func:`tapevm.infrastructure.session.service.open_session` (same arguments and contract), with
    the image writer that ``(save-image ...)`` writes ``$TAPE_HOME/images/NAME`` through."""
    return service.open_session(session_id, store, create=create, durability=durability, writable=writable,
                                fresh=fresh, lease=lease, image_writer=save_image_from_language,
                                limits=limits)
