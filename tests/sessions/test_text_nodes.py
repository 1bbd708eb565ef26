"""A string's cost does not jump at a size threshold (issue 20): an agent history stores each message once.

From VM version 2, strings of 40 characters or more are TEXT nodes, so the list chunk that every
cons stores again holds references, never the messages' text.  A session keeps the version it
started at for its whole life: one started at version 1 (strings of 1,024 characters or more) still
encodes, replays and forks as it did.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from tapevm.domain.content import TEXT
from tapevm.infrastructure.session.replay import replay
from tapevm.infrastructure.session.service import Session, open_session
from tapevm.infrastructure.stores.factory import open_store
from tapevm.vm.version import VM_VERSION

TURNS = 64


def _node_bytes_per_turn(s: Session, length: int) -> float:
    """Bytes of content the forms consing ``TURNS`` messages of ``length`` characters store, per turn."""
    s.eval("(define messages nil)")
    start = s.head
    for i in range(TURNS):
        s.eval(f'(set! messages (cons "{str(i).rjust(6, "0")}{"m" * (length - 6)}" messages))')
    stored = sum(len(orjson.dumps(node)) for r in s.events(start + 1) if r.type_name == "ContentStored"
                 for _, node in r.event.nodes)
    return stored / TURNS


@pytest.mark.parametrize("length", [40, 200, 1010, 1023, 1024, 3000])
def test_each_message_is_stored_once_whatever_its_length(tmp_path: Path, length: int) -> None:
    with open_session("agent", str(tmp_path / "s.db")) as s:
        per_turn = _node_bytes_per_turn(s, length)
        assert s.vm_version == VM_VERSION == 2
    # the message once, plus a chunk of at most 32 references (~40 bytes each, 16 on average)
    assert per_turn < length + 16 * 45 + 100, per_turn


def test_a_session_started_at_version_1_keeps_its_encoding_and_replays(tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    with open_store(db) as store:
        with Session(store, "old", vm_version=1) as s:
            per_turn = _node_bytes_per_turn(s, 500)
            texts = [node for r in s.events() if r.type_name == "ContentStored" for _, node in r.event.nodes
                     if node[0] == TEXT]
            assert s.vm_version == 1 and texts == []  # 500 characters stay inline in version 1
        assert per_turn > 8 * 500  # the chunk stored again at every cons carries the messages
        with Session(store, "old", create=False) as again:
            assert again.vm_version == 1
            again.eval('(set! messages (cons "x" messages))')
        result = replay(store, "old", verify=True)
        assert result.ok, result.divergence
