"""``(load-image ...)`` and ``(list-images)`` from inside the language, on each backend.

Both read the host's image directory (``$TAPE_HOME/images``), so both must be in the log: a replay
answers them from it, whatever the directory holds by then.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tapevm
from tapevm.domain.events import ContentStored, EffectRequested, ImageLoaded
from tapevm.infrastructure.images import operations as image_ops
from tapevm.projections.state_codec import canonical_state_bytes
from tests.properties.test_event_stream_laws import form


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TAPE_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_list_images_is_a_recorded_effect_with_each_images_facts(store_url: str, home: Path) -> None:
    with tapevm.open_session("s", store_url) as s:
        assert s.eval("(null? (list-images))") is True  # no directory yet
        s.eval('(define v [1 2 3]) (save-image "b.img" :description "second")')
        s.eval('(save-image "a.img")')
        (home / "images" / "notes.txt").write_text("not an image")
        s.eval("(define seen (list-images))")
        assert s.eval("(map (lambda (i) (get i :name)) seen)") == s.eval('(list "a.img" "b.img")')
        assert s.eval("(get (car (cdr seen)) :description)") == "second"
        assert s.eval("(get (car (cdr seen)) :size)") == (home / "images" / "b.img").stat().st_size
        assert s.eval("(> (get (car (cdr seen)) :created) 1700000000000)") is True
        kinds = [r.event.kind for r in s.events() if type(r.event) is EffectRequested]
        assert kinds == ["list-images", "list-images"]
    for p in (home / "images").iterdir():  # the directory changes: a replay still sees what the run saw
        p.unlink()
    with tapevm.open_store(store_url) as store:
        result = store.replay("s", verify=True)
        assert result.divergence is None


def test_load_image_replaces_the_state_and_keeps_the_history(store_url: str, home: Path) -> None:
    with tapevm.open_session("src", store_url) as src:
        src.eval('(define x 41) (define xs (list 1 2 3)) (assert! (quote (likes ann tea))) (write-file! "f" "hi")')
        src.eval('(save-image "w.img" :description "work")')
        image_state = src.state
    with tapevm.open_session("s", store_url) as s:
        s.eval('(define keep 1) (snapshot! "before")')
        before = s.head
        assert s.eval('(load-image "w.img")') == "w.img"
        assert s.eval("x") == 41 and s.eval('(read-file "f")') == "hi"
        assert s.eval("(facts (quote (likes ?who tea)))") is not None
        assert s.run("keep")[0].error_kind == "unbound-symbol"
        assert canonical_state_bytes(s.state_at(s.head - 2)) == canonical_state_bytes(image_state)
        loaded = [r for r in s.events(before + 1) if type(r.event) is ImageLoaded]
        assert len(loaded) == 1 and loaded[0].event.image == "w.img" and loaded[0].event.description == "work"
        assert type(next(iter(s.events(loaded[0].seq - 1, loaded[0].seq - 1))).event) is ContentStored
        assert s.state_at(before).namespaces["user"]["keep"] == 1  # the history before stays addressable
        s.eval('(restore! "before")')
        assert s.eval("keep") == 1 and s.run("x")[0].error_kind == "unbound-symbol"
        # the form's own changes are committed first, then replaced, as restore! does
        s.eval('(define lost 1) (load-image "w.img")')
        assert s.run("lost")[0].error_kind == "unbound-symbol" and s.eval("x") == 41
    (home / "images" / "w.img").unlink()  # a replay loads what the run loaded, not the file
    with tapevm.open_store(store_url) as store:
        assert store.replay("s", verify=True).divergence is None


def test_load_image_errors(store_url: str, home: Path) -> None:
    with tapevm.open_session("s", store_url) as s:
        assert s.run('(load-image "../x.img")')[0].error_kind == "bad-image-name"
        assert s.run("(load-image 1)")[0].error_kind == "type-error"
        missing = s.run('(load-image "nope.img")')[0]  # looked up in the recorded listing: catchable
        assert missing.error_kind == "unknown-image" and "nope.img" in (missing.error_message or "")
        assert s.eval('(try (load-image "nope.img") (catch e (error-kind e)))').name == "unknown-image"
        s.eval('(define x 1) (save-image "bad.img")')
        data = bytearray((home / "images" / "bad.img").read_bytes())
        data[len(data) // 2] ^= 0xFF  # a section damaged, the header intact: listed, refused when read
        (home / "images" / "bad.img").write_bytes(bytes(data))
        head = s.head
        with pytest.raises(tapevm.TapeError, match="bad.img"):
            s.eval('(load-image "bad.img")')
        assert s.unfinished is not None and s.unfinished > head  # its listing was committed: resumable
        s.abandon()
        assert s.eval("x") == 1  # nothing of the form stayed in the VM, and the session goes on


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(form(), min_size=1, max_size=10), st.lists(form(), max_size=6))
def test_after_load_image_the_state_is_the_images(home: Path, saved: list[str], mine: list[str]) -> None:
    """Law: whatever state a session had, after (load-image "i") it is the image's state, canonically."""
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "s.db")
        with tapevm.open_session("src", db) as src:
            for text in saved:
                src.run(text)
            (home / "images").mkdir(parents=True, exist_ok=True)
            image_ops.save_image(src, home / "images" / "i.img")
            expected = canonical_state_bytes(src.state)
        with tapevm.open_session("s", db) as s:
            for text in mine:
                s.run(text)
            assert s.run('(load-image "i.img")')[0].ok
            assert canonical_state_bytes(s.state) == expected
        with tapevm.open_session("s", db, writable=False) as again:  # folded from the log alone
            assert canonical_state_bytes(again.state) == expected


def test_blame_shows_what_a_loaded_image_set_and_removed(store_url: str, home: Path) -> None:
    with tapevm.open_session("src", store_url) as src:
        src.eval('(define x 41) (assert! (quote (kept 1))) (write-file! "kept.txt" "k")')
        src.eval('(save-image "w.img")')
    with tapevm.open_session("s", store_url) as s:
        s.eval('(define gone 1) (define x 1) (assert! (quote (gone 1))) (write-file! "gone.txt" "g")')
        s.eval('(load-image "w.img")')
    with tapevm.open_store(store_url) as store:
        gone = store.blame("s", "gone")
        assert gone.current is None and [(h.op, h.removed) for h in gone.history] == [("define", False), ("image", True)]
        x = store.blame("s", "x")
        assert [(h.op, h.value) for h in x.history] == [("define", 1), ("image", 41)]
        fact = store.blame("s", fact="(gone 1)")
        assert fact.current is None and [h.op for h in fact.history] == ["assert!", "image"]
        file = store.blame("s", file="gone.txt")
        assert file.current is None and [h.op for h in file.history] == ["write", "image"]
