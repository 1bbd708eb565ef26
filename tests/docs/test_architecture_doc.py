"""docs/architecture.md stays true to the code: every file it names exists, every room is in the
floor plan, and no concept is listed twice."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "architecture.md").read_text()
ROOMS = ("domain", "vm", "projections", "infrastructure", "cli")


def _concept_rows() -> list[tuple[str, str]]:
    section = DOC.split("## Where each concept lives", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1:3] for line in section.splitlines() if line.startswith("| ") and "---" not in line]
    return [(concept.strip(), where.strip()) for concept, where in rows[1:]]


def test_every_file_the_document_names_exists() -> None:
    named = set(re.findall(r"\b((?:domain|vm|projections|infrastructure|cli)/[\w/]*\.py)\b", DOC))
    missing = sorted(path for path in named if not (ROOT / path).is_file())
    assert not missing, f"docs/architecture.md names files that do not exist: {missing}"


def test_every_room_is_in_the_floor_plan() -> None:
    plan = DOC.split("## The floor plan", 1)[1].split("\n## ", 1)[0]
    folders = sorted({str(p.parent.relative_to(ROOT)) for top in ROOMS for p in (ROOT / top).rglob("__init__.py")})
    absent = [f for f in folders if f"`{f}/`" not in plan and f.rsplit("/", 1)[-1] not in plan]
    assert not absent, f"rooms missing from the floor plan: {absent}"


def test_no_concept_is_listed_twice() -> None:
    concepts = [concept for concept, _ in _concept_rows()]
    assert len(concepts) > 40
    twice = sorted({c for c in concepts if concepts.count(c) > 1})
    assert not twice, f"listed twice: {twice}"
