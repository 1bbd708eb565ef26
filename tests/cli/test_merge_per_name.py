"""``tape merge --keep NAME --take NAME``: per-name conflict resolution, through the real console script
on each backend, and the same through ``Store.merge``."""

from __future__ import annotations

import json

import pytest

import tapevm
from tapevm.domain.errors import MergeConflict, UsageError
from tests.cli._errors import assert_one_line_error


def _diverged(tape, s: tuple[str, ...]) -> None:
    """main and feat both changed x, y and z since feat was forked; feat alone added w."""
    assert tape(*s, "eval", "-i", "main", "(define x 1) (define y 1) (define z 1)").returncode == 0
    assert tape(*s, "fork", "main", "feat").returncode == 0
    assert tape(*s, "eval", "-i", "main", "(define x 2) (define y 2) (define z 2)").returncode == 0
    assert tape(*s, "eval", "-i", "feat", "(define x 3) (define y 3) (define z 3) (define w 3)").returncode == 0


def _values(tape, s: tuple[str, ...], session: str) -> dict[str, str]:
    return dict(json.loads(tape(*s, "state", "-i", session, "--json").stdout)["namespaces"]["user"])


def test_keep_and_take_resolve_named_conflicts_before_prefer(tape, store_url: str) -> None:
    s = ("--store", store_url)
    _diverged(tape, s)
    # z is left to --prefer fail: the merge writes nothing and names only z
    r = tape(*s, "merge", "feat", "-i", "main", "--keep", "x", "--take", "user/y")
    assert_one_line_error(r, 1, "1 conflicts (user/z)", "--keep/--take")
    assert _values(tape, s, "main") == {"x": "2", "y": "2", "z": "2"}
    r = tape(*s, "merge", "feat", "-i", "main", "--keep", "x", "--take", "user/y", "--prefer", "take", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert dict(zip(out["conflicts"], out["resolved"], strict=True)) == {
        "user/x": "keep", "user/y": "take", "user/z": "take"}
    assert _values(tape, s, "main") == {"x": "2", "y": "3", "z": "3", "w": "3"}


def test_every_conflict_named_needs_no_prefer(tape, store_url: str) -> None:
    s = ("--store", store_url)
    _diverged(tape, s)
    r = tape(*s, "merge", "feat", "-i", "main", "--take", "x", "--keep", "y", "--keep", "z")
    assert r.returncode == 0, r.stderr
    assert "conflict: user/x (resolved: take)" in r.stderr and "conflict: user/y (resolved: keep)" in r.stderr
    assert _values(tape, s, "main") == {"x": "3", "y": "2", "z": "2", "w": "3"}


def test_a_name_not_in_conflict_is_a_usage_error_and_writes_nothing(tape, store_url: str) -> None:
    s = ("--store", store_url)
    _diverged(tape, s)
    before = tape(*s, "info", "-i", "main", "--json").stdout
    for args, words in ((("--keep", "w"), ("--keep user/w: not in conflict", "user/x")),
                        (("--take", "nothing", "--prefer", "take"), ("--take user/nothing",)),
                        (("--keep", "x", "--take", "x"), ("both --keep and --take",)),
                        (("--keep", "lib/"), ("give a binding's name",))):
        assert_one_line_error(tape(*s, "merge", "feat", "-i", "main", *args), 2, *words)
    assert tape(*s, "info", "-i", "main", "--json").stdout == before


def test_store_merge_takes_keep_and_take(store_url: str) -> None:
    with tapevm.open_store(store_url) as store:
        with store.session("main") as main:
            main.eval("(define x 1) (define y 1)")
        store.fork("main", "feat")
        with store.session("main") as main:
            main.eval("(define x 2) (define y 2)")
        with store.session("feat") as feat:
            feat.eval("(define x 3) (define y 3)")
        with pytest.raises(MergeConflict, match="user/y"):
            store.merge("feat", "main", keep=["x"])
        with pytest.raises(UsageError, match="not in conflict"):
            store.merge("feat", "main", prefer="keep", take=["ghost"])
        r = store.merge("feat", "main", keep=["x"], take=["user/y"])
        assert [(c.key, how) for c, how in zip(r.conflicts, r.resolved, strict=True)] == [
            (("user", "x"), "keep"), (("user", "y"), "take")]
        with store.session("main", writable=False) as main:
            assert tapevm.StatePrinter(main.state)(main.state.namespaces["user"]["y"]) == "3"
            assert tapevm.StatePrinter(main.state)(main.state.namespaces["user"]["x"]) == "2"
