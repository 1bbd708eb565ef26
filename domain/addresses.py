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

    The rule of :func:`validate_session_id`, kept here so that
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


def validate_session_id(session_id: str) -> str:
    """Session ids are short visible names; ``@`` is reserved for addresses (``id@N``).

    An id with an invisible, control or line-breaking character is refused naming it by code
    point (see :func:`~tapevm.domain.addresses.refuse_hidden_characters`, which session
    addresses and the CLI's session options apply too, so a reading command that names such a
    session is told the same in one line).
    """
    if not session_id or len(session_id) > 200:
        raise UsageError("a session id must be 1 to 200 characters long")
    refuse_hidden_characters(session_id)
    if _plain(session_id):
        return session_id
    try:
        address = parse_address(session_id)
    except BadAddress:
        address = None
    if address is not None and address.at is not None and _plain(address.session):
        raise UsageError(f"{session_id!r} is an address (ID@N), and this command takes a session id: "
                         f"give {address.session!r}, and pick the event with its --at or --to option where it "
                         "has one")
    raise UsageError(f"invalid session id {session_id!r}: no '@', '/', control characters or surrounding spaces")


def _plain(session_id: str) -> bool:
    return not any(c in session_id for c in "@\x00\n\r\t/") and session_id.strip() == session_id
