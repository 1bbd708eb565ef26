"""Session addresses: ``ID`` (the head) or ``ID@N`` (the session after event N).

The one parser every command uses (state, log, diff, fork, and later delta and
image save), so an address means the same thing everywhere.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from tapevm.domain.errors import BadAddress, UsageError

# Unicode categories a session id may not hold: control (Cc), format (Cf: U+202E RIGHT-TO-LEFT
# OVERRIDE, U+200B ZERO WIDTH SPACE...), line and paragraph separators (Zl, Zp).  Invisible, or
# they reorder or break the text around them, so ``tape sessions`` and every message naming the
# session would show another name than the one stored (a spoofed or unreadable id).
_HIDDEN_CATEGORIES = {"Cc": "a control character", "Cf": "an invisible format character",
                      "Zl": "a line separator", "Zp": "a paragraph separator"}


@dataclass(frozen=True)
class SessionAddress:
    """A session name and an optional event number (None: its head)."""

    session: str
    at: int | None = None

    def __str__(self) -> str:
        return self.session if self.at is None else f"{self.session}@{self.at}"


def refuse_hidden_characters(session_id: str) -> None:
    """A UsageError naming the first invisible, control or line-breaking character of a session id.

    The rule of :func:`tapevm.infrastructure.session.validate_session_id`, kept here so that
    addresses (which every reading command parses) and the CLI's ``-i`` apply the same one: a
    command naming such a session, even one an older tapevm let a writer create, gets this line.
    """
    if session_id.isprintable():  # (fast path: every hidden character is non-printable)
        return
    for c in session_id:
        what = _HIDDEN_CATEGORIES.get(unicodedata.category(c))
        if what is not None:
            name = unicodedata.name(c, "")
            raise UsageError(f"invalid session id {session_id!r}: it holds U+{ord(c):04X}"
                             f"{f' {name}' if name else ''}, {what}; use visible characters only")


def parse_address(text: str) -> SessionAddress:
    """``work`` -> (work, None); ``work@12`` -> (work, 12); anything else is a BadAddress.

    A name with a hidden character is a UsageError (:func:`refuse_hidden_characters`).
    """
    name, sep, number = text.partition("@")
    if not name:
        raise BadAddress(f"bad session address {text!r}: expected ID or ID@N (e.g. work@12)")
    refuse_hidden_characters(name)
    if not sep:
        return SessionAddress(name)
    if not number.isdigit() or not number.isascii():
        raise BadAddress(f"bad session address {text!r}: after '@' give an event number (e.g. {name}@12)")
    return SessionAddress(name, int(number))
