"""World files that grow by appends or change in one place: each version costs what changed.

Before file versions could be stored as pieces, 2,000 ``append-file!`` calls of
~77 bytes made a 153 KB file, a 7.1 MB log and 152 MB of blobs in every session
that opened it (quadratic); a file rewritten with one line changed stored (and
held) the whole file at every write.  These tests pin the cost of appends and
splices on a real store and check that everything that reads file content
(reopening, checkpoints, images, replay, forks, merges, deltas) sees whole files.
"""

from __future__ import annotations

import random
from pathlib import Path

import orjson
import pytest

from tapevm.domain.content import BlobTable, Piece, ZstdPatch, content_hash, make_zstd_patch
from tapevm.domain.delta import diff
from tapevm.domain.errors import CorruptRecord
from tapevm.domain.state import add_blob_entries, file_blobs
from tapevm.infrastructure.branches.forks import fork
from tapevm.infrastructure.branches.merging import merge
from tapevm.infrastructure.images import operations as image_ops
from tapevm.infrastructure.session.replay import replay
from tapevm.infrastructure.session.service import Session, open_session
from tapevm.infrastructure.stores.factory import open_store
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
        assert type(s.state.blobs.entry(s.state.files["notes.md"])) is Piece  # the appended version is a piece ...
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
    table.add("ok", Piece("base", b"def"))
    table.add("orphan", Piece("nowhere", b"x"))
    table.add("loop1", Piece("loop2", b"x"))
    table.add("loop2", Piece("loop1", b"y"))
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


# -- rewrites: a version that changes one region is a splice of the version before --------------
TODO = [f"item {i}: pending" for i in range(400)]  # an ~8 KB file an agent keeps rewriting


def _rewrite_todo(s: Session, steps: range) -> bytes:
    lines = list(TODO)
    for k in range(steps.stop):
        lines[(k * 37) % len(lines)] = f"item {(k * 37) % len(lines)}: done at step {k} ✓"
        if k in steps:
            s.run('(write-file! "todo.txt" "' + "\\n".join(lines) + '")')
    return "\n".join(lines).encode()


def _log_blobs(s: Session) -> BlobTable:
    """Every blob entry the session's log stores, as stored (a state holds only those since its checkpoint)."""
    table = BlobTable()
    for r in s.events():
        if r.type_name == "ContentStored":
            add_blob_entries(table, r.event.blobs)
    return table


def _kinds(table: BlobTable) -> dict[str, int]:
    kinds = {"whole": 0, "append": 0, "splice": 0, "patch": 0}
    for stored in dict(table.items()).values():
        kinds["whole" if type(stored) is bytes else "patch" if type(stored) is ZstdPatch
              else "append" if stored.head < 0 else "splice"] += 1
    return kinds


