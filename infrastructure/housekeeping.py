"""``tape gc``: remove only what can be rebuilt, and say what was freed; never an event.

What is rebuildable today: the SQL read model (emptied in place, so that a
running ``tape follow`` starts it over instead of writing into a deleted file;
``tape sql`` rebuilds it), lease rows of dead writers, and checkpoints of other
projection versions.  Then the backend's vacuum reclaims the space deleted rows
left (``tape delete``'s above all): SQLite rewrites the file, PostgreSQL
vacuums the store's tables.  Content nodes and blobs live inside the
event records themselves, so there is no separate unreferenced content to free.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tapevm.domain.errors import StoreError, TapeError
from tapevm.domain.ports import EventStore
from tapevm.infrastructure.followers.read_model import read_model_path, rebuild, sqlite_files
from tapevm.infrastructure.stores.backend import backend_of
from tapevm.infrastructure.stores.checkpoint_tables import checkpoint_store_for
from tapevm.infrastructure.stores.leases import LEASE_TABLE, lease_holder, lease_table
from tapevm.infrastructure.stores.side_tables import SideTables
from tapevm.projections.checkpoints.version import PROJECTION_VERSION


@dataclass
class GcReport:
    items: list[dict[str, Any]] = field(default_factory=list)

    @property
    def freed_bytes(self) -> int:
        return sum(int(i["bytes"]) for i in self.items)

    def as_json(self) -> dict[str, Any]:
        return {"freed_bytes": self.freed_bytes, "removed": self.items}


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in sqlite_files(path) if p.exists())


def collect_garbage(store: EventStore) -> GcReport:
    report = GcReport()
    model = read_model_path(store)
    size = _size(model)
    if rebuild(store):
        report.items.append({"what": "read model (rebuilt by the next 'tape sql' or by a running 'tape follow')",
                             "path": str(model), "bytes": max(0, size - _size(model))})
    db = SideTables(store)
    table = lease_table(db)
    stale = [r[0] for r in db.query(f"SELECT session FROM {table}") if lease_holder(store, r[0]) is None]
    for session in stale:
        db.execute(f"DELETE FROM {table} WHERE session = ? ", (session,))
    if stale:
        report.items.append({"what": f"{len(stale)} lease rows of dead writers ({LEASE_TABLE})", "bytes": 0})
    _drop_stale_checkpoints(store, report)
    _vacuum(store, report)
    return report


def _vacuum(store: EventStore, report: GcReport) -> None:
    """The backend's vacuum: the space of deleted rows back (a deleted session's above all)."""
    backend = backend_of(store)
    if backend is None:
        return
    try:
        before, after = backend.vacuum()
    except TapeError:
        raise
    except Exception as e:  # the driver's errors (a lock held too long, a full disk): one line, nothing lost
        raise StoreError(f"could not vacuum {store.url_for_display}: {type(e).__name__}: {e}") from e
    if before > after:  # (a vacuum that freed nothing is not reported: gc says what it freed)
        report.items.append({"what": "space of deleted rows (the database vacuumed)", "bytes": before - after})


def _drop_stale_checkpoints(store: EventStore, report: GcReport) -> None:
    """Checkpoints written by another projection version are never used again: drop them.

    (Checkpoints are a cache; current ones are kept because they make opening fast.)
    """
    cache = checkpoint_store_for(store)
    if cache is None:
        return
    count = freed = 0
    for head in store.sessions():
        stale = [m for m in cache.metas(head.session) if m.projection_version != PROJECTION_VERSION]
        if stale:
            cache.delete(head.session, [m.seq for m in stale if not m.pack], sorted({m.pack for m in stale if m.pack}))
            count += len(stale)
            freed += sum(m.stored_size for m in stale)
    if count:
        report.items.append({"what": f"{count} stale checkpoints (older projection versions)", "bytes": freed})
