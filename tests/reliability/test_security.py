"""Security: the VM cannot reach the host; stored data is never unpickled; credentials never leak.

End to end, through a session on a real store and through the ``tape``
command (tests/vm/test_determinism_and_sandbox.py covers the VM alone):

* escapes (Python names and dunders, ``eval``/``read-string`` of host-y
  text, host paths in the world's file primitives) fail or stay inside the
  VM's own world: no host file is read, written or created, and no host
  content reaches the log;
* the process environment is unreachable (a secret in it never shows up);
* huge allocations end as errors, not crashes, and leave the store whole;
* no module of tapevm imports pickle, marshal, shelve or dill;
* a store URL's password never appears in errors, logs (``--debug``) or output.
"""

from __future__ import annotations

import ast
import hashlib
import os
import subprocess
import uuid
from pathlib import Path

import pytest

from tapevm.domain.errors import TapeError
from tapevm.infrastructure.session.service import open_session
from tapevm.infrastructure.stores.factory import open_store
from tests.cli.conftest import TAPE

from ._checks import check_session_log

ROOT = Path(__file__).resolve().parents[2]
MARKER = f"/tmp/tapevm-escape-{uuid.uuid4().hex[:8]}"
ESCAPES = [
    '(__import__ "os")',
    '(open "/etc/passwd")',
    '(eval (read-string "(__import__ \\"os\\")"))',
    '(eval (list (string->symbol "__builtins__")))',
    '(getattr car "__globals__")',
    '(. car __class__)',
    '(car.__class__.__mro__)',
    '(read-file "/etc/passwd")',
    '(read-file "../../../../etc/passwd")',
    '(read-file "/proc/self/environ")',
    f'(write-file! "{MARKER}" "x")',
    '(write-file! "../escape.txt" "x")',
    '(write-file! "/etc/passwd" "owned")',
    '(delete-file! "/etc/hostname")',
    '(format "{0.__class__.__init__.__globals__}" 1)',
    '(apply (string->symbol "exec") (list "import os"))',
    '(eval (quote (import os)))',
    '(str (read-string "#.(os.system \\"id\\")"))',
    '(list-files "/")',
    '(getenv "HOME")',
]


