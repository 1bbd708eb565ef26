"""``tape image ...``, ``tape run --image`` and ``tape checkpoints`` through the real console script."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli._errors import assert_one_line_error

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "v1.tapeimg"


def test_image_commands_end_to_end(tape, tmp_path: Path) -> None:
    assert tape("eval", "(define x 41) (write-file! \"f.txt\" \"hi\")").returncode == 0
    img = tmp_path / "w.img"
    r = tape("image", "save", str(img), "--description", "demo", "--with-history", "--json")
    assert r.returncode == 0, r.stderr
    saved = json.loads(r.stdout)
    assert saved["description"] == "demo" and [s["name"] for s in saved["sections"]] == ["state", "blobs", "history"]
    assert json.loads(tape("image", "info", str(img), "--json").stdout)["source_session"] == "default"
    assert "ok" in tape("image", "verify", str(img)).stdout
    listed = json.loads(tape("image", "list", str(tmp_path), "--json").stdout)
    assert [Path(x["path"]).name for x in listed if x["ok"]] == ["w.img"]

    r = tape("image", "load", str(img), "-i", "copy", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(tape("state", "-i", "copy", "--json").stdout)["namespaces"]["user"]["x"] == "41"

    export = tape("image", "export", str(img))
    assert export.returncode == 0 and json.loads(export.stdout)["kind"] == "tapevm-image-export"
    (tmp_path / "w.json").write_text(export.stdout)
    assert tape("image", "import", str(tmp_path / "w.json"), str(tmp_path / "w2.img")).returncode == 0

    prog = tmp_path / "p.lisp"
    prog.write_text("(println (+ x 1))")
    r = tape("run", "--image", str(tmp_path / "w2.img"), str(prog))
    assert r.returncode == 0 and r.stdout == "42\n", r.stderr
    assert "'w2-1'" in r.stderr
    r = tape("run", "--image", str(tmp_path / "w2.img"), str(prog))  # again: a new session, not a collision
    assert r.returncode == 0 and r.stdout == "42\n" and "'w2-2'" in r.stderr, r.stderr
    r = tape("run", "--image", str(FIXTURE), "-i", "old", str(prog))
    assert r.returncode == 1 and "unbound" in r.stderr  # x is not in the v1 fixture; the image itself loaded
    assert json.loads(tape("image", "info", str(FIXTURE), "--json").stdout)["stored_format_version"] == "1.0.0"


def test_image_errors_are_one_line(tape, tmp_path: Path) -> None:
    assert_one_line_error(tape("image", "info", str(tmp_path / "nope.img")), 2, "no such image file")
    (tmp_path / "foreign.img").write_bytes(b"PK\x03\x04 not an image at all, a zip maybe" * 3)
    assert_one_line_error(tape("image", "verify", str(tmp_path / "foreign.img")), 1, "not a tapevm image")
    assert_one_line_error(tape("image", "load", str(tmp_path / "foreign.img")), 1, "not a tapevm image")
    data = FIXTURE.read_bytes()
    (tmp_path / "cut.img").write_bytes(data[:-40])
    assert_one_line_error(tape("image", "load", str(tmp_path / "cut.img")), 1, "truncated")
    assert_one_line_error(tape("image", "save", str(tmp_path / "x.img"), "-i", "missing"), 2, "no session 'missing'")
    tape("eval", "1")
    assert_one_line_error(tape("image", "save", str(tmp_path / "x.img"), "--at", "99"), 2, "there is no event 99")
    (tmp_path / "bad.json").write_text('{"kind": "other"}')
    assert_one_line_error(tape("image", "import", str(tmp_path / "bad.json"), str(tmp_path / "y.img")), 1,
                    "not a tapevm image export")
    assert_one_line_error(tape("image", "list", str(tmp_path / "nodir")), 2, "no such directory")
    # a mistyped directory was made on the way; a blank name said '. is a directory'
    assert_one_line_error(tape("image", "save", str(tmp_path / "typo" / "x.img")), 2,
                          f"there is no directory '{tmp_path / 'typo'}' (create it first)")
    assert not (tmp_path / "typo").exists()
    assert_one_line_error(tape("image", "save", ""), 2, "the image file name is blank")
    assert tape("eval", '(save-image "first")').returncode == 0  # $TAPE_HOME/images is made on first use
    assert (tmp_path / "home" / "images" / "first").is_file()


def test_checkpoint_commands(tape) -> None:
    for i in range(6):
        tape("eval", f"(define v{i} (list {i}))")
    r = tape("checkpoints", "rebuild", "--interval", "5", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["interval"] == 5 and data["count"] >= 3 and data["checkpoints"][0]["kind"] == "I"
    listed = json.loads(tape("checkpoints", "--json").stdout)
    assert listed["count"] == data["count"] and listed["stored_bytes"] > 0
    assert "keyframe" in tape("checkpoints").stdout
    assert tape("checkpoints", "verify").returncode == 0
    assert_one_line_error(tape("checkpoints", "rebuild", "--interval", "0"), 2, "--interval", "not in the range 1<=x")
    assert_one_line_error(tape("checkpoints", "-i", "missing"), 2, "no session 'missing'")


def test_checkpoints_lists_p_frames_stored_in_packs(tape) -> None:
    """A churning session's P-frames are packed several to a row: the listing says which pack holds each,
    and the shares of a pack's bytes add up to the total."""
    tape("eval", " ".join(f"(define c{i} 0)" for i in range(20)))
    tape("eval", " ".join(f"(set! c{i % 20} {i})" for i in range(300)))
    r = tape("checkpoints", "rebuild", "--interval", "30", "--json")
    assert r.returncode == 0, r.stderr
    listed = json.loads(tape("checkpoints", "--json").stdout)
    packed = [c for c in listed["checkpoints"] if c["pack"]]
    assert len({c["pack"] for c in packed}) >= 2 and all(c["kind"] == "P" for c in packed)
    assert listed["stored_bytes"] == sum(c["stored_bytes"] for c in listed["checkpoints"])
    assert tape("checkpoints", "verify").returncode == 0
    assert "pack" in tape("checkpoints").stdout


