"""gc drops checkpoints no projection version will use again; info counts checkpoints."""

from __future__ import annotations

from dataclasses import replace

from tapevm.infrastructure.housekeeping import collect_garbage
from tapevm.infrastructure.session.service import open_session
from tapevm.infrastructure.session_summaries import session_info
from tapevm.infrastructure.stores.checkpoint_tables import checkpoint_store_for
from tapevm.infrastructure.stores.factory import open_store


def test_gc_drops_only_stale_checkpoints_and_info_counts_them(store_url: str) -> None:
    with open_store(store_url) as store:
        with open_session("g", store) as s:
            for n in range(12):
                s.run("(begin " + " ".join(f"(define x{i} {n})" for i in range(100)) + ")")
            metas = s.checkpoints.metas()
            assert metas and session_info(s)["checkpoints"] == len(metas)
        cache = checkpoint_store_for(store)
        assert cache is not None
        old = replace(metas[0], projection_version="fold-0/old", seq=metas[0].seq)
        cache.delete("g", [old.seq])
        cache.put(old, b"stale payload")
        report = collect_garbage(store)
        assert any("stale checkpoints" in item["what"] for item in report.items)
        left = cache.metas("g")
        assert [m.seq for m in left] == [m.seq for m in metas[1:]]
        assert all(m.projection_version != "fold-0/old" for m in left)
        with open_session("g", store, writable=False) as s:
            assert s.state.namespaces["user"]["x0"] == 11  # the log, not the cache, is the truth
