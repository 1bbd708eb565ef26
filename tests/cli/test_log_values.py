"""``tape log`` shows values by a bounded summary and their content key; whole with ``--values full``.

The log printed every value whole to cut it for its line, so a session whose agent conses onto a
list each turn logged in time quadratic in turns; now a line reads a value only as far as it shows it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import tapevm
from tapevm.cli import render
from tapevm.domain.events import Defined, FormEvaluated
from tapevm.infrastructure.session.service import open_session
from tapevm.vm import printer
from tapevm.vm.form_events import PRINTED_LIMIT as LIMIT
from tapevm.vm.state_printer import StatePrinter


def lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines()]


def of_type(events: list[dict[str, Any]], type_name: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == type_name]


def test_values_are_a_bounded_summary_with_their_content_key(tape: Any) -> None:
    assert tape("eval", "-i", "s", "(define big (range 1000))").returncode == 0
    assert tape("eval", "-i", "s", "(define small [1 :k \"x\"])").returncode == 0
    r = tape("log", "-i", "s", "--json")
    assert r.returncode == 0, r.stderr
    events = lines(r.stdout)
    big, small = (e["data"]["value"] for e in of_type(events, "Defined"))
    assert big["value"] == "(" + " ".join(map(str, range(1000)))[: LIMIT - 1] + "..." and big["truncated"] is True
    assert len(big["ref"]) >= 32  # the node the value is stored as: ask for it whole with --values full
    assert small["value"] == '[1 :k "x"]' and small["truncated"] is False
    result = of_type(events, "FormEvaluated")[0]["data"]["result"]
    assert result == {"value": "big", "truncated": False, "ref": None}
    content = of_type(events, "ContentStored")[0]["data"]
    assert {node["ref"] for node in content["nodes"]} >= {big["ref"]}
    assert all(set(node) == {"ref", "kind", "bytes"} for node in content["nodes"])

    whole = lines(tape("log", "-i", "s", "--json", "--values", "full").stdout)
    full = of_type(whole, "Defined")[0]["data"]["value"]
    assert full == {"value": "(" + " ".join(map(str, range(1000))) + ")", "truncated": False, "ref": big["ref"]}
    assert isinstance(of_type(whole, "ContentStored")[0]["data"]["nodes"][0], list)  # as stored: [key, node]


def test_text_lines_are_bounded_and_whole_with_values_full(tape: Any) -> None:
    assert tape("eval", "-i", "s", "(define big (range 1000))").returncode == 0
    line = next(x for x in tape("log", "-i", "s").stdout.splitlines() if "define user/big" in x)
    assert "(0 1 2 3" in line and len(line) < 200
    line = next(x for x in tape("log", "-i", "s", "--values", "full").stdout.splitlines() if "define user/big" in x)
    assert line.endswith(" 998 999)")
    r = tape("log", "-i", "s", "--values", "some")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "'summary', 'full'" in r.stderr


def test_a_hostile_value_stays_bounded(tape: Any) -> None:
    """A string of a million characters and a list nested 100,000 deep: a few hundred characters each."""
    r = tape("eval", "-i", "h", '(define huge (apply str (map (lambda (i) "0123456789") (range 100000)))) '
             "(define (nest n acc) (if (= n 0) acc (nest (- n 1) (list acc)))) (define deep (nest 100000 nil))")
    assert r.returncode == 0, r.stderr
    r = tape("log", "-i", "h", "--json")
    assert r.returncode == 0, r.stderr
    events = lines(r.stdout)
    huge, _, deep = (e["data"]["value"] for e in of_type(events, "Defined"))
    assert huge["value"] == '"' + "0123456789" * 19 + "012345678..." and huge["truncated"]
    assert deep["value"] == "(" * LIMIT + "..." and deep["truncated"]
    assert max(len(line) for line in r.stdout.splitlines() if '"ContentStored"' not in line) < 2 * LIMIT + 600
    stored = next(e for e in of_type(events, "ContentStored") if len(e["data"]["nodes"]) == 1)
    assert stored["data"]["nodes"][0]["bytes"] > 1_000_000  # the string's node, listed, not printed
    assert len(r.stdout) < 10_000_000  # (before: the string once, and 100,000 nodes as stored)


def test_a_form_result_in_the_log_reads_no_more_than_the_limit(tmp_path: Path) -> None:
    """A result of 100,000 elements: its log line (text and JSON) reads a few nodes, not 3,125."""
    with open_session("big", store=str(tmp_path / "s.db")) as s:
        s.eval("(define big (range 100000))")
        s.eval("big")
        show = StatePrinter(s.content_through(s.head))
        events = list(s.events())
    read: list[str] = []
    real = show.decoder.lookup
    show.decoder.lookup = lambda key: read.append(key) or real(key)  # type: ignore[method-assign]
    for r in events:
        if isinstance(r.event, (Defined, FormEvaluated)):
            assert render.event_summary(r, show)
            shown = render.event_json(r, show)
    assert 0 < len(read) <= 12
    assert shown["data"]["result"]["value"].startswith("(0 1 2 3 ")


@pytest.mark.parametrize("turns", [(100, 200)])
def test_log_work_and_output_grow_linearly_with_turns(tmp_path: Path, tape: Any, monkeypatch: Any,
                                                      turns: tuple[int, int]) -> None:
    """An agent conses a ~1 KB message onto a list each turn: twice the turns, twice the elements
    printed and twice the output (the log printed the whole list at every turn: four times)."""
    printed: list[int] = []
    real = printer._atom_text
    monkeypatch.setattr(printer, "_atom_text", lambda v: printed.append(1) or real(v))
    work, size = [], []
    for n in turns:
        store = str(tmp_path / f"s{n}.db")
        with open_session("agent", store=store) as s:
            s.eval("(define messages nil)")
            for i in range(n):
                s.eval(f'(set! messages (cons "{"m" * 1000} {i}" messages))')
            show = StatePrinter(s.content_through(s.head))
            printed.clear()
            for r in s.events():
                render.event_json(r, show)
            work.append(len(printed))
        r = tape("--store", store, "log", "-i", "agent", "--json")
        assert r.returncode == 0, r.stderr
        size.append(len(r.stdout))
    assert work[1] / work[0] < 2.5, work
    assert size[1] / size[0] < 2.2, size


def test_audit_prints_values_no_further_than_it_shows(tmp_path: Path, monkeypatch: Any, tape: Any) -> None:
    """The audit timeline cut each value to 70 characters after printing it whole."""
    store = str(tmp_path / "s.db")
    assert tape("--store", store, "eval", "-i", "a", "(define big (range 100000))").returncode == 0
    printed: list[int] = []
    real = printer._atom_text
    monkeypatch.setattr(printer, "_atom_text", lambda v: printed.append(1) or real(v))
    with tapevm.open_store(store) as s:
        entry = next(e for e in s.audit("a") if "user/big" in e.what)
    assert "(0 1 2 3" in entry.what and len(printed) <= 100
    r = tape("--store", store, "audit", "-i", "a", "--json")
    assert r.returncode == 0 and "define user/big = (0 1 2 3" in r.stdout


def test_the_python_api_previews_a_logged_value(tmp_path: Path) -> None:
    with tapevm.open_session("p", store=str(tmp_path / "s.db")) as s:
        s.eval("(define big (range 100000))")
        value = next(r.event.value for r in s.events() if isinstance(r.event, Defined))
        shown = tapevm.StatePrinter(s.state).preview(value, 20)
        assert isinstance(shown, tapevm.ValuePreview)
        assert (shown.text, shown.truncated, shown.ref) == ("(0 1 2 3 4 5 6 7 8 9...", True, value[1])
        assert tapevm.StatePrinter(s.state).preview(value, None).text.endswith(" 99999)")
