"""``tape snapshot``, ``snapshots``, ``restore`` and ``delta`` through the real console script."""

from __future__ import annotations

import json

from tests.cli._errors import assert_one_line_error


def test_snapshot_restore_and_delta(tape) -> None:
    assert tape("eval", "(define x 1) (assert! '(a 1))").returncode == 0
    r = tape("snapshot", "one", "--description", "first", "--json")
    assert r.returncode == 0, r.stderr
    one = json.loads(r.stdout)
    assert one["name"] == "one" and one["description"] == "first"
    assert tape("eval", "(define x 2) (define y '(1 2)) (write-file! \"f\" \"abc\") (retract! '(a 1))").returncode == 0
    r = tape("snapshots", "--json")
    assert json.loads(r.stdout) == [one]
    assert "one" in tape("snapshots").stdout

    head = json.loads(tape("info", "--json").stdout)["events"]
    r = tape("delta", str(one["at"]), str(head), "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["bindings"]["user"]["changed"] == {"x": ["1", "2"]}
    assert d["bindings"]["user"]["added"] == {"y": "(1 2)"}
    assert d["facts"]["retracted"] == ["(a 1)"] and d["files"]["written"]["f"]["size"] == 3
    assert "~ binding" in tape("delta", str(one["at"]), str(head)).stdout
    assert d["files"]["written"]["f"]["before"] is None and "+ file" in tape("delta", str(one["at"]), str(head)).stdout
    # a file written again: the delta says what it replaced
    assert tape("eval", "(write-file! \"f\" \"abcdefg\")").returncode == 0
    later = head + 4
    d = json.loads(tape("delta", str(head), str(later), "--json").stdout)
    assert d["files"]["written"]["f"]["before"]["size"] == 3 and d["files"]["written"]["f"]["size"] == 7
    shown = tape("delta", str(head), str(later)).stdout
    assert "~ file" in shown and "3 bytes" in shown and "7 bytes" in shown
    head = later

    r = tape("restore", "one", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(tape("info", "--json").stdout)["snapshots"] == 1  # a restore keeps the names taken
    restored = json.loads(r.stdout)
    assert restored["target"] == one["at"] and restored["event"] == head + 1
    state = json.loads(tape("state", "--json").stdout)
    assert state["namespaces"]["user"] == {"x": "1"} and state["facts"] == ["(a 1)"] and state["files"] == {}
    # the history before the restore is still there
    before = json.loads(tape("state", "--at", str(head), "--json").stdout)
    assert before["namespaces"]["user"]["x"] == "2"
    assert tape("delta", str(head), str(head), "--json").stdout.count('"empty": true') == 1


def test_a_restore_shows_the_state_of_its_snapshot_even_where_a_namespace_came_after(tape) -> None:
    # the restored state showed "tools": {} in state --json, while diff and delta said no difference
    assert tape("eval", "(define x 1)").returncode == 0
    assert tape("snapshot", "base").returncode == 0
    at = json.loads(tape("snapshots", "--json").stdout)[0]["at"]
    assert tape("eval", "(in-ns 'tools) (define t 1) (in-ns 'user)").returncode == 0
    assert tape("restore", "base").returncode == 0
    now, then = (json.loads(tape("state", *args, "--json").stdout) for args in ((), ("--at", str(at))))
    assert now["namespaces"] == then["namespaces"] == {"user": {"x": "1"}}


def test_snapshot_errors_are_one_line(tape) -> None:
    tape("eval", "(define x 1)")
    tape("snapshot", "one")
    assert_one_line_error(tape("snapshot", "one"), 2, "already has a snapshot 'one'")
    assert_one_line_error(tape("snapshot", "two", "--at", "999"), 2, "cannot snapshot event 999")
    assert_one_line_error(tape("snapshot", " bad"), 2, "invalid snapshot name")
    assert_one_line_error(tape("restore", "nope"), 2, "has no snapshot 'nope'")
    tape("eval", "-i", "other", "1")
    assert_one_line_error(tape("restore", "one", "-i", "other"), 2, "belongs to session 'default'")
    assert_one_line_error(tape("restore", "one", "-i", "missing"), 2, "no session 'missing'")
    assert_one_line_error(tape("delta", "1", "999"), 2, "there is no event 999")
    # U+202E was accepted, and turned the rest of its row of 'tape snapshots' around
    assert_one_line_error(tape("snapshot", "a\u202eb"), 2, "invalid snapshot name 'a\\u202eb': it holds U+202E "
                                                           "RIGHT-TO-LEFT OVERRIDE")
    r = tape("eval", '(try (snapshot! "a\u2028b") (catch e (error-message e)))')
    assert "invalid snapshot name" in r.stdout and "U+2028 LINE SEPARATOR" in r.stdout, r.stdout
    assert [row["name"] for row in json.loads(tape("snapshots", "--json").stdout)] == ["one"]


def test_in_language_snapshot_and_restore(tape) -> None:
    r = tape("eval", '(define x 1) (snapshot! "s" :description "d") (define x 2) (snapshots)')
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == '(("s" 6 "d"))'
    r = tape("eval", '(begin (define y 5) (restore! "s") (define z 1)) x')
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "1"
    state = json.loads(tape("state", "--json").stdout)
    assert state["namespaces"]["user"] == {"x": "1"}
    r = tape("eval", '(restore! "nope")')
    assert r.returncode == 1 and "unknown-snapshot" in r.stderr
    r = tape("eval", '(snapshot! "s")')
    assert r.returncode == 1 and "snapshot-exists" in r.stderr
    r = tape("eval", '(save-image "../x")')
    assert r.returncode == 1 and "bad-image-name" in r.stderr


def test_a_form_ending_in_a_snapshot_or_restore_is_a_finished_form(tape) -> None:
    """The session's events a form asks for are appended after its FormEvaluated: a log that ends
    with one ends between forms (it was taken for an interrupted form, and the session refused to go on)."""
    assert tape("eval", '(define x 1)').returncode == 0
    for form in ['(snapshot! "t")', '(restore! "t")']:
        r = tape("eval", form)
        assert r.returncode == 0, r.stderr
        r = tape("eval", "x")
        assert r.returncode == 0 and r.stdout.strip() == "1", r.stderr


def test_names_that_look_like_rich_markup_are_printed_as_text(tape) -> None:
    """'[/x]' in a name, description or message was parsed as rich markup: MarkupError, an internal error."""
    assert tape("eval", "(define x 1)").returncode == 0
    assert tape("snapshot", "[/x]", "--description", "[/bold] d").returncode == 0
    r = tape("snapshots")
    assert r.returncode == 0 and "[/x]" in r.stdout and "[/bold] d" in r.stdout, r.stderr
    assert_one_line_error(tape("restore", "[/nope]"), 2, "no snapshot '[/nope]'", "[/x]")
    r = tape("eval", '(error "[/red] boom")')
    assert r.returncode == 1 and "[/red] boom" in r.stderr and "internal error" not in r.stderr


def test_every_command_and_subcommand_is_documented_with_help(tape) -> None:
    from pathlib import Path

    import click

    from tapevm.cli.main import cli

    doc = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text()
    ctx = click.Context(cli)
    names = cli.list_commands(ctx)
    assert len(names) >= 28
    for name in names:
        command = cli.get_command(ctx, name)
        assert f"`tape {name}" in doc, name
        if isinstance(command, click.Group):
            for sub in command.commands:
                assert f"`tape {name} {sub}" in doc, f"{name} {sub}"
                r = tape(name, sub, "--help")
                assert r.returncode == 0 and "Usage:" in r.stdout, (name, sub)
