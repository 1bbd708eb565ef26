"""Durability settings on the SQLite write path: event commits keep the store's setting.

Checkpoint writes commit with ``synchronous=NORMAL`` (a cache: no fsync of
their own, see checkpoint_sql.py); the pooled connection must get the
store's own setting back, so the next form's commit is as durable as before.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tapevm.infrastructure.session.service import open_session

SYNCHRONOUS = {"full": 2, "fast": 1}


@pytest.mark.parametrize("durability", ["full", "fast"])
def test_checkpoint_writes_leave_the_pools_connections_at_the_stores_setting(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, durability: str) -> None:
    monkeypatch.setenv("TAPE_CHECKPOINT_INTERVAL", "5")
    with open_session("d", str(tmp_path / "s.db"), durability=durability) as s:
        for i in range(12):
            s.run(f"(define x{i} {i}) (define y {i})")
        assert len(s.checkpoints.metas()) >= 3, "the forms wrote checkpoints"
        pool = s.store.recorder.datastore.pool  # type: ignore[attr-defined]
        settings = {c._sqlite_conn.execute("PRAGMA synchronous").fetchone()[0] for c in pool._pool}
        assert settings == {SYNCHRONOUS[durability]}
        # and the write path's own connection, as the benchmark reads it
        with s.store.recorder.datastore.get_connection(commit=True) as conn:  # type: ignore[attr-defined]
            assert conn._sqlite_conn.execute("PRAGMA synchronous").fetchone()[0] == SYNCHRONOUS[durability]
    with open_session("d", str(tmp_path / "s.db"), create=False) as again:
        assert again.state.namespaces["user"]["y"] == 11
        assert again.checkpoints.state_at(None).seq > 0
