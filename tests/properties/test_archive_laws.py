"""Laws of ``tape archive`` on random sessions and real SQLite stores.

At every event N that may be archived before (a commit's first event, outside any form):

* the live part verifies, and the archive verifies on its own and joins it;
* the state after every event M is what it was before archiving: from the live log for
  M >= N-1, from the archive for M < N-1 (and the live log says so, naming the file);
* the session goes on: a form after the archiving gives the state it gave before, and a clone
  at the head (reading its first events through the archived session) still reads them.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tapevm.domain.errors import HistoryIsArchived
from tapevm.infrastructure.branches.forks import clone
from tapevm.infrastructure.integrity import verify_archive, verify_chain
from tapevm.infrastructure.lifecycle.archiving import archive_session, archived_state
from tapevm.infrastructure.session.service import open_session
from tapevm.infrastructure.stores.factory import open_store
from tapevm.projections.state_codec import canonical_state_bytes
from tests.properties.test_event_stream_laws import form


def _archivable(store, stream: str) -> list[int]:
    """Event numbers a session may be archived before: commit starts 3..head whose form began there."""
    starts = [first for rows in store.records(stream) for first, _, _ in rows]
    causes = {seq: cause for seq, _, _, cause, _ in store.read_decoded(stream)}
    return [n for n in starts if n >= 3 and causes[n] >= n]


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(form(), min_size=2, max_size=12), form(), st.data())
def test_archive_and_live_part_verify_and_give_every_state(
        monkeypatch: pytest.MonkeyPatch, forms: list[str], after: str, data: st.DataObject) -> None:
    monkeypatch.setenv("TAPE_CHECKPOINT_INTERVAL", "3")  # checkpoints on both sides of N: dropped, written again
    with tempfile.TemporaryDirectory() as tmp, open_store(str(Path(tmp) / "s.db")) as store:
        with open_session("w", store) as s:
            for text in forms:
                s.run(text)
            head = s.head
            states = {m: canonical_state_bytes(s.state_at(m)) for m in range(1, head + 1)}
        choices = _archivable(store, "w")
        assume(choices)
        before = data.draw(st.sampled_from(choices), label="before")
        clone(store, "w", "c")  # the next form, on the log as it was: in a clone at the head (it reads through w)
        with open_session("c", store) as c:
            c.run(after)
            next_state = canonical_state_bytes(c.state)
        path = Path(tmp) / "a.img"
        archive_session(store, "w", before, path)

        assert verify_chain(store, "w").ok
        joined = verify_archive(store, "w", path)
        assert joined.ok, joined.message
        with open_session("w", store, writable=False) as s:
            assert s.head == head
            for m in range(1, head + 1):
                if m >= before - 1:
                    assert canonical_state_bytes(s.state_at(m)) == states[m], m
                else:
                    with pytest.raises(HistoryIsArchived, match="a.img"):
                        s.state_at(m)
                    assert canonical_state_bytes(archived_state(path, m)) == states[m], m
        with open_session("w", store) as s:
            s.run(after)
            assert canonical_state_bytes(s.state) == next_state
        with open_session("c", store, writable=False) as c:  # the clone still reads its first events through w
            assert canonical_state_bytes(c.state) == next_state
        assert verify_chain(store, "w").ok and verify_archive(store, "w", path).ok and verify_chain(store, "c").ok
