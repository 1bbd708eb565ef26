"""Features of different issues together: forks and renamed sessions under replay, verify, audit and blame."""

from __future__ import annotations


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
