"""How long a ``tape`` command takes from exec to exit, against starting Python itself.

Agents and scripts often call ``tape eval`` once per step, so its start-up is paid
on every step.  No target in the issues; reported so a change that makes every
command slower shows.  Each command runs ``--repeat`` times (default 15),
interleaved with the baselines, and the median wall time is reported:

* baseline ``python -c pass``: the interpreter alone;
* baseline ``python -c "import click, rich.console, structlog, pydantic"``: the libraries every command needs;
* ``tape --version``: the CLI's own imports;
* ``tape eval '(+ 1 2)'`` on an existing session (open, one committed form, close);
* ``tape log`` of that session and ``tape image info`` of a small image.

    .venv/bin/python bench/bench_cli_start.py
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import _common as C


def main() -> None:
    p = C.parser(__doc__.splitlines()[0])
    args = p.parse_args()
    repeat = args.repeat or (2 if args.quick else 15)
    tape = shutil.which("tape", path=str(Path(sys.executable).parent))
    assert tape, "the 'tape' console script is not installed in this venv"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAPE_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # compiled modules are cached, as on a user's machine
    with C.workdir(args) as tmp:
        env["TAPE_STORE"] = str(tmp / "store.db")
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "python + click, rich, structlog, pydantic": [
                sys.executable, "-c", "import click, rich.console, structlog, pydantic"],
            "tape --version": [tape, "--version"],
            "tape eval": [tape, "eval", "-i", "s", "(+ 1 2)"],
            "tape log": [tape, "log", "-i", "s", "--json"],
            "tape image info": [tape, "image", "info", str(tmp / "s.img")],
        }
        for setup in ([tape, "eval", "-i", "s", "(define x 1)"], [tape, "image", "save", str(tmp / "s.img"), "-i", "s"]):
            subprocess.run(setup, env=env, capture_output=True, check=True)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(repeat):
            for name, cmd in commands.items():
                t0 = time.perf_counter()
                subprocess.run(cmd, env=env, capture_output=True, check=True)
                times[name].append(time.perf_counter() - t0)
    median = {name: statistics.median(ts) * 1000 for name, ts in times.items()}
    python_ms, libs_ms = median["python -c pass"], median["python + click, rich, structlog, pydantic"]
    rows: list[tuple[str, object]] = [("repeat", repeat)]
    for name, ms in median.items():
        rows.append((f"{name} ms (median)", ms))
    for name in ("tape --version", "tape eval", "tape log", "tape image info"):
        rows.append((f"{name} / python start", median[name] / python_ms))
        rows.append((f"{name} - libraries' imports ms", median[name] - libs_ms))
    C.emit("cli_start", rows, {"median_ms": median, "repeat": repeat, "quick": args.quick})


if __name__ == "__main__":
    main()
