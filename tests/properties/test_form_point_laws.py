"""Form boundary laws on random sessions, on a real SQLite store.

* the points a fork may start from are exactly event 1 and the last event of each form
  (a failed form, a form with a snapshot, a form that printed: all alike);
* every refused point names the boundaries just before and after it, and both are accepted;
* a fork at a boundary replays whole: its verify covers every event.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from tapevm.domain.errors import BadAddress
from tapevm.domain.form_points import commit_around
from tapevm.infrastructure.branches.forks import fork
from tapevm.infrastructure.session.replay import replay
from tapevm.infrastructure.session.service import open_session
from tapevm.infrastructure.stores.factory import open_store

V = st.sampled_from(["a", "b", "c"])
form = st.one_of(
    st.tuples(V, st.integers(-9, 9)).map(lambda t: f"(define {t[0]} {t[1]})"),
    st.tuples(V, st.integers(0, 9)).map(lambda t: f"(define {t[0]} (list {t[1]} \"s\"))"),
    st.integers(0, 9).map(lambda n: f"(print {n})"),
    st.integers(0, 9).map(lambda n: f"(assert! '(p {n}))"),
    st.just("(car 1)"),
    st.integers(0, 99).map(lambda n: f'(write-file! "/f{n % 3}" "{n}")'),
    st.integers(0, 99).map(lambda n: f'(snapshot! "s{n}")'),
)


@given(st.lists(form, min_size=1, max_size=8, unique=True))
def test_fork_points_are_exactly_the_form_boundaries(forms: list[str]) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = str(Path(d) / "s.db")
        with open_session("p", path) as s:
            ends = {1}
            for f in forms:
                s.run(f)
                ends.add(s.head)
            head = s.head
        with open_store(path) as store:
            for n in range(1, head + 1):
                inside = commit_around(store, "p", n)
                assert (inside is None) == (n in ends), (n, inside, sorted(ends))
                if inside is None:
                    continue
                before, after = max(e for e in ends if e < n), min(e for e in ends if e > n)
                try:
                    fork(store, f"p@{n}", f"x{n}")
                    raise AssertionError(f"fork at {n} (inside a form) was accepted")
                except BadAddress as e:
                    assert re.search(rf"use p@{before} or p@{after} ", str(e)), str(e)
            at = max(ends - {head}) if len(ends) > 1 else 1
            fork(store, f"p@{at}", "f")
            result = replay(store, "f", verify=True)
            assert result.verified and result.events == result.recorded == at + 1
