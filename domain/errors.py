"""The one exception hierarchy of tapevm.

Every error a user can meet is a :class:`TapeError`; the CLI prints its
message on one line and exits non-zero.  Messages say what went wrong and what
to do about it.  Third-party errors are translated at the boundary that meets
them (``raise StoreError(...) from e``) so nothing else leaks.
"""

from __future__ import annotations


class TapeError(Exception):
    """Root of every tapevm error."""

    exit_code = 1


# -- input the user gave ------------------------------------------------------
class UsageError(TapeError):
    """A bad argument, address, name or option."""

    exit_code = 2


class SessionNotFound(UsageError):
    """The named session has no events in this store."""


class SessionExists(UsageError):
    """A session that should be new already exists."""


class StoreNotFound(SessionNotFound):
    """A reader named a store file that does not exist (a mistyped path, most likely).

    A SessionNotFound too: whichever session the reader asked for is not there.
    """


# -- the event log ----------------------------------------------------------------
class StoreError(TapeError):
    """The event store could not be opened, read or written."""


class StoreClosed(StoreError):
    """The store was closed while something (a lease's heartbeat, a late caller) still used it."""


class ConflictError(StoreError):
    """Another writer appended to the session first (optimistic concurrency)."""


class CorruptRecord(StoreError):
    """A stored record failed its checksum or could not be decoded."""


class UnknownEventType(StoreError):
    """A stored event's type name is not known to this version of tapevm."""


class SchemaVersionError(StoreError):
    """A stored event (or file) was written by a newer, incompatible tapevm."""


# -- values -----------------------------------------------------------------------
class ValueCodecError(TapeError):
    """A value could not be encoded for storage or decoded from it."""


# -- the VM -------------------------------------------------------------------------
class FormPending(TapeError):
    """A form suspended at ``(await ...)``: committed so far, it goes on when ``tape answer`` answers it.

    Not a failure of the program; its own exit code (3) lets a script tell it from one.
    """

    exit_code = 3

    def __init__(self, message: str, session: str = "", seq: int = 0, tag: str = "") -> None:
        super().__init__(message)
        self.session = session
        self.seq = seq
        self.tag = tag


class VMError(TapeError):
    """Root of the errors the Lisp VM raises to its host (syntax, evaluation)."""


# -- sessions: names, writers, branches -------------------------------------------------
class BadAddress(UsageError):
    """A session address (``ID`` or ``ID@N``) that cannot be parsed or points past the head."""


class SessionLocked(TapeError):
    """Another live process holds the session's writer lease."""


class LeaseLost(SessionLocked):
    """This writer's lease was taken over (it was paused past the lease timeout): its write was refused whole."""


class MergeConflict(TapeError):
    """A three-way merge found names changed on both sides and ``--prefer fail`` was asked."""


class ReadOnlyQuery(UsageError):
    """A ``tape sql`` statement tried to write to the read model."""

# -- recorded effects, replay and integrity ----------------------------------------------
class EffectProviderError(TapeError):
    """An effect provider (LLM, tool, stdin) is missing or misconfigured."""


class ReplayDivergence(TapeError):
    """A replay produced an event that differs from the recorded one (the report says where and why)."""


class ChainError(StoreError):
    """The hash chain over a session's records is broken: an event was altered, removed or reordered."""


class ChainKeyRefused(UsageError):
    """A writer without the store's ``TAPE_CHAIN_KEY`` (or with another key) tried to write into a keyed store."""

# -- images --------------------------------------------------------------------------
class ImageError(TapeError):
    """An image file is missing, corrupt, truncated, foreign or of an unsupported version."""


class HistoryIsArchived(UsageError):
    """Events asked for were moved to an archive file (``tape archive``): read them from it."""


class ImageNotFound(ImageError, UsageError):
    """The image file named is not there: a missing input file is a usage error (exit 2), as for a program."""


# -- followers ---------------------------------------------------------------------------
class PositionMoved(StoreError):
    """A projection's tracked position was not where this follower left it: another follower applied first.

    The follower's transaction was rolled back (nothing written twice); it
    re-reads its position and goes on from there.
    """

    def __init__(self, projection: str, expected: int, found: int) -> None:
        super().__init__(f"projection {projection!r} is at position {found}, not {expected}: "
                         "another follower applied those commits")
        self.projection = projection
        self.expected = expected
        self.found = found
