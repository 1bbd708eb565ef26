"""Laws of the lazy state (issue 20), on random programs and a real store.

A session's state holds only the content its tail since the latest checkpoint stored; the rest is
found on first touch through the store's content index.  Whatever is held and whatever is found:

* the state at every event, read through checkpoints and the index, equals the eager fold of the
  log's prefix (which holds all of its content): every binding, atom, fact and file, by value;
* a VM loaded from it, its values touched in any order, shows the same values;
* opening a long session finds no content the first form does not need (nodes counted, not timed).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tapevm.domain.fold import fold
from tapevm.domain.state import State
from tapevm.infrastructure.session.service import open_session
from tapevm.infrastructure.stores import content_index
from tapevm.projections.state_codec import canonical_state_bytes
from tapevm.vm.interpreter import Interpreter
from tapevm.vm.printer import to_source
from tapevm.vm.world import World
from tapevm.vm.world_state import load_world
from tests.properties.test_event_stream_laws import form


@contextmanager
def checkpoint_interval(events: int) -> Iterator[None]:
    """Checkpoints every ``events`` events (what the settings read when a session opens)."""
    before = os.environ.get("TAPE_CHECKPOINT_INTERVAL")
    os.environ["TAPE_CHECKPOINT_INTERVAL"] = str(events)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("TAPE_CHECKPOINT_INTERVAL", None)
        else:
            os.environ["TAPE_CHECKPOINT_INTERVAL"] = before


def shown(state: State, order: list[int]) -> dict[str, Any]:
    """Every value a VM loaded from ``state`` shows, printed, its bindings touched in the order ``order`` draws."""
    world = World()
    load_world(state, world, Interpreter(world))
    names = [(ns, name) for ns in sorted(state.namespaces) for name in sorted(state.namespaces[ns])]
    picked = [names[i % len(names)] for i in order] + names if names else []
    values = {f"{ns}/{name}": to_source(world.lookup(ns, name)) for ns, name in picked}
    return {"values": values, "atoms": {i: to_source(a.value) for i, a in world.atoms.items()},
            "facts": sorted(to_source(f) for f in world.facts.values()), "files": dict(world.files)}


@settings(max_examples=25, deadline=None)
@given(st.lists(form(), min_size=1, max_size=30), st.integers(2, 9), st.lists(st.integers(0, 50), max_size=12),
       st.randoms(use_true_random=False))
def test_the_lazy_state_at_every_event_equals_the_eager_fold(forms: list[str], interval: int, order: list[int],
                                                              rng: Any) -> None:
    with tempfile.TemporaryDirectory() as tmp, checkpoint_interval(interval):
        store = str(Path(tmp) / "a.db")
        with open_session("lazy", store) as s:
            for text in forms:
                s.run(text)
            events = list(s.events())
        with open_session("lazy", store, create=False) as again:  # reads roots, finds content on first touch
            assert again.checkpoints.metas() or again.head <= interval
            points = sorted({again.head, *rng.sample(range(1, again.head + 1), min(6, again.head))})
            for n in points:
                lazy, eager = again.state_at(n), fold(events[:n])
                assert lazy.semantic() == eager.semantic(), n
                assert canonical_state_bytes(lazy) == canonical_state_bytes(eager), n
                assert shown(lazy, order) == shown(eager, list(reversed(order))), n
            assert shown(again.state, order) == shown(fold(events), [])


def test_opening_a_long_session_finds_no_content_the_first_form_does_not_need(tmp_path: Path) -> None:
    found: list[str] = []
    original = content_index.LineageContent.find

    def counting(self: content_index.LineageContent, keys: Any, nodes: bool) -> dict[str, Any]:
        keys = list(keys)
        found.extend(keys)
        return original(self, keys, nodes)

    counts = {}
    with checkpoint_interval(40):
        for turns in (100, 400):
            store = str(tmp_path / f"{turns}.db")
            with open_session("agent", store) as s:
                s.eval("(define messages nil) (define n 0)")
                for i in range(turns):
                    s.eval(f'(set! messages (cons "message {i} {"word " * 60}" messages)) (set! n (+ n 1))')
            content_index.LineageContent.find = counting  # type: ignore[method-assign]
            try:
                found.clear()
                with open_session("agent", store, create=False) as again:
                    assert again.eval("n") == turns
                    counts[turns] = len(found)
                    assert again.eval("(length messages)") == turns  # touching the list finds it
                    assert found, "the list is found through the index"
            finally:
                content_index.LineageContent.find = original  # type: ignore[method-assign]
    assert counts == {100: 0, 400: 0}, counts
