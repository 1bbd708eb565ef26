"""Session addresses: ``ID`` (the head) or ``ID@N`` (the session after event N).

The one parser every command uses (state, log, diff, fork, and later delta and
image save), so an address means the same thing everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from tapevm.domain.errors import BadAddress, UsageError
from tapevm.domain.names import hidden_character


@dataclass(frozen=True)
class SessionAddress:
    """A session name and an optional event number (None: its head)."""

    session: str
    at: int | None = None

    def __str__(self) -> str:
        return self.session if self.at is None else f"{self.session}@{self.at}"


def refuse_hidden_characters(session_id: str) -> None:
    """A UsageError naming the first invisible, control or line-breaking character of a session id.

    The rule of :func:`tapevm.infrastructure.session.service.validate_session_id`, kept here so that
    addresses (which every reading command parses) and the CLI's ``-i`` apply the same one: a
    command naming such a session, even one an older tapevm let a writer create, gets this line.
    """
    hidden = hidden_character(session_id)
    if hidden is not None:
        raise UsageError(f"invalid session id {session_id!r}: it holds {hidden}; use visible characters only")


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