def test_rewrites_store_and_hold_what_changed(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(form_events, "EDIT_DEPTH", 20)
    rewrites = 2 * form_events.EDIT_DEPTH + 10
    with open_session("agent", store_url) as s:
        final = _rewrite_todo(s, range(rewrites))
        assert s.state.file_bytes("todo.txt") == final
        kinds = _kinds(_log_blobs(s))
        # a whole version, then EDIT_DEPTH splices on it, then whole again: chains stay short
        assert kinds == {"whole": 3, "append": 0, "splice": rewrites - 3, "patch": 0}, kinds
        assert s.state.blobs.stored_bytes() < 5 * len(final)  # not rewrites * len(final)
        assert _stored_blob_bytes(s) < 5 * len(final)  # the log too (characters of its text entries)
        middles = [e for r in s.events() if r.type_name == "ContentStored" for e in r.event.blobs if len(e) == 6]
        assert middles and all(e[1] == "utf8" for e in middles)  # cut at character boundaries: readable
    with open_session("agent", store_url, create=False) as again:
        assert again.run('(read-file "todo.txt")')[0].value == final.decode()
        assert _kinds(_log_blobs(again)) == kinds
        again.run('(write-file! "todo.txt" (string-replace (read-file "todo.txt") "item 3:" "ITEM 3:"))')
        assert again.state.file_bytes("todo.txt") == final.replace(b"item 3:", b"ITEM 3:")


def test_every_version_of_a_rewritten_file_is_whole_at_its_event(store_url: str, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAPE_CHECKPOINT_INTERVAL", "20")
    with open_session("cp", store_url) as s:
        versions: dict[int, bytes] = {}
        for k in range(1, 90):
            _rewrite_todo(s, range(k - 1, k))
            versions[s.head] = s.state.file_bytes("todo.txt")
        assert _kinds(_log_blobs(s))["splice"] > 80
        assert s.checkpoints.metas(), "no checkpoint was written"
        for at, content in list(versions.items())[::7]:
            state = s.state_at(at)
            assert state.file_bytes("todo.txt") == content
            assert state.files["todo.txt"] == content_hash(content)
        first, last = min(versions), max(versions)
        d = diff(s.state_at(first), s.state)
        assert d.files.changed["todo.txt"] == (content_hash(versions[first]), content_hash(versions[last]))
        image_ops.save_image(s, tmp_path / "todo.img")
        expected = canonical_state_bytes(s.state)
    with open_store(str(tmp_path / "other.db")) as other, image_ops.load_image(other, tmp_path / "todo.img", "c") as c:
        assert canonical_state_bytes(c.state) == expected
    with open_store(store_url) as store:
        assert replay(store, "cp", verify=True).ok


def test_splice_chains_of_a_large_file_are_cut_by_the_bytes_they_copy(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    with open_session("a", str(tmp_path / "s.db")) as s:
        size = len(_rewrite_todo(s, range(1)))
        monkeypatch.setattr(form_events, "EDIT_COPY_LIMIT", 3 * size + 100)  # three copies of the file
        _rewrite_todo(s, range(1, 13))
        assert _kinds(_log_blobs(s)) == {"whole": 4, "append": 0, "splice": 9, "patch": 0}
        log_blobs = _log_blobs(s)
        assert max(log_blobs.copies_under(k) for k, _ in log_blobs.items()) == 3
        assert s.state.blobs.copies_under(s.state.files["todo.txt"]) == log_blobs.copies_under(s.state.files["todo.txt"])


def test_edits_that_do_not_pay_are_stored_whole(tmp_path: Path) -> None:
    with open_session("a", str(tmp_path / "s.db")) as s:
        s.run('(write-file! "small.txt" "short text, under a KiB")')
        s.run('(write-file! "small.txt" "short text, changed")')
        rnd = random.Random(7)
        big = rnd.randbytes(1000).hex()  # 2,000 characters no compressor can shorten
        s.run(f'(write-file! "big.txt" "{big}")')
        s.run(f'(write-file! "big.txt" "{rnd.randbytes(750).hex() + big[1500:]}")')  # most of it changed
        s.run('(write-file! "big.txt" "tiny")')
        assert _kinds(_log_blobs(s)) == {"whole": 5, "append": 0, "splice": 0, "patch": 0}


def test_forks_and_merges_carry_rewritten_files(store_url: str) -> None:
    with open_store(store_url) as store:
        with open_session("main", store) as m:
            _rewrite_todo(m, range(20))
        fork(store, "main", "branch")
        with open_session("branch", store) as b:
            expected = _rewrite_todo(b, range(20, 40))
        merge(store, "branch", "main")
        with open_session("main", store) as m:
            assert m.state.file_bytes("todo.txt") == expected
            assert type(m.state.blobs.entry(m.state.files["todo.txt"])) is bytes  # a merge carries the version whole
            m.run('(write-file! "todo.txt" (string-replace (read-file "todo.txt") "item 3:" "ITEM 3:"))')
            assert m.state.file_bytes("todo.txt") == expected.replace(b"item 3:", b"ITEM 3:")
            assert type(m.state.blobs.entry(m.state.files["todo.txt"])) is Piece  # and edits go on


def test_a_splice_that_keeps_more_than_its_base_holds_is_a_clear_error() -> None:
    table = BlobTable()
    table.add("base", b"abcdef")
    table.add("ok", Piece("base", b"XY", 2, 3))
    table.add("bad", Piece("base", b"XY", 4, 3))
    table.add("on-ok", Piece("ok", b"!", -1))
    assert table.get("ok") == b"abXYdef"
    assert table.get("on-ok") == b"abXYdef!"
    assert table.copies_under("on-ok") == 1 and table.copies_under("base") == 0
    with pytest.raises(CorruptRecord, match="keeps 4 \\+ 3 bytes of base, which has 6"):
        table.get("bad")


# -- rewrites in several places: a zstd patch of the version before -----------------------
def _edit_in_two_places(s: Session, steps: range) -> bytes:
    """A status line at the top that counts the steps, and one item changed further down."""
    lines = list(TODO)
    text = ""
    for k in range(steps.stop):
        lines[(k * 37) % len(lines)] = f"item {(k * 37) % len(lines)}: done at step {k}"
        text = f"steps so far: {k + 1}\n" + "\n".join(lines)
        if k in steps:
            s.run('(write-file! "todo.txt" "' + text.replace("\n", "\\n") + '")')
    return text.encode()


def test_rewrites_in_several_places_store_a_zstd_patch(store_url: str, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAPE_CHECKPOINT_INTERVAL", "20")
    with open_session("agent", store_url) as s:
        versions = {}
        for k in range(60):
            content = _edit_in_two_places(s, range(k, k + 1))
            versions[s.head] = content
        final = versions[s.head]
        assert s.state.file_bytes("todo.txt") == final
        kinds = _kinds(_log_blobs(s))
        # a splice while the two places are close enough (its middle under 256 bytes), else a zstd patch
        assert kinds["whole"] == 1 and kinds["splice"] + kinds["patch"] == 59 and kinds["patch"] > 20, kinds
        assert s.state.blobs.stored_bytes() < 3 * len(final)
        for at, content in list(versions.items())[::9]:
            assert s.state_at(at).file_bytes("todo.txt") == content
        image_ops.save_image(s, tmp_path / "todo.img")
        expected = canonical_state_bytes(s.state)
    with open_session("agent", store_url, create=False) as again:
        assert again.run('(read-file "todo.txt")')[0].value == final.decode()
    with open_store(str(tmp_path / "other.db")) as other, image_ops.load_image(other, tmp_path / "todo.img", "c") as c:
        assert canonical_state_bytes(c.state) == expected
    with open_store(store_url) as store:
        assert replay(store, "agent", verify=True).ok


def test_a_zstd_patch_that_does_not_decode_against_its_base_is_a_clear_error() -> None:
    table = BlobTable()
    table.add("base", b"the quick brown fox jumps over the lazy dog" * 30)
    table.add("other", b"something else entirely")
    patch = make_zstd_patch(table.get("base"), table.get("base").replace(b"fox", b"cat"))
    assert patch is not None
    table.add("ok", ZstdPatch("base", patch))
    table.add("wrong-base", ZstdPatch("other", patch))
    table.add("garbage", ZstdPatch("base", b"not a zstd frame"))
    assert table.get("ok") == table.get("base").replace(b"fox", b"cat")
    assert table.copies_under("ok") == 1
    for key in ("wrong-base", "garbage"):
        with pytest.raises(CorruptRecord, match=f"version {key} is a zstd patch of"):
            table.get(key)


def test_a_host_file_imported_again_is_stored_as_an_edit(store_url: str, tmp_path: Path) -> None:
    host = tmp_path / "data.csv"
    rows = [f"{i},pending,{i * 7}" for i in range(200)]
    with open_session("imp", store_url) as s:
        host.write_text("\n".join(rows))
        s.import_file(str(host))
        rows[150] = "150,done,1050"
        host.write_text("\n".join(rows))
        s.import_file(str(host))
        assert s.run('(read-file "data.csv")')[0].value == "\n".join(rows)
        assert _kinds(_log_blobs(s)) == {"whole": 1, "append": 0, "splice": 1, "patch": 0}
    with open_session("imp", store_url, create=False) as again:
        assert again.state.file_bytes("data.csv") == "\n".join(rows).encode()
    with open_store(store_url) as store:
        assert replay(store, "imp", verify=True).ok
