"""The aligned text tables of ``tape log`` and ``tape state`` (cli/render.text_table)."""

from __future__ import annotations

import json
from pathlib import Path

from tapevm.cli.render import LOG_CHUNK, Column, fitted_columns, text_table


def test_cells_are_cut_to_their_column_and_pieces_line_up() -> None:
    columns = [Column("#", 4, right=True), Column("name", 6), Column("value", 10)]
    rows = [((str(i), f"n{i}", "x" * (i % 15)), None) for i in range(LOG_CHUNK + 20)]
    pieces = list(text_table(columns, rows, color=False))
    assert len(pieces) == 2  # LOG_CHUNK lines at a time, streamed
    lines = "".join(pieces).splitlines()
    assert lines[0] == "   #   name     value" and set(lines[1]) == {"─"} and len(lines[1]) == 4 + 6 + 10 + 6
    body = lines[2:]
    assert len(body) == LOG_CHUNK + 20
    assert body[14] == "  14   n14      xxxxxxxxx…"  # 14 x's cut to 10 cells, ending in an ellipsis
    assert body[3] == "   3   n3       xxx"  # the last column is not padded
    assert {line.index(" n") for line in body} == {6}


def test_color_only_when_asked() -> None:
    columns = [Column("a", 3, style={"fg": "cyan"}), Column("b", 3)]
    plain = "".join(text_table(columns, [(("x", "y"), None), (("p", "q"), {"fg": "red"})], color=False))
    assert "\x1b[" not in plain
    colored = "".join(text_table(columns, [(("x", "y"), None), (("p", "q"), {"fg": "red"})], color=True))
    assert "\x1b[36mx  \x1b[0m" in colored and "\x1b[31mp     q\x1b[0m" in colored


def test_tape_state_prints_every_binding_in_aligned_sections(tape, tmp_path: Path) -> None:
    program = tmp_path / "big.lisp"
    program.write_text("\n".join(f'(define item{i} "{"v" * (i % 120)}")' for i in range(700))
                       + "\n(assert! '(done 1)) (write-file! \"notes.txt\" \"hi\")")
    assert tape("run", str(program), "-i", "big").returncode == 0
    r = tape("state", "-i", "big")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("big at event ") and lines[1].split() == ["namespace", "name", "value"]
    rows = [line for line in lines[3:] if line.startswith("user ")]
    assert sorted(line.split()[1] for line in rows) == sorted(f"item{i}" for i in range(700))
    assert len({line.index('"') for line in rows}) == 1  # one value column across the streamed pieces
    assert max(map(len, lines)) <= 80  # the console's width (not a terminal: 80)
    assert lines[lines.index("facts") + 3] == "(done 1)"
    files = lines.index("files")
    assert lines[files + 3].split() == ["notes.txt", "2", lines[files + 3].split()[2]]


def test_fitted_columns_keep_natural_widths_that_fit_and_narrow_the_widest_that_do_not() -> None:
    rows = [("a", "x" * 5, "y" * 3)]
    assert [c.width for c in fitted_columns(("k", "value", "other"), rows, 80)] == [1, 5, 5]
    wide = [("key", "v" * 200, "w" * 90)]
    columns = fitted_columns(("k", "value", "other"), wide, 80)
    assert sum(c.width for c in columns) + 2 * 3 <= 80 and columns[0].width == 3
    line = "".join(text_table(columns, [(wide[0], None)], color=False)).splitlines()[2]
    assert len(line) <= 80 and line.endswith("…")


def test_tape_sql_and_delta_print_aligned_rows(tape) -> None:
    assert tape("eval", "-i", "a", '(define x 1) (define longer-name "text") (assert! \'(t 1))').returncode == 0
    lines = tape("sql", "SELECT name, value FROM bindings WHERE session='a' ORDER BY name").stdout.splitlines()
    assert lines[:2] == ["2 rows", "name          value"] and lines[3:] == ["longer-name   \"text\"", "x             1"]
    head = json.loads(tape("info", "-i", "a", "--json").stdout)["events"]
    lines = tape("delta", "-i", "a", "1", str(head)).stdout.splitlines()
    assert lines[1].split() == ["change", "what", "before", "after"]
    assert [line.split()[:3] for line in lines[3:]] == [["+", "binding", "user/longer-name"],
                                                        ["+", "binding", "user/x"], ["+", "fact", "(t"]]


def test_tape_state_of_an_empty_session_is_a_header_without_rows(tape) -> None:
    assert tape("eval", "-i", "empty", "1").returncode == 0
    r = tape("state", "-i", "empty")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[1:] == ["namespace   name   value", "─" * 24]
