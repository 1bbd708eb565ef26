"""Turn a store location (``--store`` / ``TAPE_STORE``) into an EventStore, and its backend object with it.

``postgresql://user@host:port/db?schema=NAME`` selects PostgreSQL; anything else
is a SQLite file path (``sqlite:///path`` also works).  The default is
``$TAPE_HOME/store.db`` with ``TAPE_HOME`` defaulting to the XDG data dir.

This is the one place that chooses a backend: it builds the store's
:class:`~tapevm.infrastructure.stores.backend.Backend` once, and everything
else asks the store's ``backend``.  PostgreSQL's room (and psycopg, ~0.15 s to
import) is imported only for a ``postgresql://`` store.
"""

from __future__ import annotations

from pathlib import Path

from tapevm.domain.errors import UsageError
from tapevm.domain.ports import EventStore
from tapevm.infrastructure.config import Settings
from tapevm.infrastructure.stores.backend import Backend
from tapevm.infrastructure.stores.event_store import RecorderEventStore, TapeRecorder
from tapevm.infrastructure.stores.sqlite.opening import open_sqlite


def tape_home(settings: Settings | None = None) -> Path:
    """tapevm's own directory: ``$TAPE_HOME``, else ``$XDG_DATA_HOME/tapevm`` (``~/.local/share/tapevm``).

    A UsageError when it names a file, or lies under one (see ``config.tape_home``).
    """
    return (settings or Settings.from_environment()).tape_home()


def default_store_location(settings: Settings | None = None) -> str:
    return (settings or Settings.from_environment()).store_location()


def is_postgres_url(location: str) -> bool:
    return location.startswith(("postgresql://", "postgres://"))


# What the ``postgres`` extra installs, and what to say when a postgresql:// store is used without it.
POSTGRES_EXTRA_MODULES = ("psycopg", "psycopg_pool", "psycopg_binary")
POSTGRES_EXTRA = ("a postgresql:// store needs the PostgreSQL driver: install the extra with  "
                  "pip install 'tapevm[postgres]'")


def open_store(location: str | None = None, *, durability: str | None = None, create: bool = True,
               settings: Settings | None = None) -> EventStore:
    """Open the store at ``location``, creating it unless ``create=False``.

    Readers pass ``create=False``: a mistyped ``--store`` path would otherwise leave an empty
    store behind and show "0 sessions", as if the real one had lost everything.  (A PostgreSQL
    store's tables are created either way; that is idempotent and leaves no stray file.)
    ``settings``: the environment as the command or session saw it when it started (read now if
    not given); the location, durability and chain key not given come from it.
    """
    settings = settings or Settings.from_environment()
    location = location or settings.store_location()
    durability = durability or settings.store_durability()
    recorder: TapeRecorder
    backend: Backend
    if is_postgres_url(location):
        try:
            from tapevm.infrastructure.stores.postgres.backend import open_postgres
        except ModuleNotFoundError as e:  # the extra is not installed: say which, not a traceback
            if (e.name or "").partition(".")[0] not in POSTGRES_EXTRA_MODULES:
                raise
            raise UsageError(POSTGRES_EXTRA) from None
        pg, display = open_postgres(location)
        backend, recorder = pg, pg.recorder
    else:
        sqlite, display = open_sqlite(location, durability=durability, create=create)
        backend, recorder = sqlite, sqlite.recorder
    return RecorderEventStore(recorder, display, closer=backend.datastore.close, backend=backend,
                              chain_key=settings.chain_key_bytes())
