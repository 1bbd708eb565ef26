"""docs/language.md is executable: every ```lisp block runs, and every built-in is documented.

Example blocks
--------------
Every fenced block opened with ```lisp is run in a fresh ``Interpreter(World())``,
one top-level form at a time, each form in its own transaction as a session
runs it (``world.begin()``; ``commit()`` on success, ``rollback()`` on a Lisp
error).  Comment lines starting with one of these markers check what the forms
written since the previous marker did (the last of them, for a value):

* ``;; => TEXT``      the value, printed with ``to_source``, is exactly TEXT;
* ``;; error: KIND``  the form raised an uncaught error of that kind;
* ``;; prints: "…"``  the output of the forms (a Lisp string literal).

A marker right after another marker checks the same forms again.  Forms after
the last marker still run and must not fail.  Blocks fenced ```text are
not run.

The built-in reference
----------------------
In the section "## Built-in functions", an entry is a line
``- `(name args)`, `(alias args)` — description``.  The signatures must
name every primitive of the registry exactly once, and their arity must match
the registry's: ``[x]`` is optional, a trailing ``...`` (``x...``) means any
number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tapevm.vm.errors import LispError
from tapevm.vm.interpreter import Interpreter
from tapevm.vm.primitives.registry import all_primitives
from tapevm.vm.printer import to_source
from tapevm.vm.reader import read_one
from tapevm.vm.world import OUTPUT, World

DOC = Path(__file__).resolve().parents[2] / "docs" / "language.md"
TEXT = DOC.read_text(encoding="utf-8")

MARKER = re.compile(r"^\s*;;\s*(=>|error:|prints:)\s?(.*)$")


@dataclass
class Check:
    line: int            # line in docs/language.md of the marker
    source: str          # forms written since the previous marker ("" = same as before)
    kind: str            # "=>", "error:" or "prints:"
    expected: str


@dataclass
class Block:
    line: int            # line in docs/language.md of the opening fence
    checks: list[Check] = field(default_factory=list)
    tail: str = ""       # forms after the last marker


def lisp_blocks(text: str) -> list[Block]:
    blocks: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].strip() == "```lisp":
            block = Block(i + 1)
            pending: list[str] = []
            i += 1
            while lines[i].strip() != "```":
                m = MARKER.match(lines[i])
                if m:
                    block.checks.append(Check(i + 1, "\n".join(pending), m.group(1), m.group(2).strip()))
                    pending = []
                else:
                    pending.append(lines[i])
                i += 1
            block.tail = "\n".join(pending)
            blocks.append(block)
        i += 1
    return blocks


BLOCKS = lisp_blocks(TEXT)


class Runner:
    """Runs forms as a session would: one transaction per top-level form."""

    def __init__(self) -> None:
        self.interp = Interpreter(World())

    def run(self, source: str) -> tuple[bool, Any, str]:
        """(ok, value or error value, output) of the forms of ``source`` (the last one's value)."""
        world = self.interp.world
        ok, value, output = True, None, []
        for form, _, _, _ in self.interp.read_forms(source, str(DOC)):
            world.begin()
            try:
                value = self.interp.eval_form(form)
            except LispError as exc:
                printed = world.rollback()
                output += [m.args[0] for m in printed]
                ok, value = False, exc.error
                continue
            output += [m.args[0] for m in world.take_mutations() if m.kind == OUTPUT]
            world.commit()
            ok = True
        return ok, value, "".join(output)


def test_the_document_has_examples() -> None:
    assert len(BLOCKS) >= 40
    assert sum(len(b.checks) for b in BLOCKS) >= 250


@pytest.mark.parametrize("block", BLOCKS, ids=[f"line{b.line}" for b in BLOCKS])
def test_example_block(block: Block) -> None:
    runner = Runner()
    last: tuple[bool, Any, str] | None = None
    for check in block.checks:
        where = f"docs/language.md:{check.line}"
        if check.source.strip() or last is None:
            last = runner.run(check.source)
        ok, value, output = last
        if check.kind == "=>":
            shown = to_source(value) if ok else f"error {value.kind}: {value.message}"
            assert shown == check.expected, where
        elif check.kind == "error:":
            shown = to_source(value) if ok else value.kind
            assert not ok and value.kind == check.expected, f"{where}: got {shown}"
        else:
            assert output == read_one(check.expected), where
    if block.tail.strip():
        ok, value, _ = runner.run(block.tail)
        assert ok, f"block at docs/language.md:{block.line}: the last forms failed: {value}"


# -- the built-in reference ------------------------------------------------------------------
SIGNATURE = re.compile(r"`\(([^`\s()]+)((?:\s[^`]*)?)\)`")


def documented_signatures() -> dict[str, list[str]]:
    """name -> parameter tokens, from the entries of the built-in reference."""
    start = TEXT.index("\n## Built-in functions")
    end = TEXT.find("\n## ", start + 1)
    section = TEXT[start:end if end >= 0 else None]
    found: dict[str, list[str]] = {}
    for line in section.splitlines():
        if not line.startswith("- `("):
            continue
        head = line.split(" — ", 1)[0]
        for name, params in SIGNATURE.findall(head):
            assert name not in found, f"{name} is documented twice"
            found[name] = params.split()
    return found


def arity(params: list[str]) -> tuple[int, int | None]:
    required = optional = 0
    variadic = False
    for p in params:
        if p.endswith("..."):
            variadic = True
        elif p.startswith("["):
            optional += 1
        else:
            required += 1
    return required, None if variadic else required + optional


def test_every_primitive_is_documented() -> None:
    registry = all_primitives()
    documented = documented_signatures()
    assert sorted(set(registry) - set(documented)) == [], "built-ins missing from docs/language.md"
    assert sorted(set(documented) - set(registry)) == [], "documented built-ins that do not exist"


def test_documented_arities_match_the_registry() -> None:
    registry = all_primitives()
    wrong = {}
    for name, params in documented_signatures().items():
        prim = registry.get(name)
        if prim is not None and arity(params) != (prim.min_args, prim.max_args):
            wrong[name] = (params, (prim.min_args, prim.max_args))
    assert wrong == {}


def test_every_special_form_is_documented() -> None:
    from tapevm.vm.compiler import SPECIAL_FORMS

    missing = [s.name for s in SPECIAL_FORMS if f"`{s.name}`" not in TEXT and f"`({s.name}" not in TEXT]
    assert missing == []


def test_every_error_kind_is_documented() -> None:
    from tapevm.vm import errors

    kinds = [v for k, v in vars(errors).items() if k.isupper() and isinstance(v, str)]
    kinds += ["bad-namespace"]
    missing = [k for k in kinds if f"`{k}`" not in TEXT]
    assert missing == []
