"""Turn a store location (``--store`` / ``TAPE_STORE``) into an EventStore.

``postgresql://user@host:port/db?schema=NAME`` selects PostgreSQL; anything else
is a SQLite file path (``sqlite:///path`` also works).  The default is
``$TAPE_HOME/store.db`` with ``TAPE_HOME`` defaulting to the XDG data dir.
"""

from __future__ import annotations

import os
from pathlib import Path

from tapevm.domain.errors import StoreError, UsageError
from tapevm.infrastructure.event_store import RecorderEventStore
from tapevm.infrastructure.ports import EventStore


def tape_home() -> Path:
    home = os.environ.get("TAPE_HOME")
    if home:
        return Path(home)
    data = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(data) / "tapevm"


def default_store_location() -> str:
    return os.environ.get("TAPE_STORE") or str(tape_home() / "store.db")


def is_postgres_url(location: str) -> bool:
    return location.startswith(("postgresql://", "postgres://"))


def open_store(location: str | None = None, *, durability: str | None = None) -> EventStore:
    """Open (creating if needed) the store at ``location``."""
    location = location or default_store_location()
    durability = durability or os.environ.get("TAPE_DURABILITY", "full")
    if is_postgres_url(location):
        from tapevm.infrastructure.postgres_backend import open_postgres_recorder, redact_url

        pg_recorder, datastore = open_postgres_recorder(location)
        return RecorderEventStore(pg_recorder, redact_url(location), closer=datastore.close)
    from tapevm.infrastructure.sqlite_backend import open_sqlite_recorder

    path = location.removeprefix("sqlite:///")
    if "://" in path:
        raise UsageError(f"unsupported store URL {location!r}: use a file path or postgresql://...")
    file = Path(path)
    if file.exists() and file.is_dir():
        raise UsageError(f"store path {path!r} is a directory; give a file such as {path}/store.db")
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StoreError(f"cannot create the directory for store {path!r}: {e.strerror}") from None
    _check_sqlite_header(file)
    recorder = open_sqlite_recorder(str(file), durability=durability)
    return RecorderEventStore(recorder, str(file), closer=recorder.datastore.close)


def _check_sqlite_header(file: Path) -> None:
    """Refuse a file that is not a SQLite database before SQLite touches it."""
    try:
        with file.open("rb") as f:
            head = f.read(16)
    except FileNotFoundError:
        return
    except OSError as e:
        raise StoreError(f"cannot read store {str(file)!r}: {e.strerror}") from None
    if head and head != b"SQLite format 3\x00":
        raise StoreError(f"{str(file)!r} is not a tapevm store (not a SQLite database)")
