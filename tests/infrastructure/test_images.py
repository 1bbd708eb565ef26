"""Images: byte-for-byte round trips across stores and backends, history, the v1 -> v2 migration,
atomic writes, in-language saving, and a loader that meets damaged files with one clear error."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tapevm.domain.errors import ImageError, SessionExists
from tapevm.domain.state import State
from tapevm.infrastructure.images import file_format as image_file
from tapevm.infrastructure.images import operations as image_ops
from tapevm.infrastructure.images.session_opener import open_session
from tapevm.infrastructure.stores.factory import open_store
from tapevm.projections.state_codec import canonical_state_bytes

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "v1.tapeimg"

PROGRAM = """
(define xs (list 1 2.5 "three" 'four :five [6 7] {:a 1}))
(define make-adder (lambda (n) (lambda (x) (+ x n))))
(define add3 (make-adder 3))
(define c (atom 0))
(assert! '(likes ann tea)) (assert! '(likes bob coffee)) (retract! '(likes ann tea))
(write-file! "a.txt" "text") (write-file! "b.bin" (string 1 2))
(in-ns 'tools) (define t 1) (in-ns 'user)
"""


def _source(path: Path) -> tuple[str, int, bytes, bytes]:
    """A session with a bit of everything; returns (store, mid event, canonical state at mid, at head)."""
    store = str(path)
    with open_session("src", store) as s:
        s.run(PROGRAM)
        mid = s.head
        s.run('(reset! c 5) (define xs (cons 0 xs)) (snapshot! "later") (delete-file! "a.txt")')
        return store, mid, canonical_state_bytes(s.state_at(mid)), canonical_state_bytes(s.state)


@pytest.mark.parametrize("with_history", [False, True])
def test_an_image_loaded_in_another_store_gives_the_same_state_byte_for_byte(
        tmp_path: Path, store_url: str, with_history: bool) -> None:
    src, mid, at_mid, at_head = _source(tmp_path / "src.db")
    with open_session("src", src, create=False) as s:
        image_ops.save_image(s, tmp_path / "head.img", description="head", with_history=with_history)
        image_ops.save_image(s, tmp_path / "mid.img", at=mid, with_history=with_history)
    assert canonical_state_bytes(image_ops.load_state(tmp_path / "head.img")) == at_head
    with open_store(store_url) as other:
        for name, expected in (("head", at_head), ("mid", at_mid)):
            loaded = image_ops.load_image(other, tmp_path / f"{name}.img", f"copy-{name}")
            assert canonical_state_bytes(loaded.state) == expected
            loaded.close()
        # the new session is event-sourced: reopening folds its log to the same state
        with open_session("copy-head", other, create=False) as again:
            assert canonical_state_bytes(again.state) == at_head
            types = [r.event.type_name for r in again.events()]
            assert types[-1] == "ImageLoaded" and types[-2] != "ImageLoaded"
            if with_history:
                assert "SnapshotTaken" in types and [x.name for x in again.snapshots()] == ["later"]
            else:
                assert types == ["SessionStarted", "ContentStored", "ImageLoaded"]
            assert again.eval("(add3 4)") == 7
        with pytest.raises(SessionExists):
            image_ops.load_image(other, tmp_path / "head.img", "copy-head")


def test_v1_fixture_is_migrated_to_v2(tmp_path: Path) -> None:
    info = image_ops.image_info(FIXTURE)
    assert info.header["stored_format_version"] == "1.0.0"
    assert info.header["format_version"] == "3.0.0" and info.header["migrated_from"] == "1.0.0"
    with open_store(str(tmp_path / "s.db")) as store, image_ops.load_image(store, FIXTURE, "old") as s:
        assert s.eval("(add10 answer)") == 52
        assert s.eval("greeting") == "hello, v1"
        assert s.eval('(read-file "notes/readme.txt")') == "written by format 1"
        assert s.eval("(deref counter)") == 7
        assert s.eval("(fact? '(format v1))") is True
        assert s.eval("tools/helper").name == "sym"
    # exporting and importing writes the current format; the state stays the same
    doc = image_ops.export_image(FIXTURE)
    (tmp_path / "v1.json").write_bytes(__import__("orjson").dumps(doc))
    image_ops.import_image(tmp_path / "v1.json", tmp_path / "v2.img")
    assert image_ops.image_info(tmp_path / "v2.img").header["stored_format_version"] == "3.0.0"
    assert canonical_state_bytes(image_ops.load_state(tmp_path / "v2.img")) == \
        canonical_state_bytes(image_ops.load_state(FIXTURE))


def test_export_import_round_trip_with_history(tmp_path: Path) -> None:
    src, _, _, at_head = _source(tmp_path / "src.db")
    with open_session("src", src, create=False) as s:
        image_ops.save_image(s, tmp_path / "a.img", with_history=True)
    import orjson

    (tmp_path / "a.json").write_bytes(orjson.dumps(image_ops.export_image(tmp_path / "a.img")))
    image_ops.import_image(tmp_path / "a.json", tmp_path / "b.img")
    assert canonical_state_bytes(image_ops.load_state(tmp_path / "b.img")) == at_head
    assert image_ops.verify(tmp_path / "b.img")["events"] == image_ops.verify(tmp_path / "a.img")["events"]


def _image_bytes(tmp_path: Path) -> bytes:
    src, *_ = _source(tmp_path / "src.db")
    with open_session("src", src, create=False) as s:
        image_ops.save_image(s, tmp_path / "a.img", with_history=True)
    return (tmp_path / "a.img").read_bytes()


def test_damaged_foreign_and_newer_files_give_one_clear_error(tmp_path: Path) -> None:
    good = _image_bytes(tmp_path)
    cases = {
        "foreign": (b"SQLite format 3\x00" + bytes(100), "not a tapevm image"),
        "empty": (b"", "not a tapevm image"),
        "truncated": (good[: len(good) // 2], "truncated"),
        "flipped": (good[:200] + bytes([good[200] ^ 0xFF]) + good[201:], "damaged image"),
        "newer": (image_file.encode_image({"format_version": "4.0.0"}, {"state": b""}), "newer than this tapevm"),
        "garbage version": (image_file.encode_image({"format_version": "x"}, {}), "bad format version"),
    }
    for name, (data, message) in cases.items():
        path = tmp_path / f"{name}.img"
        path.write_bytes(data)
        with pytest.raises(ImageError, match=message):
            image_ops.verify(path)
    with pytest.raises(ImageError, match="no such image file"):
        image_ops.image_info(tmp_path / "missing.img")


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_fuzzed_images_never_escape_as_anything_but_image_error(tmp_path: Path, data: st.DataObject) -> None:
    good = getattr(test_fuzzed_images_never_escape_as_anything_but_image_error, "_good", None)
    if good is None:
        good = _image_bytes(tmp_path)
        test_fuzzed_images_never_escape_as_anything_but_image_error._good = good  # type: ignore[attr-defined]
    blob = bytearray(good)
    for _ in range(data.draw(st.integers(1, 4))):
        action = data.draw(st.sampled_from(["flip", "cut", "insert", "zero"]))
        pos = data.draw(st.integers(0, max(0, len(blob) - 1)))
        if action == "flip" and blob:
            blob[pos] ^= data.draw(st.integers(1, 255))
        elif action == "cut":
            del blob[pos:pos + data.draw(st.integers(1, 64))]
        elif action == "insert":
            blob[pos:pos] = data.draw(st.binary(min_size=1, max_size=16))
        elif action == "zero":
            blob[pos:pos + 8] = bytes(len(blob[pos:pos + 8]))
    try:
        image = image_file.decode_image(bytes(blob), "fuzz.img")
        image_ops.image_state(image)
    except ImageError as e:
        assert "\n" not in str(e)


def test_writes_are_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out" / "x.img"
    target.parent.mkdir()
    image_file.write_atomically(target, b"old")

    def failing_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(ImageError, match="No space left"):
        image_file.write_atomically(target, b"new")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in target.parent.iterdir()) == ["x.img"]


def test_save_image_and_list_images_from_inside_the_language(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAPE_HOME", str(tmp_path / "home"))
    with open_session("lang", str(tmp_path / "s.db")) as s:
        assert s.eval("(list-images)") is not None
        s.run('(define x 1) (save-image "first.img" :description "from lisp") (define x 2)')
        assert s.eval('(get (car (list-images)) :name)') == "first.img"
        outcome = s.run('(save-image "../escape.img")')[0]
        assert not outcome.ok and outcome.error_kind == "bad-image-name"
        outcome = s.run('(save-image "a/b.img")')[0]
        assert not outcome.ok and outcome.error_kind == "bad-image-name"
    info = image_ops.image_info(tmp_path / "home" / "images" / "first.img")
    assert info.header["description"] == "from lisp"
    state = image_ops.load_state(tmp_path / "home" / "images" / "first.img")
    assert state.namespaces["user"]["x"] == 1
    assert not (tmp_path / "escape.img").exists() and not (tmp_path / "home" / "escape.img").exists()


V2_FIXTURE = FIXTURE.with_name("v2.tapeimg")


def test_v2_fixture_is_migrated_to_the_columnar_format(tmp_path: Path) -> None:
    info = image_ops.image_info(V2_FIXTURE)
    assert info.header["stored_format_version"] == "2.0.0"
    assert info.header["format_version"] == "3.0.0" and info.header["migrated_from"] == "2.0.0"
    with open_store(str(tmp_path / "s.db")) as store, image_ops.load_image(store, V2_FIXTURE, "old") as s:
        assert s.eval("(add10 answer)") == 52
        assert s.eval("greeting") == "hello, v2"
        assert s.eval("big") == 123456789012345678901234567890
        assert s.eval("ratio") == 0.125 and s.eval("(nil? nothing)") is True and s.eval("yes") is True
        assert s.eval('(read-file "notes/readme.txt")') == "written by format 2"
        assert s.eval("(deref counter)") == 7 and s.eval("tools/helper").name == "sym"
        # saved again, it is a format-3 file holding the same state
        image_ops.save_image(s, tmp_path / "v3.img")
    assert image_ops.image_info(tmp_path / "v3.img").header["stored_format_version"] == "3.0.0"
    assert canonical_state_bytes(image_ops.load_state(tmp_path / "v3.img")).split(b"\n")[0] == \
        canonical_state_bytes(image_ops.load_state(V2_FIXTURE)).split(b"\n")[0]


def _odd_state() -> State:
    from tapevm.domain.content import ContentTable
    from tapevm.domain.state import State

    nodes = ContentTable()
    nodes.add("k" * 32, b'["L",[1,2],null]')  # a key that is not its content hash
    return State(session="odd", seq=9, current_ns="b", namespaces={
        "user": {"s": "text", "i": -5, "z": 0, "f": ["f", 1.0], "fi": ["f", "inf"], "big": ["I", "-123456789012345678901"],
                 "ref": ["@", "k" * 32], "dangling": ["@", "0" * 32], "nil": None, "t": True, "sym": ["s", "x"],
                 "kw": ["k", "y"], "atom": ["a", 3], "fake": ["f"], "list": [1, 2, 3]},
        "empty": {},
        "b": {"ref2": ["@", "k" * 32], "s": ""},
    }, atoms={3: 7}, facts={}, files={}, nodes=nodes)


def test_columnar_state_round_trips_every_kind_of_value() -> None:
    from tapevm.projections.image_state_codec import decode_image_state, encode_image_state

    state = _odd_state()
    data = encode_image_state(state)
    again = decode_image_state(data)
    assert again.namespaces == state.namespaces and list(again.namespaces) == list(state.namespaces)
    assert list(again.nodes.items()) == list(state.nodes.items())
    assert canonical_state_bytes(again) == canonical_state_bytes(state)
    assert encode_image_state(again) == data, "deterministic"


def test_a_damaged_columnar_state_is_a_clear_image_error(tmp_path: Path) -> None:
    import orjson

    from tapevm.projections.image_state_codec import decode_image_state, encode_image_state
    from tapevm.projections.state_codec import frame, unframe

    parts = unframe(encode_image_state(_odd_state()), 10)
    head = orjson.loads(parts[0])
    head["namespaces"]["user"][0] += 1  # one string more than the names and the column hold
    damaged = {
        "counts": [orjson.dumps(head), *parts[1:]],
        "short column": [*parts[:2], orjson.dumps(orjson.loads(parts[2])[:-1]), *parts[3:]],
        "long column": [*parts[:3], orjson.dumps([*orjson.loads(parts[3]), 5]), *parts[4:]],
        "bad position": [*parts[:6], orjson.dumps([99]), *parts[7:]],
        "not json": [*parts[:4], b"[1,", *parts[5:]],
        "truncated": [parts[0], parts[1][:5]],
    }
    for name, bad in damaged.items():
        with pytest.raises(ValueError):
            decode_image_state(frame(*bad))
            pytest.fail(name)
        path = tmp_path / f"{name}.img"
        image_file.write_image(path, {"source_session": "x"}, {"state": frame(*bad), "blobs": b"[]"})
        with pytest.raises(ImageError, match="damaged image \\(state section"):
            image_ops.load_state(path)


SESSION_OF_EVERY_KIND = """
(define s "text") (define e "") (define i -5) (define z 0) (define f 1.5) (define whole 2.0)
(define big 123456789012345678901234567890) (define neg-big -123456789012345678901)
(define sym 'x) (define kw :y) (define nothing nil) (define yes true)
(define xs (list 1 2.5 "three")) (define v [6 7]) (define m {:a 1}) (define same-xs xs)
(define long "LONG") (define add1 (lambda (n) (+ n 1))) (define c (atom 0))
(in-ns 'tools) (define t 1) (define ys (list 'a 'b)) (in-ns 'empty) (in-ns 'user)
"""


def test_a_loaded_state_builds_its_bindings_on_first_read_and_equals_the_source(tmp_path: Path) -> None:
    """load_state checks every column at once and builds namespaces and nodes when first read."""
    from tapevm.domain.state import State, live_content
    from tapevm.projections.image_state_codec import DeferredState

    program = SESSION_OF_EVERY_KIND.replace("LONG", "ab" * 700)  # a TEXT node
    with open_session("every", str(tmp_path / "s.db")) as s:
        s.run(program)
        expected = s.state
        image_ops.save_image(s, tmp_path / "every.img")
    loaded = image_ops.load_state(tmp_path / "every.img")
    assert isinstance(loaded, DeferredState) and "_build" in loaded.__dict__
    assert loaded.seq == expected.seq and loaded.atoms == expected.atoms and loaded.current_ns == "user"
    assert "_build" in loaded.__dict__, "the structure is read without building the bindings"
    assert loaded.namespaces == expected.namespaces and "_build" not in loaded.__dict__
    assert dict(loaded.nodes.items()) == dict(live_content(expected))  # what the state is, not its history
    assert canonical_state_bytes(loaded) == canonical_state_bytes(expected)
    assert loaded.copy().same_as(expected) and loaded.copy().namespaces is not loaded.namespaces
    assert type(loaded) is State, "once built, an ordinary State"
    other = image_ops.load_state(tmp_path / "every.img")
    assert isinstance(other, DeferredState)
    assert (other == loaded) is False and type(other) is State, "compared as States (content tables by identity)"
    assert other.same_as(loaded) and other == other
    # the same through the other readers: verify, export, a new session
    assert image_ops.verify(tmp_path / "every.img")["bindings"] == sum(map(len, expected.namespaces.values()))
    assert image_ops.export_image(tmp_path / "every.img")["state"]["namespaces"] == expected.namespaces
    with open_store(str(tmp_path / "other.db")) as store, image_ops.load_image(store, tmp_path / "every.img", "b") as b:
        assert b.eval("(add1 i)") == -4 and b.eval("big") == 123456789012345678901234567890
        assert b.eval("(deref c)") == 0 and b.eval("tools/ys") is not None


def test_damaged_columns_fail_at_load_never_at_first_read(tmp_path: Path) -> None:
    """Every malformation is found by load_state itself (one ImageError), before any binding is built."""
    import orjson

    from tapevm.projections.image_state_codec import encode_image_state
    from tapevm.projections.state_codec import frame, unframe

    parts = unframe(encode_image_state(_odd_state()), 10)
    head = orjson.loads(parts[0])
    negative = orjson.loads(parts[0])
    negative["namespaces"]["b"] = [-1, 1, 0, 0, 1, 0]
    short = orjson.loads(parts[0])
    short["namespaces"]["b"] = [1, 0, 0, 0, 1]
    head["namespaces"] = []
    damaged = {
        "a column is an object": [*parts[:4], b'{"a": 1}', *parts[5:]],
        "names are not an array": [parts[0], b'"abc"', *parts[2:]],
        "negative count": [orjson.dumps(negative), *parts[1:]],
        "five counts": [orjson.dumps(short), *parts[1:]],
        "namespaces not an object": [orjson.dumps(head), *parts[1:]],
        "negative position": [*parts[:6], orjson.dumps([-1, 0]), *parts[7:]],
        "explicit key not ascii": [*parts[:8], b'=\xff\xfe ["L",[1],null]', *parts[9:]],
        "blobs not json": [*parts[:9], b"[["],
    }
    for name, bad in damaged.items():
        path = tmp_path / f"{len(name)}.img"
        image_file.write_image(path, {"source_session": "x"}, {"state": frame(*bad), "blobs": b"[]"})
        with pytest.raises(ImageError, match="damaged image \\(state section"):
            image_ops.load_state(path)
            pytest.fail(name)


def test_a_loaded_session_keeps_session_started_in_a_record_of_its_own(tmp_path: Path, store_url: str) -> None:
    """One transaction, two chained records (both backends): opening reads its small first record."""
    from tapevm.infrastructure.integrity import verify_chain
    from tapevm.infrastructure.stores.named_sessions import raw_store

    with open_session("src", str(tmp_path / "src.db")) as s:
        s.run(SESSION_OF_EVERY_KIND.replace("LONG", "short"))
        image_ops.save_image(s, tmp_path / "a.img")
        image_ops.save_image(s, tmp_path / "h.img", with_history=True)
        head = s.head
    with open_store(store_url) as store:
        for name, events in (("a", 3), ("h", head + 1)):
            image_ops.load_image(store, tmp_path / f"{name}.img", name).close()
            rows = raw_store(store).recorder.select_rows(name, 0, None, 100)  # type: ignore[attr-defined]
            assert [r[0] for r in rows][:2] == [1, 2] and sum(int(r[1].rsplit(":", 1)[1]) for r in rows) == events
            report = verify_chain(store, name)
            assert report.ok and report.records == len(rows) and report.events == events
            with open_session(name, store, create=False) as again:
                assert again.eval("(+ i 1)") == -4 and again.unfinished is None


def test_bindings_of_a_loaded_session_are_decoded_on_first_use(tmp_path: Path) -> None:
    """load_world binds every name lazily in bulk (World.bind_lazy_all); each decodes once, on use."""
    from tapevm.vm.world import LAZY as _LAZY
    from tapevm.vm.world import World

    with open_session("src", str(tmp_path / "s.db")) as s:
        s.run(SESSION_OF_EVERY_KIND.replace("LONG", "short"))
        image_ops.save_image(s, tmp_path / "a.img")
    with open_store(str(tmp_path / "o.db")) as store, image_ops.load_image(store, tmp_path / "a.img", "b") as b:
        tables = b.world.namespaces
        assert tables["user"]["xs"] is _LAZY and tables["tools"]["ys"] is _LAZY and list(tables["empty"]) == []
        assert b.eval("(first (rest xs))") == 2.5 and tables["user"]["xs"] is not _LAZY
        assert b.eval("(= xs same-xs)") is True and b.eval("m") is not None
        world = World()
        world.bind_lazy_all("user", {"a": 1, "b": ["f", 2.0]}, lambda enc: ("decoded", enc))
        assert world.lookup("user", "b") == ("decoded", ["f", 2.0]) and world.namespaces["user"]["a"] is _LAZY
        world.begin()  # a redefinition undone: lazy again, and decodes to what it was
        world.define("user", "a", 5)
        world.rollback()
        assert world.namespaces["user"]["a"] is _LAZY and world.lookup("user", "a") == ("decoded", 1)


def test_opening_a_loaded_session_decodes_the_image_record_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fold at opening knows the head event is ImageLoaded: no second read of that (large) record
    to look for an unfinished form."""
    from tapevm.infrastructure.stores.records import record_codec as codec
    with open_session("src", str(tmp_path / "src.db")) as s:
        s.run(SESSION_OF_EVERY_KIND.replace("LONG", "short"))
        image_ops.save_image(s, tmp_path / "a.img")
    with open_store(str(tmp_path / "dst.db")) as store:
        image_ops.load_image(store, tmp_path / "a.img", "copy").close()
        decoded: list[int] = []
        original = codec.RecordCodec.decode_fields

        def counting(self: Any, *args: Any, **kwargs: Any) -> Any:
            out = original(self, *args, **kwargs)
            decoded.extend(seq for seq, *_ in out)
            return out

        monkeypatch.setattr(codec.RecordCodec, "decode_fields", counting)
        monkeypatch.setattr(codec.RecordCodec, "decode", lambda *a, **k: pytest.fail("a record was decoded twice"))
        with open_session("copy", store, create=False) as again:
            assert again.unfinished is None and again.head == 3
        assert decoded.count(3) == 1


def test_an_image_never_replaces_a_file_that_is_not_an_image(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The store's own file typed as the target (``tape image save s.db``) was overwritten by the image."""
    from tapevm.domain.errors import UsageError

    monkeypatch.setenv("TAPE_HOME", str(tmp_path / "home"))
    store = tmp_path / "s.db"
    with open_session("s1", str(store)) as s:
        s.run("(define x 1)")
        head = s.head
        before = store.read_bytes()
        with pytest.raises(UsageError, match="is not a tapevm image: refusing to replace it"):
            image_ops.save_image(s, store)
        assert store.read_bytes() == before
        (tmp_path / "notes.txt").write_text("precious")
        with pytest.raises(UsageError, match="not a tapevm image"):
            image_ops.save_image(s, tmp_path / "notes.txt")
        (tmp_path / "folder").mkdir()
        with pytest.raises(UsageError, match="is a directory"):
            image_ops.save_image(s, tmp_path / "folder")
        image_ops.save_image(s, tmp_path / "a.img", description="first")
        image_ops.save_image(s, tmp_path / "a.img", description="second")  # an image may be replaced
        assert image_ops.image_info(tmp_path / "a.img").header["description"] == "second"
        # (save-image "name") goes through the same writer
        images = tmp_path / "home" / "images"
        images.mkdir(parents=True)
        (images / "notes").write_text("precious")
        with pytest.raises(ImageError, match="not a tapevm image"):
            s.run('(save-image "notes")')
        assert (images / "notes").read_text() == "precious"
    assert (tmp_path / "notes.txt").read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    assert sorted(p.name for p in images.iterdir()) == ["notes"]
    (tmp_path / "a.json").write_bytes(__import__("orjson").dumps(image_ops.export_image(tmp_path / "a.img")))
    with pytest.raises(UsageError, match="not a tapevm image"):
        image_ops.import_image(tmp_path / "a.json", store)
    with open_session("s1", str(store), create=False) as again:
        assert again.head == head + 2 and again.eval("x") == 1


def test_a_header_over_the_readers_limit_is_refused_before_writing(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The writer accepted headers the reader refuses (over 1 MiB): the good image was replaced by an unreadable one."""
    from tapevm.domain.errors import UsageError

    monkeypatch.setenv("TAPE_HOME", str(tmp_path / "home"))
    huge = "d" * (image_file.MAX_HEADER + 1)
    with open_session("s1", str(tmp_path / "s.db")) as s:
        s.run('(define x 1) (save-image "keep")')
        image_ops.save_image(s, tmp_path / "a.img")
        good, kept = (tmp_path / "a.img").read_bytes(), (tmp_path / "home" / "images" / "keep").read_bytes()
        with pytest.raises(UsageError, match=r"over the limit of 1,048,576 bytes \(1 MiB\)"):
            image_ops.save_image(s, tmp_path / "a.img", description=huge)
        with pytest.raises(UsageError, match="1 MiB"):
            image_ops.save_image(s, tmp_path / "new.img", description=huge)
        s.run(f'(define d "{huge}")')
        with pytest.raises(ImageError, match="could not write 'keep': .*1 MiB"):
            s.run('(save-image "keep" :description d)')
        assert s.eval("(length d)") == len(huge), "the form itself committed"
    assert (tmp_path / "a.img").read_bytes() == good and not (tmp_path / "new.img").exists()
    assert (tmp_path / "home" / "images" / "keep").read_bytes() == kept
    assert image_ops.verify(tmp_path / "home" / "images" / "keep")["bindings"] == 1
    # a header just under the limit is written and read back
    with open_session("s1", str(tmp_path / "s.db"), create=False) as s:
        image_ops.save_image(s, tmp_path / "edge.img", description="e" * (image_file.MAX_HEADER - 400))
    assert len(image_ops.image_info(tmp_path / "edge.img").header["description"]) == image_file.MAX_HEADER - 400


def _with_header(good: Path, path: Path, **changes: Any) -> Path:
    """A copy of the image ``good`` whose header has ``changes`` (a value None removes the key)."""
    image = image_file.read_image(good)
    header = {k: v for k, v in image.header.items() if k != "sections"}
    header.update(changes)
    header = {k: v for k, v in header.items() if v is not None}
    path.write_bytes(image_file.encode_image(header, image.sections))
    return path


def test_header_values_readers_cannot_show_are_refused(tmp_path: Path) -> None:
    """A created_at of 1e300 made 'image list' of the whole folder fail (OverflowError) and a load commit it."""
    from tapevm.domain.errors import UsageError

    with open_session("s1", str(tmp_path / "s.db")) as s:
        s.run("(define x 1)")
        image_ops.save_image(s, tmp_path / "good.img")
    folder = tmp_path / "images"
    folder.mkdir()
    good = tmp_path / "good.img"
    bad = {"far": {"created_at": 1e300}, "words": {"created_at": "yesterday"}, "negative": {"source_seq": -1},
           "number": {"description": 5}, "link": {"source_chain_link": 7}}
    for name, changes in bad.items():
        path = _with_header(good, folder / f"{name}.img", **changes)
        with pytest.raises(ImageError, match=f"{name}.img: damaged image \\(header: {next(iter(changes))}"):
            image_ops.image_info(path)
        with pytest.raises(ImageError, match="damaged image \\(header"), open_store(str(tmp_path / "o.db")) as o:
            image_ops.load_image(o, path, name)
        with pytest.raises(UsageError, match=f"bad image header: {next(iter(changes))}"):
            image_file.write_image(tmp_path / "w.img", {"source_session": "x", **changes}, {"state": b""})
    _with_header(good, folder / "bare.img", created_at=None, source_session=None)  # old headers may lack keys
    rows = {Path(r["path"]).name: r for r in image_ops.list_images(folder)}
    assert sorted(rows) == sorted([f"{n}.img" for n in bad] + ["bare.img"])
    assert rows["bare.img"]["ok"] and "created_at" not in rows["bare.img"]
    assert not rows["far.img"]["ok"] and "created_at '1e+300' is not a time" in rows["far.img"]["error"]
    assert not (tmp_path / "w.img").exists()
    with open_store(str(tmp_path / "o.db")) as o:
        assert o.last_seq("far") == 0


def _craft(doc: dict[str, Any], path: Path) -> Path:
    """An image of an export document as it is, written without the checks of import (a hand-made file)."""
    import orjson

    from tapevm.domain.content import canonical_bytes
    from tapevm.domain.state import decode_blob
    from tapevm.projections.image_state_codec import encode_image_state
    from tapevm.projections.state_codec import decode_state, encode_blobs, encode_nodes, frame_state

    nodes = encode_nodes(((k, canonical_bytes(v)) for k, v in doc["nodes"].items()), keyless=True)
    sections = {"state": encode_image_state(decode_state(frame_state(orjson.dumps(doc["state"]), nodes))),
                "blobs": encode_blobs((k, decode_blob(e, d)) for k, e, d in doc["blobs"])}
    if "history" in doc:
        sections["history"] = orjson.dumps(doc["history"])
    header = {k: v for k, v in doc["header"].items() if k != "format_version"}
    path.write_bytes(image_file.encode_image({"format_version": image_file.FORMAT_VERSION, **header}, sections))
    return path


def _export_of_a_session(tmp_path: Path, with_history: bool = False) -> dict[str, Any]:
    with open_session("s1", str(tmp_path / "src.db")) as s:
        s.run('(define x 1) (define xs (list 1 2)) (define f (lambda (n) (+ n x))) (write-file! "a.txt" "hi") '
              '(define box (atom (list x 3)))')
        image_ops.save_image(s, tmp_path / "src.img", with_history=with_history)
    return image_ops.export_image(tmp_path / "src.img")


def _bad_content(doc: dict[str, Any]) -> dict[str, tuple[dict[str, Any], str]]:
    import copy

    from tapevm.domain.content import canonical_bytes, content_hash

    def changed(change: Any) -> dict[str, Any]:
        d = copy.deepcopy(doc)
        change(d)
        return d

    q_key = content_hash(canonical_bytes(["Q", 1]))

    def unknown_node(d: dict[str, Any]) -> None:
        d["nodes"][q_key] = ["Q", 1]
        d["state"]["namespaces"]["user"]["z"] = ["@", q_key]

    def moved(to: str) -> Any:
        return lambda d: d["state"]["files"].__setitem__(to, d["state"]["files"].pop("a.txt"))

    a_node = next(iter(doc["nodes"]))
    return {
        "dangling": (changed(lambda d: d["state"]["namespaces"]["user"].__setitem__("z", ["@", "0" * 32])),
                     "binding user/z refers to value node 00000000000000000000000000000000, which is missing"),
        "list key": (changed(lambda d: d["state"]["namespaces"]["user"].__setitem__("z", ["@", [1]])),
                     "binding user/z holds a malformed '@' value"),
        "value tag": (changed(lambda d: d["state"]["namespaces"]["user"].__setitem__("z", ["zz", 1, 2])),
                      "binding user/z holds a value with an unknown tag \"zz\""),
        "node tag": (changed(unknown_node), f"value node {q_key} has an unknown node tag 'Q'"),
        "inner ref": (changed(lambda d: d["nodes"][a_node][1].append(["@", "1" * 32])),
                      f"value node {a_node}"),
        "parent": (changed(moved("../evil")), "world file path '../evil' is not one the VM accepts"),
        "absolute": (changed(moved("/etc/passwd")), "world file path '/etc/passwd' is not one the VM accepts"),
        "no blobs": (changed(lambda d: d.__setitem__("blobs", [])), "files without content: a.txt"),
        "atom": (changed(lambda d: d["state"]["atoms"].append([9, ["@", "2" * 32]])),
                 "atom 9 refers to value node 2222"),
        # the decoder would make it an empty atom, silently
        "atom id": (changed(lambda d: d["state"]["namespaces"]["user"].__setitem__("z", ["a", 7])),
                    "binding user/z refers to atom 7, which the state does not hold"),
        "inner atom id": (changed(lambda d: d["nodes"][a_node][1].append(["a", 8])),
                          f"value node {a_node} refers to atom 8"),
        # the session's VM failed every form with an internal error; export wrote forms that fail
        "no current namespace": (changed(lambda d: d["state"].__setitem__("current_ns", None)),
                                 "its current namespace None is not a name in-ns accepts"),
        "namespace name": (changed(lambda d: d["state"]["namespaces"].__setitem__("a/b", {"k": 1})),
                           "namespace 'a/b' is not a name in-ns accepts"),
        "qualified binding": (changed(lambda d: d["state"]["namespaces"]["user"].__setitem__("a b/c", 1)),
                              "binding user/'a b/c' has a name define cannot bind"),
        "special form": (changed(lambda d: d["state"]["namespaces"]["user"].__setitem__("if", 1)),
                         "binding user/'if' has a name define cannot bind"),
        # diff and merge compare files by key: files of other contents compared equal
        "blob content": (changed(lambda d: d["blobs"][0].__setitem__(2, "other")),
                         "world file 'a.txt': its content is not the content its key"),
    }


def test_verify_load_and_import_refuse_content_the_vm_cannot_use(tmp_path: Path, store_url: str) -> None:
    """Such images verified ok and loaded; the damage showed only when a program used the value
    ('value node … is missing from the log'), and '../evil' was served by 'tape world cat'."""
    import orjson

    doc = _export_of_a_session(tmp_path)
    (tmp_path / "ok.json").write_bytes(orjson.dumps(doc))
    image_ops.import_image(tmp_path / "ok.json", tmp_path / "target.img")
    kept = (tmp_path / "target.img").read_bytes()
    with open_store(store_url) as store:
        for n, (name, (bad, message)) in enumerate(_bad_content(doc).items()):
            path = _craft(bad, tmp_path / f"{n}.img")
            for check in (image_ops.verify, lambda p, sid=f"s{n}": image_ops.load_image(store, p, sid)):
                with pytest.raises(ImageError, match="damaged image") as caught:
                    check(path)
                assert message in str(caught.value) and "\n" not in str(caught.value), (name, caught.value)
            assert store.last_seq(f"s{n}") == 0, f"{name}: nothing appended"
            (tmp_path / f"{n}.json").write_bytes(orjson.dumps(bad))
            with pytest.raises(ImageError, match=f"{n}.json: damaged image"):
                image_ops.import_image(tmp_path / f"{n}.json", tmp_path / "target.img")
        assert (tmp_path / "target.img").read_bytes() == kept
        with image_ops.load_image(store, tmp_path / "target.img", "fine") as s:  # the good one still loads
            assert s.eval("(f 2)") == 3
            assert str(s.eval("(deref box)")) == "(1 3)"
    assert image_ops.verify(tmp_path / "src.img")["ok"]


def test_import_checks_the_whole_export_before_writing(tmp_path: Path) -> None:
    """Crafted exports gave internal errors (KeyError, ValueError, OverflowError after writing,
    a 7-line pydantic dump); each is now one line, and nothing is written."""
    import copy

    import orjson

    doc = _export_of_a_session(tmp_path, with_history=True)

    def changed(change: Any) -> dict[str, Any]:
        d = copy.deepcopy(doc)
        change(d)
        return d

    cases = {
        "renumbered": (changed(lambda d: d["history"][2].__setitem__(0, 99)),
                       "history section: event 3 is numbered 99"),
        "short": (changed(lambda d: d["history"].pop()), "history section: it holds events 1.."),
        "fields": (changed(lambda d: d["history"][1].__setitem__(5, {"bogus": 1})),
                   "history section: event 2 (FormSubmitted): field source: Field required (and 4 more)"),
        "type": (changed(lambda d: d["history"][1].__setitem__(3, "NoSuchEvent")), "history section: event 2"),
        "time": (changed(lambda d: d["history"][1].__setitem__(2, 1e300)), "event 2 has time 1e+300"),
        "cause": (changed(lambda d: d["history"][1].__setitem__(1, 7)), "event 2 has cause 7"),
        "another state": (changed(_redefine_x), "damaged image (its history does not fold to its state)"),
        "yesterday": (changed(lambda d: d["header"].__setitem__("created_at", "yesterday")),
                      "header: created_at 'yesterday' is not a time"),
        "far": (changed(lambda d: d["header"].__setitem__("created_at", 1e300)),
                "header: created_at '1e+300' is not a time"),
        "header list": (changed(lambda d: d.__setitem__("header", [1])), "malformed image export"),
        # the message named Python's exception: (KeyError: 'state')
        "no state": (changed(lambda d: d.pop("state")), ("malformed image export (it has no 'state': give a file "
                                                        "'tape image export' wrote)")),
        "no blobs": (changed(lambda d: d.__setitem__("blobs", [])), "files without content"),
    }
    (tmp_path / "target.img").write_bytes((tmp_path / "src.img").read_bytes())
    for name, (bad, message) in cases.items():
        (tmp_path / "bad.json").write_bytes(orjson.dumps(bad))
        with pytest.raises(ImageError) as caught:
            image_ops.import_image(tmp_path / "bad.json", tmp_path / "target.img")
        assert message in str(caught.value) and "\n" not in str(caught.value), (name, caught.value)
        with pytest.raises(ImageError):
            image_ops.import_image(tmp_path / "bad.json", tmp_path / "new.img")
        assert not (tmp_path / "new.img").exists(), name
    assert (tmp_path / "target.img").read_bytes() == (tmp_path / "src.img").read_bytes()
    # the same checks guard a load and verify: a crafted history is refused before anything is appended
    with open_store(str(tmp_path / "o.db")) as store:
        for name, sid in (("renumbered", "r"), ("another state", "a")):
            crafted = _craft(cases[name][0], tmp_path / f"{sid}.img")
            for check in (image_ops.verify, lambda p, sid=sid: image_ops.load_image(store, p, sid)):
                with pytest.raises(ImageError) as caught:
                    check(crafted)
                assert cases[name][1] in str(caught.value)
            assert store.last_seq(sid) == 0, f"{name}: nothing appended"


@pytest.mark.parametrize(("where", "value", "says"), [
    (("state", "files"), [], "state.files is a list, not an object of path -> blob key"),  # AttributeError
    (("state", "files"), True, "state.files is true, not an object of path -> blob key"),  # TypeError
    (("state", "files", "a.txt"), [1], 'state.files["a.txt"] is a list, not a blob key (a string)'),
    (("state", "session"), 7, "state.session is 7, not a string"),  # accepted
    (("state", "seq"), "x", 'state.seq is "x", not an event number (0 or more)'),
    (("state", "merged"), [], "state.merged is a list, not an object of stream -> event number"),  # accepted
    (("state", "namespaces"), [], "state.namespaces is a list, not an object of namespace -> bindings"),
    (("state", "namespaces", "user"), None, 'state.namespaces["user"] is null, not an object of name -> value'),
    (("state", "atoms", 0), "x", 'state.atoms[0] is "x", not [atom number, value]'),
    (("state", "snapshots"), [], "state.snapshots is a list, not an object of name -> [event number, descr"),
    (("nodes",), [], "nodes is a list, not an object of node key -> node"),
    (("blobs",), {}, "blobs is an object, not a list of [blob key, encoding, data]"),
    (("blobs", 0), None, "blobs[0] is null, not [blob key, encoding, data]"),
    (("header",), [1], "header is a list, not an object"),
    (("state", "facts"), None, "state.facts is null, not a list of values"),
])
def test_each_malformed_part_of_an_export_is_named(tmp_path: Path, where: tuple[Any, ...], value: Any,
                                                   says: str) -> None:
    """A part of another shape failed as an internal error or in Python's words, naming no part (or was
    accepted); now one line naming the part and what it should be, and nothing is written."""
    import orjson

    doc = _export_of_a_session(tmp_path)
    doc["state"]["snapshots"] = {"s1": [1, ""]}
    parent = doc
    for key in where[:-1]:
        parent = parent[key]
    parent[where[-1]] = value
    (tmp_path / "bad.json").write_bytes(orjson.dumps(doc))
    with pytest.raises(ImageError) as caught:
        image_ops.import_image(tmp_path / "bad.json", tmp_path / "new.img")
    assert f"bad.json: malformed image export ({says}" in str(caught.value) and "\n" not in str(caught.value)
    assert not (tmp_path / "new.img").exists()


def _redefine_x(doc: dict[str, Any]) -> None:
    """The history defines x as 2; the state says 1 (the load used to append it, then fail)."""
    row = next(r for r in doc["history"] if r[3] == "Defined" and r[5]["name"] == "x")
    row[5]["value"] = 2


def test_an_image_of_integers_past_the_decimal_digit_limit_verifies_and_loads(tmp_path: Path) -> None:
    """Big integers are stored as digits of any length (read in chunks): the content check accepts them."""
    with open_session("big", str(tmp_path / "s.db")) as s:
        s.run("(define big (+ (expt 10 5000) 1))")
        image_ops.save_image(s, tmp_path / "big.img")
        assert image_ops.verify(tmp_path / "big.img")["ok"]
        with image_ops.load_image(s.store, tmp_path / "big.img", "copy") as copy:
            assert copy.eval("(= big (+ (expt 10 5000) 1))") is True
