"""Bringing a host file into a session's world: the host read happens here, never in the VM.

The file's bytes are recorded in the log (a ContentStored blob, deduplicated by
content, and a FileImported event naming the host path), so a replay or a
fold never needs the host file again.  A new version of a file imported before
is stored as an edit of it when that pays, as a form's write is
(:class:`~tapevm.vm.form_events.FormEventBuilder`).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import NamedTuple, Protocol

from tapevm.domain.errors import UsageError
from tapevm.domain.events import ContentStored, Event, FileImported, RecordedEvent
from tapevm.domain.state import State
from tapevm.vm.form_events import FormEventBuilder
from tapevm.vm.world import World, WorldError, normalize_path

MAX_IMPORT_BYTES = 512 * 1024 * 1024
# What a device or a pipe may give (``special=True``): it could be endless (/dev/zero), and ``tape run``
# reads one up to the same 64 MiB.
MAX_STREAM_BYTES = 64 * 1024 * 1024


class HostFile(NamedTuple):
    """A host file read and checked for import, before any session is opened."""

    source: Path
    data: bytes
    target: str   # its world path


def read_host_file(host_path: str | Path, path: str | None = None, *, special: bool = False) -> HostFile:
    """Read ``host_path`` for import as world file ``path`` (default: its name); UsageError if it cannot be.

    Only a regular file, named itself, unless ``special``: a symbolic link may point anywhere
    (``/proc/self/environ``: the process's secrets, into a log that is kept), and a device or pipe
    may never end (``/dev/zero``).  With ``special`` a link is followed and a device or pipe is read
    up to :data:`MAX_STREAM_BYTES`; a regular file may hold up to :data:`MAX_IMPORT_BYTES`.
    """
    host = Path(host_path)
    try:
        data = _read_capped(host, special)
    except FileNotFoundError:
        raise UsageError(f"no such file: {host}") from None
    except OSError as e:
        raise UsageError(f"cannot read {host}: {e.strerror or e}") from None
    return HostFile(host, data, world_path(path if path is not None else host.name))


def world_path(path: str) -> str:
    """A world path a user typed (``tape world import/cat``, ``blame --file``) in its stored form;
    the one rule of ``normalize_path`` (``/notes/x`` is ``notes/x``), a bad one a UsageError."""
    try:
        return normalize_path(path)
    except WorldError as e:
        raise UsageError(f"bad world path {path!r}: {e.message}") from None


def _read_capped(host: Path, special: bool) -> bytes:
    """The bytes of ``host`` within the limits of :func:`read_host_file` (UsageError past them)."""
    if not special and stat.S_ISLNK(os.lstat(host).st_mode):
        raise UsageError(f"{host} is a symbolic link (to {os.readlink(host)}): give the file it points to, "
                         "or --special to follow it")
    # not special: no link followed (even one put there since the check), and no wait at a pipe with no writer
    flags = os.O_RDONLY if special else os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK
    with os.fdopen(os.open(host, flags), "rb") as stream:
        regular = stat.S_ISREG(os.fstat(stream.fileno()).st_mode)
        if not regular and not special:
            raise UsageError(f"{host} is not a regular file (a device, pipe or socket, which may never end): "
                             f"give --special to read it, up to {MAX_STREAM_BYTES // 2**20} MiB")
        cap = MAX_IMPORT_BYTES if regular else MAX_STREAM_BYTES
        data = stream.read(cap + 1)
    if len(data) > cap:
        what = "larger than" if regular else "endless or more than"
        raise UsageError(f"{host} is {what} {cap // 2**20} MiB; import a smaller file (split it first)")
    return data


class ImportingSession(Protocol):
    """What an import needs of its session: its name, head and state, whether a form is unfinished,
    a commit of events, and the live world the file joins."""

    @property
    def id(self) -> str: ...
    @property
    def head(self) -> int: ...
    @property
    def state(self) -> State: ...
    @property
    def unfinished(self) -> int | None: ...
    @property
    def world(self) -> World: ...
    def append_caused(self, events: list[Event], cause: int) -> list[RecordedEvent]: ...


def import_file(session: ImportingSession, host_path: str | Path | HostFile, path: str | None = None) -> int:
    """Record the host file as world file ``path`` (default: its name); returns the FileImported's event number."""
    host, data, target = host_path if isinstance(host_path, HostFile) else read_host_file(host_path, path)
    if session.unfinished is not None:
        raise UsageError(f"session {session.id!r} has an unfinished form at event {session.unfinished}; "
                         f"finish it first with 'tape resume -i {session.id}'")
    # stored as a form stores a write: once, and as an edit of the version it replaces when that pays
    # (the builder is never committed: the fold of the ContentStored adds its entries)
    state = session.state
    builder = FormEventBuilder(state.nodes, state.blobs)
    key = builder.blob_key(data, state.file_bytes(target) if target in state.files else None)
    events: list[Event] = []
    blobs = builder.take_new_blobs()
    if blobs:
        events.append(ContentStored(nodes=[], blobs=blobs))
    events.append(FileImported(path=target, content=key, size=len(data), source=str(host)))
    recorded = session.append_caused(events, session.head + 1)
    session.world.files[target] = data
    return recorded[-1].seq
