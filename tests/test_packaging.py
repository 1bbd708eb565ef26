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
