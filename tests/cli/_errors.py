"""What every bad-input test of the CLI checks: one line on stderr, no traceback, the right exit code."""

from __future__ import annotations

import subprocess


def assert_one_line_error(r: subprocess.CompletedProcess[str], code: int, *texts: str) -> None:
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    for text in texts:
        assert text in r.stderr, (text, r.stderr)
