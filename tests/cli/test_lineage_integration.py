"""Features of different issues together: forks and renamed sessions under replay, verify, audit and blame."""

from __future__ import annotations

import json


def test_forks_and_renamed_sessions_replay_verify_and_blame(tape) -> None:
    env = {"TAPE_LLM": "echo"}
    assert tape("eval", "-i", "w", '(define a (ask "hi" :model "m")) (define r (random 100))',
                extra_env=env).returncode == 0
    assert tape("fork", "w", "fw").returncode == 0
    assert tape("eval", "-i", "fw", "(define b (now))").returncode == 0
    assert tape("eval", "-i", "w", "-f", "(define x 1)").returncode == 0  # the old 'w' is kept as 'w.1'
    for name in ("fw", "w.1", "w"):
        r = tape("replay", "-i", name, "--verify")
        assert r.returncode == 0 and "identical to the record" in r.stdout, (name, r.stderr)
        r = tape("verify", "-i", name)
        assert r.returncode == 0 and "intact" in r.stdout and "NOT" not in r.stdout, (name, r.stdout)
    r = tape("blame", "-i", "fw", "a")
    assert r.returncode == 0 and '"echo: hi"' in r.stdout
    r = tape("audit", "-i", "fw", "--kind", "effect", "--json")
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 3  # ask, random (inherited) and now


def test_image_carries_the_chain_link_of_its_source(tape, tmp_path) -> None:
    assert tape("eval", "-i", "src", "(define a 1) (define b (list 1 2))").returncode == 0
    image = tmp_path / "src.tvm"
    assert tape("image", "save", str(image), "-i", "src").returncode == 0
    r = tape("image", "verify", str(image), "--source")
    assert r.returncode == 0 and "matches its source session's log" in r.stdout
    # the same session name in another store is another log: the link does not match
    other = tmp_path / "other.db"
    assert tape("--store", str(other), "eval", "-i", "src", "(define a 2)").returncode == 0
    r = tape("--store", str(other), "image", "verify", str(image), "--source")
    assert r.returncode == 1 and "is not of this log" in r.stderr and "Traceback" not in r.stderr
    # ... a shorter log of that name, and a store without it, are named as such
    short = tmp_path / "short.db"
    assert tape("--store", str(short), "eval", "-i", "src", "1").returncode == 0
    r = tape("--store", str(short), "image", "verify", str(image), "--source")
    assert r.returncode == 1 and "session 'src' has events 1..3, and the image was saved at event 8" in r.stderr
    assert tape("--store", str(tmp_path / "third.db"), "eval", "-i", "third", "1").returncode == 0
    r = tape("--store", str(tmp_path / "third.db"), "image", "verify", str(image), "--source")
    assert r.returncode == 1 and "the store has no session 'src': --source checks an image against the store " \
        "it was saved from" in r.stderr
    # an image edited after it was saved keeps its header's link: its state and history are compared too
    assert tape("image", "save", str(tmp_path / "h.tvm"), "-i", "src", "--with-history").returncode == 0
    for source, edit in ((image, "state"), (tmp_path / "h.tvm", "history")):
        doc = json.loads(tape("image", "export", str(source)).stdout)
        if edit == "state":
            doc["state"]["namespaces"]["user"]["a"] = 999
        else:
            next(e for e in doc["history"] if e[3] == "FormSubmitted")[5]["source"] = "(define a 2)"
        (tmp_path / "edited.json").write_text(json.dumps(doc))
        assert tape("image", "import", str(tmp_path / "edited.json"), str(tmp_path / "edited.tvm")).returncode == 0
        r = tape("image", "verify", str(tmp_path / "edited.tvm"), "--source")
        assert r.returncode == 1 and f"its {edit} " in r.stderr and "was altered after it was saved" in r.stderr, \
            r.stderr
    r = tape("--store", str(tmp_path / "none.db"), "image", "verify", str(image), "--source")
    assert r.returncode == 2 and f"no store at '{tmp_path / 'none.db'}'" in r.stderr


def test_run_continue_runs_only_the_forms_not_committed(tape, tmp_path) -> None:
    prog = tmp_path / "prog.lisp"
    prog.write_text("(define a 1)\n(define b (+ a 1))\n(car 5)\n(define c (+ b 1))\n")
    r = tape("run", str(prog), "-i", "p")
    assert r.returncode == 1  # stops at (car 5); a and b are committed
    prog.write_text("(define a 1)\n(define b (+ a 1))\n(define x 0)\n(define c (+ b 1))\n")
    r = tape("run", str(prog), "-i", "p", "-u")
    assert r.returncode == 0 and "after 2 committed forms" in r.stderr
    assert tape("eval", "-i", "p", "(list a b x c)").stdout.strip() == "(1 2 0 3)"
    events = tape("log", "-i", "p", "--type", "FormSubmitted", "--json").stdout.splitlines()
    assert len(events) == 6  # a, b, (car 5), x, c, and the eval: a and b were not run twice
    prog.write_text("(define a 100)\n")  # an edited first form: nothing of this program was committed
    r = tape("run", str(prog), "-i", "p", "-u")
    assert r.returncode == 0 and "committed forms" not in r.stderr
    assert tape("eval", "-i", "p", "a").stdout.strip() == "100"
