"""``tape delete``, ``tape deleted`` and ``tape gc``'s vacuum through the real console script, on both backends."""

from __future__ import annotations

import hashlib
import json

from tests.cli._errors import assert_one_line_error


def test_delete_asks_refuses_forks_and_leaves_a_tombstone(tape, store_url: str) -> None:
    s = ("--store", store_url)
    # (work's second form holds pages of its own, which the vacuum after the delete gives back)
    noise = "".join(hashlib.sha256(str(i).encode()).hexdigest() for i in range(600))  # (does not compress)
    big = f'(define y "{noise}")'
    for name, form in (("work", "(define x 1)"), ("work", big), ("other", "(define z 3)")):
        assert tape(*s, "eval", "-i", name, form).returncode == 0
    assert tape(*s, "fork", "work@4", "exp").returncode == 0
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


def _record_starts(tape, s: tuple[str, ...], name: str) -> list[int]:
    """The event numbers that begin a form (FormSubmitted): where an archive may cut."""
    events = [json.loads(line) for line in tape(*s, "log", "-i", name, "--json").stdout.splitlines()]
    return [e["seq"] for e in events if e["type"] == "FormSubmitted"]


def test_archive_verify_and_read_the_archived_history(tape, store_url: str, tmp_path) -> None:
    s = ("--store", store_url)
    for n in range(8):
        assert tape(*s, "eval", "-i", "long", f'(define x{n % 3} (list {n} "v{n}"))').returncode == 0
    forms = _record_starts(tape, s, "long")
    before, inside = forms[4], forms[4] + 1
    head = len(tape(*s, "log", "-i", "long", "--json").stdout.splitlines())
    early = json.loads(tape(*s, "state", "-i", "long", "--at", str(before - 3), "--json").stdout)
    at_cut = json.loads(tape(*s, "state", "-i", "long", "--at", str(before - 1), "--json").stdout)
    archive = tmp_path / "long-early.img"
    assert tape(*s, "fork", f"long@{forms[3] - 1}", "early-fork").returncode == 0

    a = ("archive", "-i", "long", "--to", str(archive), "--before")
    assert_one_line_error(tape(*s, *a, str(inside)), 2, f"event {inside} is inside")
    assert_one_line_error(tape(*s, *a, str(head + 1)), 2, f"3..{head}")
    assert_one_line_error(tape(*s, *a, str(before)), 2, "fork 'early-fork'", "--delete-forks")
    assert not archive.exists()

    r = tape(*s, *a, str(before), "--json", "--delete-forks")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["before"] == before and report["records"] == 5 and archive.exists()
    assert_one_line_error(tape(*s, *a, str(head)), 2, "archived before event")
    assert [d["name"] for d in json.loads(tape(*s, "deleted", "--json").stdout)] == ["early-fork"]

    r = tape(*s, "verify", "-i", "long")
    assert r.returncode == 0 and "intact" in r.stdout and "archived in long-early.img" in r.stdout, r.stdout
    r = tape(*s, "verify", "-i", "long", "--archive", str(archive))
    assert r.returncode == 0 and f"joins session long at event {before}" in r.stdout, r.stdout
    assert tape(*s, "image", "verify", str(archive)).returncode == 0  # an image, verifiable on its own

    assert_one_line_error(tape(*s, "state", "-i", "long", "--at", str(before - 3)), 2, "archived in 'long-early.img'")
    r = tape(*s, "state", "-i", "long", "--at", str(before - 3), "--archive", str(archive), "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["namespaces"] == early["namespaces"], r.stderr
    r = tape(*s, "state", "-i", "long", "--at", str(before - 1), "--json")
    assert json.loads(r.stdout)["namespaces"] == at_cut["namespaces"]
    assert tape(*s, "eval", "-i", "long", "(define later 1)").returncode == 0
    assert tape(*s, "verify", "-i", "long").returncode == 0
    assert tape(*s, "verify", "-i", "long", "--archive", str(archive)).returncode == 0
    assert tape(*s, "info", "-i", "long").returncode == 0

    other = tmp_path / "other.img"  # an archive that does not join: another session's
    assert tape(*s, "image", "save", str(other), "-i", "long", "--with-history").returncode == 0
    r = tape(*s, "verify", "-i", "long", "--archive", str(other))
    assert r.returncode == 1 and "NOT intact" in r.stdout, r.stdout