def test_image_save_and_import_refuse_to_replace_the_store(tape, tmp_path: Path) -> None:
    """``tape image save s.db`` (the store's own file) exited 0 and destroyed the store."""
    store = tmp_path / "s.db"
    env = {"TAPE_STORE": str(store)}
    assert tape("eval", "-i", "s1", "(define x 1)", extra_env=env).returncode == 0
    before = store.read_bytes()
    assert_one_line_error(tape("image", "save", str(store), "-i", "s1", extra_env=env), 2,
                          "is not a tapevm image: refusing to replace it")
    assert tape("image", "save", str(tmp_path / "a.img"), "-i", "s1", extra_env=env).returncode == 0
    (tmp_path / "a.json").write_text(tape("image", "export", str(tmp_path / "a.img")).stdout)
    assert_one_line_error(tape("image", "import", str(tmp_path / "a.json"), str(store)), 2, "not a tapevm image")
    assert store.read_bytes() == before
    r = tape("eval", "-i", "s1", "x", extra_env=env)
    assert r.returncode == 0 and r.stdout.strip() == "1", r.stderr
    # replacing an image is still allowed
    assert tape("image", "import", str(tmp_path / "a.json"), str(tmp_path / "a.img")).returncode == 0


def test_a_description_over_the_header_limit_keeps_the_old_image(tape, tmp_path: Path) -> None:
    """A description over the reader's 1 MiB header limit replaced a good image by an unreadable one."""
    assert tape("eval", '(define x 1) (save-image "keep")').returncode == 0
    img, kept = tmp_path / "a.img", tmp_path / "home" / "images" / "keep"
    assert tape("image", "save", str(img)).returncode == 0
    good, good_kept = img.read_bytes(), kept.read_bytes()
    doc = json.loads(tape("image", "export", str(img)).stdout)
    doc["header"]["description"] = "d" * (1 << 20)
    (tmp_path / "huge.json").write_text(json.dumps(doc))
    assert_one_line_error(tape("image", "import", str(tmp_path / "huge.json"), str(img)), 2, "1 MiB", "description")
    prog = tmp_path / "p.lisp"
    prog.write_text('(define d (apply str (map (lambda (i) "abcdefghij") (range 110000))))\n'
                    '(save-image "keep" :description d)\n')
    assert_one_line_error(tape("run", str(prog)), 1, "could not write 'keep'", "1 MiB")
    assert img.read_bytes() == good and kept.read_bytes() == good_kept
    assert tape("image", "verify", str(kept)).returncode == 0


