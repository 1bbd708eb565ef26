"""Turn a store location (``--store`` / ``TAPE_STORE``) into an EventStore.

``postgresql://user@host:port/db?schema=NAME`` selects PostgreSQL; anything else
is a SQLite file path (``sqlite:///path`` also works).  The default is
``$TAPE_HOME/store.db`` with ``TAPE_HOME`` defaulting to the XDG data dir.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from tapevm.domain.errors import StoreError, StoreNotFound, UsageError
from tapevm.infrastructure.stores.event_store import EVENT_COLUMNS, RecorderEventStore
from tapevm.domain.ports import EventStore


def tape_home() -> Path:
    """tapevm's own directory: ``$TAPE_HOME``, else ``$XDG_DATA_HOME/tapevm`` (``~/.local/share/tapevm``).

    A UsageError when it names a file, or lies under one: making the store's directory there failed
    with the OS's "File exists" (or "Not a directory"), which did not say the variable was wrong.
    """
    home = os.environ.get("TAPE_HOME")
    if home:
        path = Path(home)
    else:
        data = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
        path = Path(data) / "tapevm"
    blocker = _file_in_the_way(path)
    if blocker is not None:
        named = f"TAPE_HOME={home!r}" if home else f"TAPE_HOME (by default {str(path)!r})"
        where = "names a file" if blocker == path else f"lies under {str(blocker)!r}, a file"
        raise UsageError(f"{named} {where}, not a directory: set TAPE_HOME to a directory (created if missing)")
    return path


def _file_in_the_way(path: Path) -> Path | None:
    """The nearest existing one of ``path`` and its parents when it is not a directory, else None."""
    try:
        for p in (path, *path.parents):
            if p.exists():
                return None if p.is_dir() else p
    except OSError:  # (unreadable: left to whoever creates or opens something there to report)
        return None
    return None


def default_store_location() -> str:
    return os.environ.get("TAPE_STORE") or str(tape_home() / "store.db")


def is_postgres_url(location: str) -> bool:
    return location.startswith(("postgresql://", "postgres://"))


def open_store(location: str | None = None, *, durability: str | None = None, create: bool = True) -> EventStore:
    """Open the store at ``location``, creating it unless ``create=False``.

    Readers pass ``create=False``: a mistyped ``--store`` path would otherwise leave an empty
    store behind and show "0 sessions", as if the real one had lost everything.  (A PostgreSQL
    store's tables are created either way; that is idempotent and leaves no stray file.)
    """
    location = location or default_store_location()
    durability = durability or os.environ.get("TAPE_DURABILITY", "full")
    if is_postgres_url(location):
        from tapevm.infrastructure.stores.postgres import open_postgres_recorder, redact_url

        pg_recorder, datastore = open_postgres_recorder(location)
        return RecorderEventStore(pg_recorder, redact_url(location), closer=datastore.close)
    from tapevm.infrastructure.stores.sqlite import open_sqlite_recorder

    path = location.removeprefix("sqlite:///")
    if not path.strip():  # a file named '  ' in the current directory is never what was meant
        raise UsageError(f"the store location {location!r} is blank: give a file path or a postgresql:// URL "
                         "(--store or TAPE_STORE)")
    if "://" in path:
        raise UsageError(f"unsupported store URL {location!r}: use a file path or postgresql://...")
    file = Path(path)
    if file.exists() and file.is_dir():
        raise UsageError(f"store path {path!r} is a directory; give a file such as {path}/store.db")
    if not create and not file.exists():
        raise StoreNotFound(f"no store at {path!r} (nothing has been written there; check --store or TAPE_STORE; "
                            "'tape run' and 'tape eval' create a store)")
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StoreError(f"cannot create the directory for store {path!r}: {e.strerror}") from None
    if _check_sqlite_header(file):
        _check_sqlite_tables(file)
    recorder = open_sqlite_recorder(str(file), durability=durability)
    return RecorderEventStore(recorder, str(file), closer=recorder.datastore.close)


def _check_sqlite_header(file: Path) -> bool:
    """Refuse a file that is not a SQLite database before SQLite touches it; True for a SQLite database
    (False: no file yet, or an empty one, which SQLite makes a new database)."""
    try:
        with file.open("rb") as f:
            head = f.read(16)
    except FileNotFoundError:
        return False
    except OSError as e:
        raise StoreError(f"cannot read store {str(file)!r}: {e.strerror}") from None
    if head and head != b"SQLite format 3\x00":
        raise StoreError(f"{str(file)!r} is not a tapevm store (not a SQLite database)")
    return bool(head)


def _check_sqlite_tables(file: Path) -> None:
    """Refuse a SQLite database that is not a tapevm store before the recorder opens it.

    Opening switches the file to WAL mode and creates tapevm's tables in it, which would change
    another application's database; and an events table altered by hand (a column dropped or
    renamed) would fail every later read with SQLite's bare ``no such column``.  A tapevm store
    creates its events table before any other, so a database with tables but none of that name is
    not one.  A file SQLite cannot read here is left to the recorder, which reports it.
    """
    try:
        db = sqlite3.connect(f"{file.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
        try:
            tables = {str(r[0]) for r in db.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}
            columns = ({str(r[1]) for r in db.execute("PRAGMA table_info(stored_events)")}
                       if "stored_events" in tables else set())
        finally:
            db.close()
    except (sqlite3.Error, UnicodeDecodeError, ValueError, OSError):
        return
    if not tables:
        return
    if "stored_events" not in tables:
        if any(t.startswith("tape_") for t in tables):
            raise StoreError(f"{str(file)!r} is a damaged tapevm store: its events table (stored_events) is "
                             "missing; restore the file from a backup")
        shown = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
        raise StoreError(f"{str(file)!r} is not a tapevm store (a SQLite database with other tables: {shown}); "
                         "give a new file or an existing store")
    missing = [c for c in EVENT_COLUMNS if c not in columns]
    if missing:
        raise StoreError(f"{str(file)!r} is not a usable tapevm store: its events table (stored_events) has no "
                         f"column {', '.join(missing)} (altered by hand, or another application's table); restore the file "
                         "from a backup, or give another file")
