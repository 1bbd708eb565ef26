"""Lisp values <-> Python data: the documented mapping, its round-trip law, and hostile strings as data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import tapevm
from tapevm import to_lisp, to_python

# Python data the law covers: no NaN (NaN != NaN) and no empty list (Lisp has one empty list, nil).
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text())
keys = st.one_of(st.text(), st.integers(), st.booleans())
data = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=4),
        st.lists(inner, max_size=4).map(tuple),
        st.dictionaries(keys, inner, max_size=4),
    ),
    max_leaves=12,
)


@given(data)
def test_to_python_of_to_lisp_is_the_identity_on_python_data(value: Any) -> None:
    assert to_python(to_lisp(value)) == value
    json.dumps(to_python(to_lisp(value)))  # what json.dumps rejected before: VM objects


def test_the_documented_mapping(tmp_path: Path) -> None:
    with tapevm.open_session("m", store=str(tmp_path / "s.db")) as s:
        value = s.eval('(quote {:name "ann" tags (a :b "c") v [1 2.5 #t #f nil] (1 2) x})')
        assert to_python(value) == {"name": "ann", "tags": ["a", "b", "c"], "v": (1, 2.5, True, False, None),
                                    (1, 2): "x"}
        assert to_python(s.eval("(list)")) is None and to_lisp([]) is to_lisp(None)
        error = s.eval('(try (raise :user "no" 7) (catch e e))')
        assert to_python(error) == {"kind": "user", "message": "no", "data": 7}
        for not_data in ("(lambda (x) x)", "(atom 1)", "car", "(quote (1 . 2))"):
            with pytest.raises(tapevm.UsageError):
                to_python(s.eval(not_data))
    with pytest.raises(tapevm.UsageError, match="set is not data"):
        to_lisp({1, 2})
    with pytest.raises(tapevm.UsageError, match="not UTF-8"):
        to_lisp("lone \udc80 surrogate")
