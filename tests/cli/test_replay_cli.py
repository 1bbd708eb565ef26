"""``tape replay`` and ``tape resume`` through the console script."""

from __future__ import annotations

import json
from pathlib import Path

PROGRAM = '(define n 3)\n(define a (ask (str "hi " n) :model "m"))\n(define r (random 100))\n(print a)\n'
ECHO = {"TAPE_LLM": "echo"}


def _record(tape, tmp_path: Path) -> Path:
    f = tmp_path / "p.lisp"
    f.write_text(PROGRAM)
    r = tape("run", str(f), "-i", "s", extra_env=ECHO)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "echo: hi 3"
    return f


def test_replay_verify_ok_and_json(tape, tmp_path: Path) -> None:
    _record(tape, tmp_path)
    r = tape("replay", "-i", "s", "--verify")  # no TAPE_LLM: nothing is asked again
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("replayed session s: 4 forms, 17 events in ") and "identical to the record" in r.stdout
    data = json.loads(tape("replay", "-i", "s", "--verify", "--json").stdout)
    assert data["ok"] and data["events"] == 17 and data["forms"] == 4 and data["verified"]


def test_replay_reports_a_changed_program(tape, tmp_path: Path) -> None:
    f = _record(tape, tmp_path)
    changed = tmp_path / "p2.lisp"
    changed.write_text(f.read_text().replace('"hi "', '"hello "'))
    r = tape("replay", "-i", "s", "--program", str(changed))
    assert r.returncode == 1 and "Traceback" not in r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "divergence at event 6 of session s"
    assert lines[1] == f'  form:  {changed}:2  (define a (ask (str "hello " n) :model "m"))'
    assert lines[2].startswith('  cause: effect #1 of the form of event 5 was recorded as (ask "hi 3"')
    assert "args *" in r.stdout and '"hello 3"' in r.stdout
    data = json.loads(tape("replay", "-i", "s", "--program", str(changed), "--json").stdout)
    assert data["ok"] is False and data["divergence"]["seq"] == 6
    assert data["divergence"]["expected"]["data"]["args"][0] == "hi 3"
    assert data["divergence"]["actual"]["data"]["args"][0] == "hello 3"

    changed.write_text(f.read_text().replace("(define n 3)", "(define n 4)"))
    r = tape("replay", "-i", "s", "--program", str(changed))
    assert r.returncode == 1 and "value *" in r.stdout and "    user/n: 3 -> 4" in r.stdout


def test_replay_fork_with_live_effects(tape, tmp_path: Path) -> None:
    _record(tape, tmp_path)
    script = tmp_path / "llm.json"
    script.write_text(json.dumps({"default": "what if"}))
    r = tape("replay", "-i", "s", "--fork", "s2", "--live-effects", "--from", "5",
             extra_env={"TAPE_LLM": f"script:{script}"})
    assert r.returncode == 0, r.stderr
    assert "into session s2" in r.stdout
    assert tape("eval", "-i", "s2", "a").stdout == '"what if"\n'
    assert tape("eval", "-i", "s", "a").stdout == '"echo: hi 3"\n'


