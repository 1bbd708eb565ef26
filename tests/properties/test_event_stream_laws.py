"""Laws of the event stream, on random sequences of VM actions and a real store.

* the folded log equals the live VM state after every form;
* the state at any event number is the fold of the log's prefix (and equals
  the live state that was captured when that form committed);
* a form that raises commits no mutations;
* two runs of the same inputs give identical event streams;
* reopening a session (a new process would do the same) gives the same state.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tapevm.domain.fold import fold
from tapevm.infrastructure.session.service import open_session
from tapevm.vm.world_state import capture_state

NAMES = [f"v{i}" for i in range(4)]
ATOMS = ["a0", "a1"]

scalar = st.one_of(
    st.integers(-5, 5).map(str),
    st.sampled_from(['"hi"', '"a b"', "'sym", ":kw", "#t", "nil", "1.5", "123456789012345678901234"]),
)


def expr(depth: int = 2) -> st.SearchStrategy[str]:
    if depth == 0:
        return st.one_of(scalar, st.sampled_from(NAMES))
    sub = expr(depth - 1)
    return st.one_of(
        scalar,
        st.lists(sub, max_size=4).map(lambda xs: "(list " + " ".join(xs) + ")"),
        st.lists(sub, max_size=3).map(lambda xs: "[" + " ".join(xs) + "]"),
        st.tuples(sub, sub).map(lambda t: "{:a " + t[0] + " :b " + t[1] + "}"),
        st.tuples(sub, st.sampled_from(NAMES)).map(lambda t: f"(cons {t[0]} (if (list? {t[1]}) {t[1]} nil))"),
        sub.map(lambda x: f"(let ((k {x})) (lambda (y) (list k y)))"),
    )


def form() -> st.SearchStrategy[str]:
    name = st.sampled_from(NAMES)
    atom = st.sampled_from(ATOMS)
    fact = st.tuples(st.sampled_from(["likes", "owns"]), st.sampled_from(["ann", "bob"]), st.integers(0, 2))
    path = st.sampled_from(["notes.txt", "dir/a.txt", "b.bin"])
    return st.one_of(
        st.tuples(name, expr()).map(lambda t: f"(define {t[0]} {t[1]})"),
        st.tuples(name, expr()).map(lambda t: f"(set! {t[0]} {t[1]})"),
        st.tuples(atom, expr()).map(lambda t: f"(define {t[0]} (atom {t[1]}))"),
        st.tuples(atom, expr()).map(lambda t: f"(reset! {t[0]} {t[1]})"),
        atom.map(lambda a: f"(swap! {a} (lambda (old) (list old)))"),
        fact.map(lambda f: f"(assert! '({f[0]} {f[1]} {f[2]}))"),
        fact.map(lambda f: f"(retract! '({f[0]} {f[1]} {f[2]}))"),
        st.tuples(path, st.text(max_size=8)).map(
            lambda t: f"(write-file! \"{t[0]}\" {_lisp_string(t[1])})"),
        path.map(lambda p: f'(delete-file! "{p}")'),
        # appends that grow a file past 1 KiB: later versions are stored as pieces
        st.tuples(path, st.integers(0, 700)).map(lambda t: f'(append-file! "{t[0]}" "{"y" * t[1]}")'),
        # rewrites that change one region of such a file: later versions are stored as splices
        st.tuples(path, st.integers(0, 3), st.text("xyé", max_size=5)).map(lambda t: _edit(*t)),
        st.sampled_from(["(in-ns 'tools)", "(in-ns 'user)", "(define tools/t 1)"]),
        expr().map(lambda e: f"(println {e})"),
        # a form that mutates and then fails: none of its mutations may stick
        st.tuples(name, expr()).map(lambda t: f"(begin (define {t[0]} {t[1]}) (assert! '(doomed)) (car 5))"),
        st.just('(raise "boom")'),
    )


def _edit(path: str, where: int, text: str) -> str:
    """A rewrite of ``path`` that replaces a slice at one of four places with ``text``."""
    return (f'(let ((t (read-file "{path}")) (n (string-length (read-file "{path}")))) '
            f'(write-file! "{path}" (str (substring t 0 (quot (* n {where}) 4)) "{text}" '
            f'(substring t (min n (+ 3 (quot (* n {where}) 4)))))))')


def _lisp_string(text: str) -> str:
    return '"' + "".join("\\\\" if c == "\\" else '\\"' if c == '"' else c for c in text if c.isprintable()) + '"'


def _events_without_time(s: Any) -> list[tuple[int, int, Any]]:
    return [(r.seq, r.cause, r.event) for r in s.events()]


@given(st.lists(form(), min_size=1, max_size=25))
def test_fold_equals_live_state_and_replays_identically(forms: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = str(Path(tmp) / "a.db")
        captured: dict[int, dict[str, Any]] = {}
        with open_session("prop", store) as s:
            for text in forms:
                before = s.state.semantic()
                outcome = s.run(text)[0]
                live = capture_state(s.world).semantic()
                assert s.state.semantic() == live, f"fold != live after {text!r}"
                if not outcome.ok:
                    assert live == before, f"failed form {text!r} changed the state"
                captured[outcome.last_seq] = live
            head = s.head
            events = list(s.events())
            assert [r.seq for r in events] == list(range(1, head + 1))
            for n, expected in captured.items():
                assert fold(events[:n]).semantic() == expected
                assert s.state_at(n).semantic() == expected
            final = s.state.semantic()
            stream = _events_without_time(s)
        # reopening folds the stored log back into the same live VM
        with open_session("prop", store, create=False) as again:
            assert capture_state(again.world).semantic() == final
        # the same inputs in a fresh store give the same events, byte for byte
        with open_session("prop", str(Path(tmp) / "b.db")) as twin:
            for text in forms:
                twin.run(text)
            assert _events_without_time(twin)[1:] == stream[1:]
