"""Shared checks of follower tests: a store with forks and merges, read model dumps, checkpoint validity."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from tapevm.domain import lineage
from tapevm.domain.fold import fold_fields
from tapevm.domain.form_points import commit_around
from tapevm.domain.state import State
from tapevm.infrastructure.branches.forks import fork
from tapevm.infrastructure.branches.merging import merge
from tapevm.infrastructure.followers.read_model import ReadModel
from tapevm.infrastructure.session.checkpoints import checkpoints_of
from tapevm.infrastructure.session.service import open_session

TABLES = ("sessions", "events", "binding_history", "fact_history", "file_history", "snapshots")


def fill(store: Any, forms: int = 12) -> None:
    with open_session("a", store) as s:
        for i in range(forms):
            s.eval(f'(begin (define x{i % 4} (list {i} "v{i}")) (assert! (quote (f {i % 3}))) '
                   f'(write-file! "f{i % 2}" "text {i}"))')
    inside = commit_around(store, "a", 8)  # fork at the end of the form that holds event 8
    fork(store, f"a@{8 if inside is None else inside[1]}", "b")
    with open_session("b", store) as s:
        for i in range(forms // 2):
            s.eval(f"(define y{i} {i}) (define x0 {i})")
    merge(store, "b", "a", prefer="take")


def dump(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of a read model, sorted (batch boundaries may order rows differently)."""
    conn = sqlite3.connect(path)
    try:
        return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in TABLES}
    finally:
        conn.close()


def rebuilt(store: Any, tmp_path: Path) -> dict[str, list[tuple[Any, ...]]]:
    fresh = ReadModel(store, tmp_path / "fresh.readmodel.db")
    fresh.catch_up()
    fresh.close()
    return dump(tmp_path / "fresh.readmodel.db")


def assert_checkpoints_valid(store: Any, sessions: tuple[str, ...] = ("a", "b")) -> None:
    """Every session has checkpoints every K events, all valid, and state_at through them equals the fold."""
    for session in sessions:
        segments = lineage.lineage(store, session)
        reader = lambda a, b, s=session, g=segments: lineage.read_fields(store, s, a, b, g)
        cp = checkpoints_of(store, session, segments)
        metas = cp.metas()
        head = store.last_seq(session)
        assert metas, f"no checkpoints for {session}"
        assert [r for _, r in cp.verify() if r is not None] == []
        assert head - metas[-1].seq < cp.interval + 10  # written as the head passed each K (a form is < 10 events)
        for m in metas:
            assert cp.state_at(m.seq).semantic() == fold_fields(reader(1, m.seq), State(session=session)).semantic()
