"""Laws of images, on random sequences of VM actions and real stores.

* an image saved at any event number and loaded into another store gives the
  state at that number, byte for byte in its canonical encoding, with or
  without its history;
* the loaded session goes on like the original: the same next forms give the
  same state in both.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from tapevm.infrastructure import image_ops
from tapevm.infrastructure.session import open_session
from tapevm.infrastructure.store_factory import open_store
from tapevm.projections.state_codec import canonical_state_bytes
from tests.properties.test_event_stream_laws import form


@given(st.lists(form(), min_size=1, max_size=15), st.lists(form(), max_size=4), st.data())
def test_an_image_loads_elsewhere_as_the_state_it_was_saved_at(
        before: list[str], after: list[str], data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        with open_session("src", str(folder / "a.db")) as s:
            for text in before:
                s.run(text)
            at = data.draw(st.integers(1, s.head), label="at")
            with_history = data.draw(st.booleans(), label="with_history")
            image_ops.save_image(s, folder / "x.img", at=at, with_history=with_history)
            expected = canonical_state_bytes(s.state_at(at))
            head, head_state = s.head, canonical_state_bytes(s.state)
        with open_store(str(folder / "b.db")) as other, image_ops.load_image(other, folder / "x.img", "copy") as c:
            assert canonical_state_bytes(c.state) == expected
            if at == head:
                assert expected == head_state
                with open_session("src", str(folder / "a.db"), create=False) as original:
                    for text in after:
                        original.run(text)
                        c.run(text)
                        assert canonical_state_bytes(c.state) == canonical_state_bytes(original.state), text
