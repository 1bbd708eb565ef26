"""Opening a SQLite store: a file path (``sqlite:///path`` also works), checked before SQLite touches it.

Opening switches a file to WAL mode and creates tapevm's tables in it, so a
file that is not a tapevm store (another application's database, a text
file, a directory) is refused first, with a message that says what it is.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tapevm.domain.errors import StoreError, StoreNotFound, UsageError
from tapevm.infrastructure.stores.records.events_table import EVENT_COLUMNS, EVENTS_TABLE
from tapevm.infrastructure.stores.sqlite.backend import SQLiteBackend
from tapevm.infrastructure.stores.sqlite.recorder import open_sqlite_recorder


def open_sqlite(location: str, *, durability: str, create: bool) -> tuple[SQLiteBackend, str]:
    """The backend of the SQLite store at ``location`` (its recorder inside), and the path to show.

    ``create=False``: a StoreNotFound instead of creating a missing file.
    """
    path = location.removeprefix("sqlite:///")
    if not path.strip():  # a file named '  ' in the current directory is never what was meant
        raise UsageError(f"the store location {location!r} is blank: give a file path or a postgresql:// URL "
                         "(--store or TAPE_STORE)")
    if "://" in path:
        raise UsageError(f"unsupported store URL {location!r}: use a file path or postgresql://...")
    if path == "-":  # read as standard input elsewhere; here it made a store file named '-'
        raise UsageError("the store location '-' is not a file: a store cannot be read from standard input; "
                         "give a file path or a postgresql:// URL (--store or TAPE_STORE)")
    if path.startswith("file:"):  # SQLite's URI form: 'file:/x.db' made a directory named 'file:'
        raise UsageError(f"unsupported store location {location!r}: give the file's path without 'file:' "
                         f"(such as {path.removeprefix('file:') or 'store.db'!r}) or a postgresql:// URL")
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
    return SQLiteBackend(open_sqlite_recorder(str(file), durability=durability)), str(file)


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
            columns = ({str(r[1]) for r in db.execute(f"PRAGMA table_info({EVENTS_TABLE})")}
                       if EVENTS_TABLE in tables else set())
        finally:
            db.close()
    except (sqlite3.Error, UnicodeDecodeError, ValueError, OSError):
        return
    if not tables:
        return
    if EVENTS_TABLE not in tables:
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