def test_replay_usage_errors(tape, tmp_path: Path) -> None:
    _record(tape, tmp_path)
    cases = [
        (("replay", "-i", "nobody"), 2, "error: no session 'nobody'"),
        (("replay", "-i", "s", "--live-effects"), 2, "error: --live-effects performs effects for real: it needs --fork NEW"),
        (("replay", "-i", "s", "--from", "3"), 2, "error: --from N needs --live-effects"),
        (("replay", "-i", "s", "--program", "missing.lisp"), 2, "error: no such file: missing.lisp"),
        (("replay", "-i", "s", "--fork", "s"), 2, "error: session 's' already exists; choose a new name for --fork"),
        (("resume", "-i", "nobody"), 2, "error: no session 'nobody'"),
    ]
    for args, code, message in cases:
        r = tape(*args)
        assert r.returncode == code, (args, r.stderr)
        assert r.stderr.strip().startswith(message), (args, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_ask_without_provider_and_resume_without_unfinished_form(tape) -> None:
    r = tape("eval", '(ask "hi")')
    assert r.returncode == 1
    assert "effect-unavailable: ask: no language model configured" in r.stderr
    r = tape("eval", "(ask \"hi\")", extra_env={"TAPE_LLM": "nonsense"})
    assert r.returncode == 1 and r.stderr.strip() == (
        "error (event 9): effect-unavailable: ask: unknown TAPE_LLM='nonsense': use 'script:PATH', 'echo', 'openai' or 'anthropic'")
    r = tape("eval", "(ask \"hi\")", extra_env={"TAPE_LLM": "script:/nonexistent.json"})
    assert r.returncode == 1 and r.stderr.strip().startswith(
        "error (event 13): effect-unavailable: ask: no LLM script file /nonexistent.json")
    r = tape("resume")
    assert r.returncode == 0 and r.stdout == "session default has no unfinished form\n"


def test_read_line_from_stdin_is_replayed_without_it(tape) -> None:
    r = tape("eval", "(define name (read-line)) (str \"hello \" name)", input="ann\n")
    assert r.returncode == 0 and r.stdout.splitlines()[-1] == '"hello ann"'
    r = tape("replay", "--verify", input="")
    assert r.returncode == 0 and "identical to the record" in r.stdout


def test_a_line_of_input_that_is_not_utf8_is_a_recorded_effect_error_and_replays(tmp_path: Path) -> None:
    # it failed the form with an internal error (an event cannot hold the line's lone surrogates) and
    # recorded no effect, so replay --verify of the untouched log diverged at the read-line
    import os
    import subprocess

    from tests.cli.conftest import TAPE

    env = {**{k: v for k, v in os.environ.items() if not k.startswith("TAPE_")}, "TAPE_HOME": str(tmp_path)}
    program = '(define got (try (read-line) (catch e (str "caught: " (error-message e)))))'
    r = subprocess.run([TAPE, "eval", program], input=b"\xc3\xa9b\xfe\n", capture_output=True, env=env)
    assert r.returncode == 0, r.stderr
    shown = subprocess.run([TAPE, "eval", "got"], capture_output=True, text=True, env=env).stdout
    assert shown.strip() == '"caught: read-line: the input line is not UTF-8 text (byte 0xfe at offset 3); ' \
                           'give UTF-8 input"'
    r = subprocess.run([TAPE, "replay", "--verify"], input=b"", capture_output=True, env=env)
    assert r.returncode == 0 and b"identical to the record" in r.stdout


def test_research_example_replays_offline(tape) -> None:
    examples = Path(__file__).resolve().parents[2] / "examples"
    env = {"TAPE_LLM": f"script:{examples / 'llm_script.json'}"}
    r = tape("run", str(examples / "research.lisp"), "-i", "research", extra_env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1] == "Three suppliers; Globex is cheapest at 95."
    r = tape("replay", "-i", "research", "--verify")
    assert r.returncode == 0 and "identical to the record" in r.stdout
    effects = [json.loads(x) for x in tape("audit", "-i", "research", "--kind", "effect", "--json").stdout.splitlines()]
    assert [e["what"].split()[0] for e in effects] == ["(now)", "(ask", "(ask", "(ask", "(random", "(ask"]


def test_unfinished_form_blocks_until_resumed(tape, tmp_path: Path) -> None:
    from tapevm.infrastructure.session.service import open_session

    assert tape("eval", "1").returncode == 0  # creates the store under TAPE_HOME
    with open_session("default", str(tmp_path / "home" / "store.db")) as s:
        @s.tool("die")
        def die() -> None:
            raise KeyboardInterrupt

        try:
            s.run('(define b (list (random 5) (tool "die")))')
        except KeyboardInterrupt:
            pass
    r = tape("eval", "(+ 1 2)")
    assert r.returncode == 2 and r.stderr.strip() == (
        "error: session 'default' has an unfinished form at event 4 (interrupted); "
        "finish it first with 'tape resume -i default' (Session.resume()), or give it up with "
        "'tape resume --abandon -i default' (Session.abandon())")
    r = tape("resume")  # the tool is not registered in the CLI: the form finishes with that error
    assert r.returncode == 1 and r.stderr.strip() == (
        "error (event 9): effect-unavailable: tool: no tool named 'die' (registered: none)")
    assert tape("eval", "(+ 1 2)").stdout == "3\n"
    assert tape("replay", "--verify").returncode == 0
