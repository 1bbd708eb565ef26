"""Facts with evidence end to end: ``(assert! fact evidence)``, ``(fact-evidence fact)``, and the
evidence in ``tape state``, ``log``, ``blame --fact``, ``sql``, ``export``, images and merges,
through the real console script on each backend, and through the Python API."""

from __future__ import annotations

import json
from pathlib import Path

import tapevm

ANN = "(quote (likes ann tea))"


def test_evidence_everywhere_a_fact_is_shown(tape, store_url: str, tmp_path: Path) -> None:
    s = ("--store", store_url)
    assert tape(*s, "eval", "-i", "w", f'(assert! {ANN} {{:evidence "she said so" :p 0.9}})').returncode == 0
    assert tape(*s, "eval", "-i", "w", "(assert! (quote (likes bob coffee)))").returncode == 0
    r = tape(*s, "eval", "-i", "w", f"(fact-evidence {ANN})")
    assert r.returncode == 0 and r.stdout.strip() == '{:evidence "she said so" :p 0.9}', r.stderr
    assert tape(*s, "eval", "-i", "w", f'(assert! {ANN} {{:evidence "seen at lunch"}})').stdout.strip() == "#t"
    state = json.loads(tape(*s, "state", "-i", "w", "--json").stdout)
    assert state["facts"] == ["(likes bob coffee)", "(likes ann tea)"]
    assert state["fact_evidence"] == [None, '{:evidence "seen at lunch"}']
    assert '(likes ann tea) ; evidence: {:evidence "seen at lunch"}' in tape(*s, "state", "-i", "w").stdout
    assert '; evidence: {:evidence "she said so"' in tape(*s, "log", "-i", "w", "--type", "FactAsserted", "--values", "full").stdout
    audit = tape(*s, "audit", "-i", "w", "--kind", "fact", "--json").stdout.splitlines()
    assert json.loads(audit[-1])["what"] == 'assert! (likes ann tea) ; evidence: {:evidence "seen at lunch"}'
    blame = json.loads(tape(*s, "blame", "-i", "w", "--fact", "(likes ann tea)", "--json").stdout)
    assert [h["value"] for h in blame["history"]] == [
        '(likes ann tea) ; evidence: {:evidence "she said so" :p 0.9}',
        '(likes ann tea) ; evidence: {:evidence "seen at lunch"}']
    rows = json.loads(tape(*s, "sql", "SELECT fact_json, evidence_json FROM facts WHERE session='w' "
                                      "ORDER BY since", "--json").stdout)
    assert rows == [{"fact_json": '["likes","bob","coffee"]', "evidence_json": None},
                    {"fact_json": '["likes","ann","tea"]', "evidence_json": '{":evidence":"seen at lunch"}'}]
    # an export and an image keep it
    exported = tape(*s, "export", "-i", "w").stdout
    assert "(assert! '(likes ann tea) '{:evidence \"seen at lunch\"})" in exported
    assert tape(*s, "run", "-", "-i", "re", input=exported).returncode == 0
    img = tmp_path / "w.img"
    assert tape(*s, "image", "save", str(img), "-i", "w").returncode == 0
    assert tape(*s, "image", "load", str(img), "-i", "loaded").returncode == 0
    for session in ("re", "loaded"):
        r = tape(*s, "eval", "-i", session, f"(list (facts) (fact-evidence {ANN}))")
        assert r.stdout.strip() == '(((likes bob coffee) (likes ann tea)) {:evidence "seen at lunch"})', r.stderr
    # retract! drops the evidence with the fact
    assert tape(*s, "eval", "-i", "w", f"(retract! {ANN}) (fact-evidence {ANN})").stdout.strip() == "nil"


def test_evidence_merges_like_facts(tape, store_url: str) -> None:
    s = ("--store", store_url)
    assert tape(*s, "eval", "-i", "main", f"(assert! {ANN} {{:by 1}})").returncode == 0
    assert tape(*s, "fork", "main", "feat").returncode == 0
    assert tape(*s, "eval", "-i", "feat", f"(assert! {ANN} {{:by 2}}) (assert! (quote (x)) :new)").returncode == 0
    r = tape(*s, "merge", "feat", "-i", "main", "--json")
    assert r.returncode == 0, r.stderr  # only feat changed the evidence: it merges
    assert tape(*s, "eval", "-i", "main", f"(list (fact-evidence {ANN}) (fact-evidence '(x)))").stdout.strip() \
        == "({:by 2} :new)"
    assert tape(*s, "eval", "-i", "main", f"(assert! {ANN} {{:by 3}})").returncode == 0
    assert tape(*s, "eval", "-i", "feat", f"(assert! {ANN} {{:by 4}})").returncode == 0
    d = json.loads(tape(*s, "diff", "main", "feat", "--json").stdout)["changes"]
    assert [(c["kind"], c["key"], c["status"], c["a"], c["b"]) for c in d] == [
        ("fact", "(likes ann tea)", "changed", "(likes ann tea) ; evidence: {:by 3}",
         "(likes ann tea) ; evidence: {:by 4}")]
    r = tape(*s, "merge", "feat", "-i", "main")
    assert r.returncode == 1 and "1 conflicts (a fact)" in r.stderr
    log = tape(*s, "log", "-i", "feat", "--type", "FactAsserted", "--json").stdout.splitlines()
    assert json.loads(log[-1])["data"]["evidence"]["value"] == "{:by 4}"
    assert tape(*s, "merge", "feat", "-i", "main", "--prefer", "take").returncode == 0
    assert tape(*s, "eval", "-i", "main", f"(fact-evidence {ANN})").stdout.strip() == "{:by 4}"


def test_the_python_api(store_url: str, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TAPE_HOME", str(tmp_path / "home"))  # where a PostgreSQL store's read model goes
    with tapevm.open_session("w", store=store_url) as s:
        s.eval('(assert! (quote (p 1)) {:source "doc.txt"})')
        s.eval("(assert! (quote (p 2)))")
        assert s.eval('(assert! (quote (p 1)) {:source "doc.txt"})') is False
        shown = tapevm.StatePrinter(s.state)
        assert [shown(f) for f in s.state.facts.values()] == ['(p 1) ; evidence: {:source "doc.txt"}', "(p 2)"]
        assert tapevm.export_state(s.state).source.count('{:source "doc.txt"}') == 1
    with tapevm.open_store(store_url) as store:
        blame = store.blame("w", fact="(p 1)")
        assert len(blame.history) == 1 and blame.history[0].op == "assert!"
        with store.session("w", writable=False) as s:
            assert tapevm.StatePrinter(s.state)(blame.history[0].value) == '(p 1) ; evidence: {:source "doc.txt"}'
        assert store.sql("SELECT evidence_json FROM facts WHERE session='w' ORDER BY since").rows == [
            ('{":source":"doc.txt"}',), (None,)]