def _digest(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_escapes_through_a_session_stay_in_the_vm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    passwd = _digest("/etc/passwd")
    store_path = str(tmp_path / "store.db")
    monkeypatch.chdir(tmp_path)
    with open_session("sec", store_path) as s:
        for source in ESCAPES:
            try:
                outcomes = s.run(source)
            except TapeError:  # refused before running (a syntax error): fine
                continue
            for outcome in outcomes:
                assert outcome.ok is False or "root:" not in outcome.printed, source
    assert _digest("/etc/passwd") == passwd
    assert not os.path.exists(MARKER) and not (tmp_path.parent / "escape.txt").exists()
    assert os.path.exists("/etc/hostname")
    raw = Path(store_path).read_bytes() + (Path(store_path + "-wal").read_bytes()
                                           if Path(store_path + "-wal").exists() else b"")
    assert b"root:x:0:0" not in raw and b"root:" not in raw
    with open_store(store_path) as store:
        check_session_log(store, "sec")


def test_the_environment_is_unreachable(tmp_path: Path) -> None:
    secret = "sekret-" + uuid.uuid4().hex
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAPE_")}
    env.update({"TAPE_HOME": str(tmp_path), "TAPE_SECRET": secret, "HOME": str(tmp_path)})
    store = str(tmp_path / "store.db")
    for source in ['(getenv "TAPE_SECRET")', '"$TAPE_SECRET"', '(read-file "/proc/self/environ")',
                   '(str (quote $TAPE_SECRET))', '(env)', '(os.environ)']:
        done = subprocess.run([TAPE, "--store", store, "eval", source], env=env, capture_output=True, text=True,
                              check=False)
        assert secret not in done.stdout + done.stderr
    assert secret.encode() not in Path(store).read_bytes()


@pytest.mark.parametrize("source", [
    '(define (dbl s n) (if (= n 0) (string-length s) (dbl (str s s) (- n 1)))) (dbl "x" 40)',
    "(length (range 100000000000))",
    "(expt 10 100000000)",
    "(define (f n) (+ 1 (f n))) (f 1)",
    pytest.param("(reduce (lambda (acc x) (append acc acc)) (list 1) (range 40))", marks=pytest.mark.slow),
])
def test_huge_allocations_are_errors_not_crashes(tmp_path: Path, source: str) -> None:
    """Run under a 1.5 GB address-space limit: the form fails with one line, the store stays whole."""
    store = str(tmp_path / "store.db")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAPE_")} | {"TAPE_HOME": str(tmp_path)}
    done = subprocess.run(["bash", "-c", 'ulimit -v 1500000; exec "$@"', "tape", TAPE, "--store", store, "eval",
                           source], env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 1, (done.returncode, done.stderr[-2000:])
    assert done.stderr.strip().count("\n") == 0 and "Traceback" not in done.stderr, done.stderr[-2000:]
    with open_store(store) as s:
        check_session_log(s, "default")


FORBIDDEN = {"pickle", "cPickle", "_pickle", "marshal", "shelve", "dill", "cloudpickle", "jsonpickle"}


def test_no_module_can_unpickle_stored_data() -> None:
    offenders = []
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT)
        if rel.parts[0] in {".venv", "build", "tests"} or "site-packages" in rel.parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "__import__":
                names = [getattr(node.args[0], "value", "")] if node.args else []
            offenders += [f"{rel}:{node.lineno} {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert not offenders, offenders
    assert (ROOT / "infrastructure" / "stores" / "records" / "record_codec.py").exists(), "the scan did not see the package"


PASSWORD = "s3cret-" + uuid.uuid4().hex[:8]


def _tape_env(tmp_path: Path) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("TAPE_")} | {"TAPE_HOME": str(tmp_path)}


def test_password_never_shown_when_the_server_is_unreachable(tmp_path: Path) -> None:
    url = f"postgresql://bob:{PASSWORD}@127.0.0.1:1/test?connect_timeout=1"
    for args in (["sessions"], ["--debug", "sessions"], ["eval", "1"], ["--debug", "log"]):
        done = subprocess.run([TAPE, "--store", url, *args], env=_tape_env(tmp_path), capture_output=True,
                              text=True, timeout=120, check=False)
        assert done.returncode == 1
        assert PASSWORD not in done.stdout + done.stderr
        assert "bob:***@127.0.0.1:1" in done.stderr
    env = _tape_env(tmp_path) | {"TAPE_STORE": url}
    done = subprocess.run([TAPE, "--debug", "info"], env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    assert PASSWORD not in done.stdout + done.stderr


@pytest.mark.postgres
def test_password_never_shown_in_output_or_logs(postgres_url: str, tmp_path: Path) -> None:
    """The test server trusts local connections, so a URL with a password connects: nothing may echo it."""
    import psycopg

    schema = "sec_" + uuid.uuid4().hex[:8]
    user_host = postgres_url.split("://", 1)[1]
    user, host = user_host.split("@", 1)
    url = f"postgresql://{user}:{PASSWORD}@{host}?schema={schema}"
    try:
        outputs = []
        for args in (["eval", "(define x 1)"], ["--debug", "eval", "(car 1)"], ["--debug", "info", "--json"],
                     ["sessions", "--json"], ["log"], ["--debug", "state", "--json"], ["info", "-i", "nobody"]):
            done = subprocess.run([TAPE, "--store", url, *args], env=_tape_env(tmp_path), capture_output=True,
                                  text=True, timeout=120, check=False)
            outputs.append(done.stdout + done.stderr)
        assert all(PASSWORD not in o for o in outputs), [o for o in outputs if PASSWORD in o]
        assert "***" in outputs[2]  # tape info names the store, redacted
        with open_store(url) as store:
            assert PASSWORD not in store.url_for_display
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_provider_secrets_never_reach_the_log_or_the_terminal(tmp_path: Path) -> None:
    """A server that echoes the key in its 401 (``Incorrect API key provided: Bearer sk-...``), a model
    that repeats a secret ``TAPE_SECRETS`` names, a base URL with ``user:password@``: the key, the
    secret and the password reach no error line, no ``tape log`` (text or JSON), no store byte (the
    compressed records opened), no image and no export; each shows as ``[secret NAME]``."""
    from tests.effects.echoing_provider import echoing_provider, texts_in

    key, deploy, password = ("sk-" + uuid.uuid4().hex, "dep-" + uuid.uuid4().hex, "pw-" + uuid.uuid4().hex)
    leaks = [key[:8], key[-8:], deploy, password]
    store = str(tmp_path / "store.db")
    printed: list[str] = []

    def tape(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([TAPE, "--store", store, *args], env=env | extra, capture_output=True, text=True,
                              timeout=120, check=False)
        printed.append(done.stdout + done.stderr)
        return done

    with echoing_provider(good_key="sk-the-right-one") as server:
        server.answer = f"the deploy token is {deploy}"
        env = _tape_env(tmp_path) | {"TAPE_LLM": "openai", "TAPE_LLM_BASE_URL": server.url, "TAPE_LLM_MODEL": "m",
                                     "TAPE_LLM_API_KEY": key, "DEPLOY_TOKEN": deploy, "TAPE_SECRETS": "DEPLOY_TOKEN"}
        failed = tape("eval", '(ask "hi")')
        assert failed.returncode == 1 and "Incorrect API key provided: Bearer [secret TAPE_LLM_API_KEY]" in failed.stderr
        caught = tape("eval", '(try (ask "hi") (catch e (error-message e)))')
        assert "[secret TAPE_LLM_API_KEY]" in caught.stdout
        answered = tape("eval", '(ask "the token?")', TAPE_LLM_API_KEY="sk-the-right-one")
        assert answered.stdout.strip() == '"the deploy token is [secret DEPLOY_TOKEN]"'
        in_url = tape("eval", '(ask "hi")', TAPE_LLM_API_KEY="",
                      TAPE_LLM_BASE_URL=server.url.replace("http://", f"http://bob:{password}@"))
        assert "http://bob:[secret TAPE_LLM_BASE_URL password]@127.0.0.1" in in_url.stderr
    assert "[secret DEPLOY_TOKEN]" in tape("log", COLUMNS="300").stdout
    assert "[secret TAPE_LLM_API_KEY]" in tape("log", "--json").stdout
    mistyped = tape("log", "-i", key)  # a key pasted where a session name goes
    assert mistyped.returncode != 0 and "[secret TAPE_LLM_API_KEY]" in mistyped.stderr
    assert tape("image", "save", str(tmp_path / "s.img"), "--with-history").returncode == 0
    assert "[secret DEPLOY_TOKEN]" in tape("image", "export", str(tmp_path / "s.img")).stdout
    tape("export")
    assert not [text for text in printed if any(leak in text for leak in leaks)]
    for path in (store, store + "-wal", str(tmp_path / "s.img")):
        if Path(path).exists():
            data = texts_in(Path(path).read_bytes())
            assert not [leak for leak in leaks if leak.encode() in data], path


@pytest.mark.parametrize(("value", "says"), [
    ("GITHUB_TOKEN,bad-name", "error: TAPE_SECRETS='GITHUB_TOKEN,bad-name': 'bad-name' is not an environment variable"),
    ("SHORT", "error: TAPE_SECRETS names SHORT, whose value is shorter than a secret can be (4 to 65,536 characters"),
])
def test_tape_secrets_that_cannot_be_used_are_refused_by_every_command(tmp_path: Path, value: str, says: str) -> None:
    """A secret the user meant to mask and tapevm cannot is a usage error before anything runs, not a leak."""
    env = _tape_env(tmp_path) | {"TAPE_SECRETS": value, "SHORT": "ab"}
    for args in (["sessions"], ["eval", "1"]):
        done = subprocess.run([TAPE, *args], env=env, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 2 and done.stderr.startswith(says) and done.stderr.count("\n") == 1, done.stderr
    assert not (tmp_path / "store.db").exists()
