"""The Python API of time travel, as the README shows it, on both backends."""

from __future__ import annotations

from pathlib import Path

import pytest

import tapevm


def test_snapshot_restore_delta_and_images_through_the_facade(store_url: str, tmp_path: Path) -> None:
    with tapevm.open_session("api", store_url) as s:
        s.eval("(define x 1) (assert! '(seen 1))")
        marked = s.snapshot("before", description="x is 1")
        s.eval("(define x 2) (define y 3) (retract! '(seen 1))")
        d = s.delta(marked.at, s.head)
        assert isinstance(d, tapevm.Delta)
        assert set(d.bindings["user"].changed) == {"x"} and set(d.bindings["user"].added) == {"y"}
        assert len(d.facts.retracted) == 1
        assert tapevm.apply_delta(s.state_at(marked.at), d).same_as(s.state)
        restored = s.restore("before")
        assert restored.event.target == marked.at
        assert s.eval("x") == 1 and s.eval("(bound? 'y)") is False
        with pytest.raises(tapevm.UsageError, match="already has a snapshot"):
            s.snapshot("before")
        info = tapevm.save_image(s, tmp_path / "api.img", description="after restore")
        assert info.header["source_session"] == "api"
        with tapevm.load_image(s.store, tmp_path / "api.img", "api-copy") as copy:
            assert copy.eval("x") == 1
            assert tapevm.diff(copy.state, tapevm.load_state(tmp_path / "api.img")).is_empty()