def test_image_list_shows_every_file_when_one_header_is_bad(tape, tmp_path: Path) -> None:
    """'tape image list DIR' aborted with an internal error when one file had created_at 1e300."""
    from tapevm.infrastructure.images import file_format as image_file
    folder = tmp_path / "imgs"
    folder.mkdir()
    assert tape("eval", "(define x 1)").returncode == 0
    assert tape("image", "save", str(folder / "good.img"), "--description", "[/bold] not markup").returncode == 0
    image = image_file.read_image(folder / "good.img")
    header = {k: v for k, v in image.header.items() if k != "sections"}
    (folder / "far.img").write_bytes(image_file.encode_image({**header, "created_at": 1e300}, image.sections))
    bare = {k: v for k, v in header.items() if k not in ("created_at", "description")}
    (folder / "bare.img").write_bytes(image_file.encode_image(bare, image.sections))
    (folder / "junk.txt").write_text("junk")
    r = tape("image", "list", str(folder))
    assert r.returncode == 0 and not r.stderr, r.stderr
    for text in ("good.img", "far.img", "bare.img", "created_at", "[/bold]", "(1 other file skipped)"):
        assert text in r.stdout, (text, r.stdout)
    assert "junk.txt" not in r.stdout  # not an image: skipped, counted in the title
    listed = {Path(x["path"]).name: x for x in json.loads(tape("image", "list", str(folder), "--json").stdout)}
    assert [listed[n]["ok"] for n in ("bare.img", "far.img", "good.img")] == [True, False, True]
    assert "junk.txt" not in listed
    assert_one_line_error(tape("image", "info", str(folder / "far.img")), 1, "created_at", "is not a time")
    assert_one_line_error(tape("image", "load", str(folder / "far.img")), 1, "created_at")
    r = tape("image", "info", str(folder / "good.img"))
    assert r.returncode == 0 and "[/bold] not markup" in r.stdout, r.stderr
    assert tape("image", "info", str(folder / "bare.img")).returncode == 0


def test_images_whose_state_cannot_be_decoded_are_refused(tape, tmp_path: Path) -> None:
    """'image verify' said ok and 'image load' committed such images; the damage showed later as
    'internal-error: ValueCodecError: value node … is missing from the log', and '../evil' was served."""
    from tests.infrastructure.test_images import _bad_content, _craft

    assert tape("eval", '(define x 1) (define xs (list 1 2)) (write-file! "a.txt" "hi")').returncode == 0
    assert tape("image", "save", str(tmp_path / "a.img")).returncode == 0
    doc = json.loads(tape("image", "export", str(tmp_path / "a.img")).stdout)
    bad = _bad_content(doc)
    for n, name in enumerate(("dangling", "value tag", "node tag", "parent", "absolute")):
        broken, message = bad[name]
        img = _craft(broken, tmp_path / f"{n}.img")
        assert_one_line_error(tape("image", "verify", str(img)), 1, "damaged image", message)
        assert_one_line_error(tape("image", "load", str(img), "-i", f"from{n}"), 1, "damaged image", message)
        (tmp_path / f"{n}.json").write_text(json.dumps(broken))
        assert_one_line_error(tape("image", "import", str(tmp_path / f"{n}.json"), str(tmp_path / f"{n}b.img")), 1,
                              message)
        assert not (tmp_path / f"{n}b.img").exists()
    listed = json.loads(tape("sessions", "--json").stdout)
    assert [s["id"] for s in (listed["sessions"] if isinstance(listed, dict) else listed)] == ["default"]


def test_crafted_exports_give_one_line_errors_and_write_nothing(tape, tmp_path: Path) -> None:
    """Each of these was an 'internal error: ...' (or a 7-line pydantic dump), one of them after writing."""
    assert tape("eval", '(define x 1) (write-file! "a.txt" "hi")').returncode == 0
    assert tape("image", "save", str(tmp_path / "a.img"), "--with-history").returncode == 0
    doc = json.loads(tape("image", "export", str(tmp_path / "a.img")).stdout)

    def variant(change) -> dict:
        d = json.loads(json.dumps(doc))
        change(d)
        return d

    cases = [
        (variant(lambda d: d.__setitem__("blobs", [])), "files without content"),
        (variant(lambda d: d["history"][2].__setitem__(0, 99)), "event 3 is numbered 99"),
        (variant(lambda d: d["header"].__setitem__("created_at", "yesterday")), "created_at 'yesterday'"),
        (variant(lambda d: d["history"][1].__setitem__(5, {"bogus": 1})), "field source: Field required"),
        (variant(lambda d: d["header"].__setitem__("created_at", 1e300)), "created_at '1e+300'"),
    ]
    for n, (broken, message) in enumerate(cases):
        (tmp_path / f"{n}.json").write_text(json.dumps(broken))
        r = tape("image", "import", str(tmp_path / f"{n}.json"), str(tmp_path / f"{n}.img"))
        assert_one_line_error(r, 1, message)
        assert "internal error" not in r.stderr and not (tmp_path / f"{n}.img").exists()
