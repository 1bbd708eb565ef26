"""tapevm imports structlog when it first logs something a configuration would show, not at import.

Each case runs in a fresh interpreter: the test process itself has imported structlog.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def _python(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code, str(tmp_path / "store.db")], capture_output=True,
                          text=True, timeout=120, check=False)


def test_a_session_that_logs_nothing_never_imports_structlog(tmp_path: Path) -> None:
    r = _python("""
import sys
import tapevm
with tapevm.open_session("quiet", sys.argv[1]) as s:
    s.eval("(define x (+ 1 2))")
    s.snapshot("here")
print("structlog" in sys.modules)
""", tmp_path)
    assert r.returncode == 0 and r.stdout == "False\n", r.stderr
    assert r.stderr == ""


def test_a_warning_imports_structlog_and_prints_one_key_value_line_on_stderr(tmp_path: Path) -> None:
    r = _python("""
import sys
import tapevm
from tapevm.infrastructure.logs import get_logger
with tapevm.open_session("loud", sys.argv[1]) as s:
    s.eval("(define x 1)")
get_logger("tapevm.test").debug("hidden", n=1)
get_logger("tapevm.test").warning("shown", n=2)
print("structlog" in sys.modules)
""", tmp_path)
    assert r.returncode == 0 and r.stdout == "True\n", r.stderr
    assert r.stderr == "event='shown' level='warning' n=2\n"


def test_an_application_that_configures_structlog_gets_every_level(tmp_path: Path) -> None:
    r = _python("""
import sys
import structlog
seen = []
structlog.configure(processors=[lambda logger, method, event: seen.append((method, event["event"])) or ""],
                    logger_factory=structlog.PrintLoggerFactory(file=open("/dev/null", "w")))
import tapevm
with tapevm.open_session("app", sys.argv[1]) as s:
    s.eval("(define x 1)")
print(("debug", "session_opened") in seen)
""", tmp_path)
    assert r.returncode == 0 and r.stdout == "True\n", r.stderr
