"""``tape delete``, ``tape deleted`` and ``tape gc``'s vacuum through the real console script, on both backends."""

from __future__ import annotations

import json

from tests.cli._errors import assert_one_line_error


def test_delete_asks_refuses_forks_and_leaves_a_tombstone(tape, store_url: str) -> None:
    s = ("--store", store_url)
    for name, form in (("work", "(define x 1)"), ("work", "(define y 2)"), ("other", "(define z 3)")):
        assert tape(*s, "eval", "-i", name, form).returncode == 0
    assert tape(*s, "fork", "work@2", "exp").returncode == 0
    head = json.loads(tape(*s, "verify", "-i", "work", "--json").stdout)["head"]

    r = tape(*s, "delete", "-i", "work", "--with-forks")  # stdin is not a terminal: --yes is needed
    assert_one_line_error(r, 2, "--yes")
    assert_one_line_error(tape(*s, "delete", "-i", "work", "--yes"), 2, "--with-forks", "'exp'")
    assert_one_line_error(tape(*s, "delete", "-i", "nobody", "--yes"), 2, "no session 'nobody'")
    assert_one_line_error(tape(*s, "delete", "--yes"), 2, "-i")
    assert len(json.loads(tape(*s, "sessions", "--json").stdout)) == 3  # nothing was deleted

    r = tape(*s, "delete", "-i", "work", "--yes", "--with-forks", "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert [d["name"] for d in report["deleted"]] == ["work", "exp"] and report["deleted"][0]["head_link"] == head
    assert [x["id"] for x in json.loads(tape(*s, "sessions", "--json").stdout)] == ["other"]
    r = tape(*s, "verify", "-i", "other")
    assert r.returncode == 0 and "intact" in r.stdout

    r = tape(*s, "deleted", "--json")
    tombs = json.loads(r.stdout)
    assert {d["name"] for d in tombs} == {"work", "exp"} and all(d["deleted_by"] for d in tombs)
    r = tape(*s, "deleted")
    assert r.returncode == 0 and "work" in r.stdout and head in r.stdout

    r = tape(*s, "gc", "--json")  # the space back: the backend's vacuum
    assert r.returncode == 0, r.stderr
    if "://" not in store_url:  # (PostgreSQL's VACUUM returns only trailing empty pages to the system)
        assert any("vacuumed" in item["what"] for item in json.loads(r.stdout)["removed"])

    r = tape(*s, "eval", "-i", "work", "(define x 10)")  # the name is free again
    assert r.returncode == 0
    assert json.loads(tape(*s, "info", "-i", "work", "--json").stdout)["events"] == 4


def test_deleted_lists_nothing_in_a_store_that_never_deleted(tape, store_url: str) -> None:
    s = ("--store", store_url)
    assert tape(*s, "eval", "-i", "a", "1").returncode == 0
    r = tape(*s, "deleted", "--json")
    assert r.returncode == 0 and json.loads(r.stdout) == []
