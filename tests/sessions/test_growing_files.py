"""World files that grow by appends: each version costs what it appends, not the whole file again.

Before file versions could be stored as pieces, 2,000 ``append-file!`` calls of
~77 bytes made a 153 KB file, a 7.1 MB log and 152 MB of blobs in every session
that opened it (quadratic).  These tests pin the linear cost on a real store and
check that everything that reads file content (reopening, checkpoints, images,
replay, forks, merges, deltas) sees whole files.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from tapevm.domain.content import BlobTable, Piece
from tapevm.domain.errors import CorruptRecord
from tapevm.domain.state import file_blobs
from tapevm.infrastructure import image_ops
from tapevm.infrastructure.branching import fork
from tapevm.infrastructure.merging import merge
from tapevm.infrastructure.replay import replay
from tapevm.infrastructure.session import Session, open_session
from tapevm.infrastructure.store_factory import open_store
from tapevm.projections.delta import diff
from tapevm.projections.state_codec import canonical_state_bytes
from tapevm.vm import form_events

LINE = "step {i}: looked at the inbox, nothing new, will check again later\\n"  # ~70 bytes
APPENDS = 300


def _append_lines(s: Session, start: int, count: int, path: str = "notes.md") -> None:
    for i in range(start, start + count):
        s.run(f'(append-file! "{path}" "{LINE.format(i=i)}")')


def _expected(start: int, count: int) -> bytes:
    return "".join(LINE.format(i=i).replace("\\n", "\n") for i in range(start, start + count)).encode()


def _stored_blob_bytes(s: Session) -> int:
    """Bytes of file content the session's log carries (every ContentStored blob entry's data)."""
    return sum(len(entry[2]) for r in s.events() if r.type_name == "ContentStored" for entry in r.event.blobs)


def test_appends_store_and_hold_what_they_append(store_url: str) -> None:
    with open_session("agent", store_url) as s:
        _append_lines(s, 0, APPENDS)
        final = _expected(0, APPENDS)
        assert s.state.file_bytes("notes.md") == final
        stored = _stored_blob_bytes(s)
    # linear: the whole file once plus the versions below the piece threshold, whole (~PIECE_MIN**2 / 2
    # / len(line), 8 KB here), not ~APPENDS/2 times the file (3 MB)
    assert stored < 2 * len(final), (stored, len(final))
    with open_session("agent", store_url, create=False) as again:
        assert again.run('(read-file "notes.md")')[0].value == final.decode()
        assert again.state.blobs.stored_bytes() < 2 * len(final)
        again.run('(append-file! "notes.md" "one more\\n")')
        assert again.state.file_bytes("notes.md") == final + b"one more\n"


def test_a_file_reached_by_appends_has_the_key_of_the_same_content_written_at_once(tmp_path: Path) -> None:
    with open_session("a", str(tmp_path / "s.db")) as s:
        _append_lines(s, 0, 40)
        text = _expected(0, 40).decode().replace("\n", "\\n")
        s.run(f'(write-file! "copy.md" "{text}")')
        assert s.state.files["copy.md"] == s.state.files["notes.md"]
        pieces = [k for k, v in s.state.blobs.items() if type(v) is Piece]
        assert s.state.files["notes.md"] in pieces  # the appended version is a piece ...
        stored_whole = [e for r in s.events() if r.type_name == "ContentStored" for e in r.event.blobs
                        if e[0] == s.state.files["copy.md"]]
        assert [len(e) for e in stored_whole] == [4]  # ... and the whole write found it stored already


def test_checkpoints_images_and_deltas_see_whole_files(store_url: str, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAPE_CHECKPOINT_INTERVAL", "25")
    with open_session("cp", store_url) as s:
        _append_lines(s, 0, 60)
        mid = s.head
        _append_lines(s, 60, 60)
        s.run('(write-file! "other.txt" "short")')
        assert s.checkpoints.metas(), "no checkpoint was written"
        assert s.state_at(mid).file_bytes("notes.md") == _expected(0, 60)
        d = diff(s.state_at(mid), s.state)
        assert sorted(d.files.changed) == ["notes.md"] and sorted(d.files.added) == ["other.txt"]
        image_ops.save_image(s, tmp_path / "head.img")
        expected = canonical_state_bytes(s.state)
    # the image keeps the current versions, whole, and nothing of their history
    image = image_ops.read_image(tmp_path / "head.img", ("blobs",))
    blobs = orjson.loads(image.sections["blobs"])
    assert sorted(len(e) for e in blobs) == [3, 3]
    with open_store(str(tmp_path / "other.db")) as other, image_ops.load_image(other, tmp_path / "head.img", "copy") as c:
        assert canonical_state_bytes(c.state) == expected
        c.run('(append-file! "notes.md" "after the load\\n")')
        assert c.state.file_bytes("notes.md") == _expected(0, 120) + b"after the load\n"
    with open_session("cp", store_url, create=False) as again:  # opened from a checkpoint + tail
        assert again.state.file_bytes("notes.md") == _expected(0, 120)
        assert [reason for _, reason in again.checkpoints.verify()] == [None] * len(again.checkpoints.metas())


def test_replay_reproduces_appends_and_accepts_logs_that_stored_them_whole(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = str(tmp_path / "s.db")
    with open_session("new", url) as s:
        _append_lines(s, 0, 40)
    # a log written before pieces existed stored every version whole
    monkeypatch.setattr(form_events, "PIECE_MIN", 10**9)
    with open_session("old", url) as s:
        _append_lines(s, 0, 40)
        assert all(len(e) == 3 for r in s.events() if r.type_name == "ContentStored" for e in r.event.blobs)
    monkeypatch.undo()
    with open_store(url) as store:
        for session in ("new", "old"):
            result = replay(store, session, verify=True)
            assert result.ok, (session, result.divergence)


def test_forks_and_merges_carry_appended_files(store_url: str) -> None:
    with open_store(store_url) as store:
        with open_session("main", store) as m:
            _append_lines(m, 0, 30)
        fork(store, "main", "branch")
        with open_session("branch", store) as b:
            _append_lines(b, 30, 30)
            assert b.state.file_bytes("notes.md") == _expected(0, 60)
        merge(store, "branch", "main")
        with open_session("main", store) as m:
            assert m.run('(read-file "notes.md")')[0].value == _expected(0, 60).decode()
            _append_lines(m, 60, 5)
            assert m.state.file_bytes("notes.md") == _expected(0, 65)


def test_a_piece_whose_prefix_is_missing_or_circular_is_a_clear_error() -> None:
    table = BlobTable()
    table.add("base", b"abc")
    table.add_piece("ok", "base", b"def")
    table.add_piece("orphan", "nowhere", b"x")
    table.add_piece("loop1", "loop2", b"x")
    table.add_piece("loop2", "loop1", b"y")
    assert table.get("ok") == b"abcdef"
    assert table.get("ok") == b"abcdef"  # answered from the last assembled version
    with pytest.raises(CorruptRecord, match="continues nowhere"):
        table.get("orphan")
    with pytest.raises(CorruptRecord, match="continues itself"):
        table.get("loop1")


def test_file_blobs_are_the_current_versions_whole(tmp_path: Path) -> None:
    with open_session("a", str(tmp_path / "s.db")) as s:
        _append_lines(s, 0, 40)
        s.run('(write-file! "b.txt" "bee")')
        keys = dict(file_blobs(s.state))
        assert set(keys) == set(s.state.files.values())
        assert keys[s.state.files["notes.md"]] == _expected(0, 40)
