"""Session addresses: ``ID`` (the head) or ``ID@N`` (the session after event N).

The one parser every command uses (state, log, diff, fork, and later delta and
image save), so an address means the same thing everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from tapevm.domain.errors import BadAddress


@dataclass(frozen=True)
class SessionAddress:
    """A session name and an optional event number (None: its head)."""

    session: str
    at: int | None = None

    def __str__(self) -> str:
        return self.session if self.at is None else f"{self.session}@{self.at}"


def parse_address(text: str) -> SessionAddress:
    """``work`` -> (work, None); ``work@12`` -> (work, 12); anything else is a BadAddress."""
    name, sep, number = text.partition("@")
    if not name:
        raise BadAddress(f"bad session address {text!r}: expected ID or ID@N (e.g. work@12)")
    if not sep:
        return SessionAddress(name)
    if not number.isdigit() or not number.isascii():
        raise BadAddress(f"bad session address {text!r}: after '@' give an event number (e.g. {name}@12)")
    return SessionAddress(name, int(number))
