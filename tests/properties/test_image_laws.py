"""Laws of images, on random sequences of VM actions and real stores.

* an image saved at any event number and loaded into another store gives the
  state at that number, byte for byte in its canonical encoding, with or
  without its history;
* the loaded session goes on like the original: the same next forms give the
  same state in both;
* the quick comparison a load makes (``same_canonical_state``) is equality of
  the canonical encodings.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from tapevm.domain.form_points import commit_around
from tapevm.domain.state import State
from tapevm.infrastructure.images import operations as image_ops
from tapevm.infrastructure.session.service import open_session
from tapevm.infrastructure.stores.factory import open_store
from tapevm.projections.state_codec import canonical_state_bytes, same_canonical_state
from tests.properties.test_event_stream_laws import form


@given(st.lists(form(), min_size=1, max_size=15), st.lists(form(), max_size=4), st.data())
def test_an_image_loads_elsewhere_as_the_state_it_was_saved_at(
        before: list[str], after: list[str], data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        with open_session("src", str(folder / "a.db")) as s:
            for text in before:
                s.run(text)
            # an image is saved at a form boundary (a point inside a form is refused: form_points.py)
            boundaries = [n for n in range(1, s.head + 1) if commit_around(s.store, s.stream, n) is None]
            at = data.draw(st.sampled_from(boundaries), label="at")
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


def _reordered(state: State) -> State:
    """The same state with every namespace's bindings (and the namespaces) in reverse order."""
    copy = state.copy()
    copy.namespaces = {ns: dict(reversed(table.items())) for ns, table in reversed(state.namespaces.items())}
    return copy


@given(st.lists(form(), min_size=1, max_size=12), st.data())
def test_same_canonical_state_is_equality_of_the_canonical_bytes(forms: list[str], data: st.DataObject) -> None:
    """The fast comparison an image load makes agrees with comparing the canonical encodings, for
    states of one session at any two event numbers, and for a state and itself in another order."""
    with tempfile.TemporaryDirectory() as tmp, open_session("s", str(Path(tmp) / "a.db")) as s:
        for text in forms:
            s.run(text)
        a = s.state_at(data.draw(st.integers(1, s.head), label="a"))
        b = s.state_at(data.draw(st.integers(1, s.head), label="b"))
    for x, y in ((a, b), (b, a), (a, _reordered(a)), (a, _reordered(b))):
        assert same_canonical_state(x, y) == (canonical_state_bytes(x) == canonical_state_bytes(y))
    assert same_canonical_state(a, _reordered(a))


def test_same_canonical_state_tells_values_python_calls_equal_apart() -> None:
    """1 and #t, 1.0 and 1, are equal to Python, not in the canonical encoding: neither may they be here."""
    one, true, float_one, int_one = State(), State(), State(), State()
    one.namespaces["user"]["x"] = 1
    true.namespaces["user"]["x"] = True
    float_one.namespaces["user"]["x"] = ["f", 1.0]
    int_one.namespaces["user"]["x"] = ["f", 1]
    assert not same_canonical_state(one, true)
    assert not same_canonical_state(float_one, int_one)
    assert same_canonical_state(one, _reordered(one))
