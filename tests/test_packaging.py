"""The packaging contract: every folder with an __init__.py is a listed subpackage."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SKIP = {".venv", "build", "dist", "tests", "bench", "examples", "docs", ".git", ".ci"}


def _config() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_every_package_folder_is_listed() -> None:
    config = _config()
    listed = set(config["packages"])
    mapped = {v.rstrip("/"): k for k, v in config["package-dir"].items()}
    missing = []
    for init in ROOT.rglob("__init__.py"):
        folder = init.parent.relative_to(ROOT)
        if folder.parts and (folder.parts[0] in SKIP or folder.parts[0].startswith(".")):
            continue
        key = "." if str(folder) == "." else str(folder)
        package = mapped.get(key)
        if package is None or package not in listed:
            missing.append(str(folder))
    assert not missing, f"folders with __init__.py missing from [tool.setuptools] packages: {missing}"


def test_listed_packages_exist() -> None:
    config = _config()
    for package in config["packages"]:
        folder = config["package-dir"][package]
        assert (ROOT / folder / "__init__.py").is_file(), f"{package} -> {folder} has no __init__.py"


def test_installed_package_imports_every_subpackage() -> None:
    import importlib

    for package in _config()["packages"]:
        importlib.import_module(package)


def test_a_sqlite_command_does_not_import_the_postgresql_driver(tmp_path: Path) -> None:
    """psycopg costs ~0.15 s of every `tape` start; only a postgresql:// store may load it."""
    import subprocess
    import sys

    probe = ("import sys\n"
             "from tapevm.cli.main import cli\n"
             f"cli(['--store', {str(tmp_path / 's.db')!r}, 'eval', '(define x 1)'], obj={{}}, standalone_mode=False)\n"
             "print(sorted(m for m in sys.modules if m.startswith(('psycopg', 'eventsourcing.postgres'))))\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_the_web_ui_assets_ship_in_the_wheel() -> None:
    """`tape ui` serves its own files (vendored htmx, CSS, script): they must be in the wheel.

    Read through the installed package, which is the wheel in CI (.ci/run) and, in a strict editable
    install, a link tree holding only what the wheel would hold; so a file left out of
    ``package-data`` is missing here either way."""
    from importlib.resources import files

    static = ROOT / "cli" / "ui" / "static"
    shipped = files("tapevm.cli.ui") / "static"
    names = sorted(p.name for p in static.iterdir() if p.is_file())
    assert {"htmx.min.js", "ui.js", "ui.css"} <= set(names)
    for name in names:
        assert (shipped / name).is_file(), f"cli/ui/static/{name} is not in the installed package (package-data)"
        assert (shipped / name).read_bytes() == (static / name).read_bytes()
