"""The house rules of the code's layout, read from the source with ``ast``.

* Imports point one way: ``domain`` <- ``vm`` <- ``projections`` <-
  ``infrastructure`` (``logs``/``config`` <- ``stores`` <- ``session`` and
  ``followers`` <- ``branches`` <- ``images`` <- its top-level modules) <-
  ``cli`` <- the ``tapevm`` facade.  Every import counts: top-level, inside a function, and
  under ``TYPE_CHECKING``.
* No import cycle among our modules, counting the same imports.
* No import of our own modules inside a function body, except the places
  listed in ``LAZY_IMPORTS`` with their reasons.
* No module uses another module's ``_private`` names or attributes.
* Functions of at most ``MAX_FUNCTION_LINES``; files of at most
  ``MAX_FILE_LINES``; no folder of ``infrastructure`` lists more than
  ``MAX_FLAT_FILES`` modules.
* Every subpackage's ``__init__`` says, in its docstring, what it holds and
  what it may import.

The rules read the checkout (the folders beside ``tests/``), not the installed
wheel, so they hold for what is committed.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOP_FOLDERS = ("domain", "vm", "projections", "infrastructure", "cli")
MAX_FUNCTION_LINES = 60
MAX_FILE_LINES = 600
MAX_FLAT_FILES = 10

# (importing module, imported module) pairs allowed inside a function body.
LAZY_IMPORTS: dict[str, str] = {
    "tapevm": "the facade loads the API on first use, so `import tapevm` stays light",
    "tapevm.cli.main": "each command's module is imported when that command runs (start-up time)",
    "tapevm.cli.mcp_commands": "the MCP server needs the optional mcp extra: imported when `tape mcp` runs, "
    "so that without the extra the command says what to install",
    "tapevm.infrastructure.stores.factory": "PostgreSQL (the optional extra) is imported only for a postgresql:// store",
    "tapevm.cli.ui_commands": "the web UI (the optional ui extra: starlette, uvicorn) is imported only when "
    "`tape ui` runs, after checking the extra is installed",
    "tapevm.infrastructure.models.sdk_providers": "the openai and anthropic SDKs (optional extras, slow to import) "
    "are imported only when a provider that needs one is made",
    "tapevm.infrastructure.tools.loading": "the mcp SDK (an optional extra) is imported only when an MCP server is given",
}

# Functions allowed to run longer than MAX_FUNCTION_LINES, with the reason.
LONG_FUNCTIONS: dict[str, str] = {
    "tapevm.vm.machine.Machine._loop": "the machine's dispatch loop: one frame per node kind, inlined for speed; "
    "its rare branches live in helpers",
}

# Private attributes of other libraries' objects that we must reach (no public way): the name, the
# room that may reach it ("" for anywhere) and why.
FOREIGN_PRIVATE: dict[str, tuple[str, str]] = {
    "_replace": ("", "namedtuple's public API"),
    "_asdict": ("", "namedtuple's public API"),
    "_fields": ("", "namedtuple's public API"),
    "_make": ("", "namedtuple's public API"),
    "_getframe": ("", "sys._getframe"),
    "_exit": ("", "os._exit"),
    # The eventsourcing library's, reached only in the store backends' rooms:
    "_sqlite_conn": ("tapevm.infrastructure.stores.sqlite",
                     ("the sqlite3 connection in the library's SQLiteConnection, which has no public accessor "
                      "(PRAGMAs, in_transaction)")),
    "_insert_stored_events": ("tapevm.infrastructure.stores.postgres",
                              ("PostgresAggregateRecorder's insert on the caller's cursor, bypassing the process "
                               "recorder's override (the head-checked insert)")),
    "_insert_tracking": ("tapevm.infrastructure.stores.",
                         ("a tracking row on the caller's cursor (the public insert_tracking opens its own "
                          "transaction): the tracked transactions of both backends")),
    "_max_tracking_id": ("tapevm.infrastructure.stores.sqlite",
                         "a projection's position read inside the caller's locked transaction"),
}


@dataclass(frozen=True)
class Import:
    source: str
    target: str
    in_function: bool
    type_only: bool
    line: int


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(["tapevm", *parts])


@cache
def modules() -> dict[str, Path]:
    found = {"tapevm": ROOT / "__init__.py"}
    for top in TOP_FOLDERS:
        for path in sorted((ROOT / top).rglob("*.py")):
            found[_module_name(path)] = path
    return found


@cache
def tree(module: str) -> ast.Module:
    return ast.parse(modules()[module].read_text(), filename=str(modules()[module]))


def _resolve(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module.split(".")
    if modules()[module].name != "__init__.py":
        package = package[:-1]
    package = package[: len(package) - (node.level - 1)]
    return ".".join(package + ([node.module] if node.module else []))


def _known(name: str) -> str | None:
    while name and name not in modules():
        name = name.rpartition(".")[0]
    return name or None


class _ImportVisitor(ast.NodeVisitor):
    def __init__(self, module: str) -> None:
        self.module = module
        self.depth = 0
        self.type_only = 0
        self.found: list[Import] = []

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_If(self, node: ast.If) -> None:
        if "TYPE_CHECKING" in ast.unparse(node.test):
            self.type_only += 1
            for child in node.body:
                self.visit(child)
            self.type_only -= 1
            for child in node.orelse:
                self.visit(child)
        else:
            self.generic_visit(node)

    def _add(self, target: str, line: int) -> None:
        known = _known(target)
        if known and known != self.module and known.startswith("tapevm"):
            self.found.append(Import(self.module, known, self.depth > 0, self.type_only > 0, line))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name.startswith("tapevm"):
                self._add(alias.name, node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = _resolve(self.module, node)
        if not base.startswith("tapevm"):
            return
        for alias in node.names:
            full = f"{base}.{alias.name}"
            self._add(full if full in modules() else base, node.lineno)


@cache
def imports() -> tuple[Import, ...]:
    found: list[Import] = []
    for module in modules():
        visitor = _ImportVisitor(module)
        visitor.visit(tree(module))
        found.extend(visitor.found)
    return tuple(found)


# The floors, lowest first; a module may import from its own floor's room or a lower floor.
FLOORS: tuple[tuple[str, ...], ...] = (
    ("tapevm.domain",),
    ("tapevm.vm",),
    ("tapevm.projections",),
    ("tapevm.infrastructure.logs", "tapevm.infrastructure.config"),
    ("tapevm.infrastructure.stores.records",),
    ("tapevm.infrastructure.stores.sqlite", "tapevm.infrastructure.stores.postgres"),
    ("tapevm.infrastructure.stores",),
    ("tapevm.infrastructure.durable",),
    ("tapevm.infrastructure.tools",),
    ("tapevm.infrastructure.models",),
    ("tapevm.infrastructure.steps",),
    ("tapevm.infrastructure.session", "tapevm.infrastructure.followers"),
    ("tapevm.infrastructure.branches", "tapevm.infrastructure.agents"),
    ("tapevm.infrastructure.images",),
    ("tapevm.infrastructure.lifecycle",),
    ("tapevm.infrastructure",),
    ("tapevm.cli",),
    ("tapevm",),
)


def room(module: str) -> tuple[int, str]:
    """(floor, room) of a module: the longest prefix listed in FLOORS."""
    best: tuple[int, str] | None = None
    for floor, rooms in enumerate(FLOORS):
        for prefix in rooms:
            inside = module == prefix or module.startswith(prefix + ".")
            if inside and (best is None or len(prefix) > len(best[1])):
                best = (floor, prefix)
    assert best is not None, module
    return best


def test_imports_point_one_way() -> None:
    wrong = []
    for imp in imports():
        (src_floor, src_room), (dst_floor, dst_room) = room(imp.source), room(imp.target)
        upward = dst_floor > src_floor or (dst_floor == src_floor and dst_room != src_room)
        if upward:
            wrong.append(f"{imp.source} -> {imp.target} (line {imp.line})")
    assert not wrong, "imports against the floor plan:\n" + "\n".join(sorted(wrong))


def _cycles() -> list[list[str]]:
    edges: dict[str, set[str]] = defaultdict(set)
    for imp in imports():
        edges[imp.source].add(imp.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(modules()):
        if module not in index:
            connect(module)
    return found


def test_no_import_cycles() -> None:
    cycles = _cycles()
    assert not cycles, "import cycles (counting in-function and type-only imports):\n" + "\n".join(
        " <-> ".join(c) for c in cycles
    )


def test_no_imports_of_our_modules_inside_functions() -> None:
    wrong = [
        f"{imp.source} imports {imp.target} in a function (line {imp.line})"
        for imp in imports()
        if imp.in_function and imp.source not in LAZY_IMPORTS
    ]
    assert not wrong, "\n".join(sorted(wrong))


def _own_private_names(module: ast.Module) -> set[str]:
    """Every _name a module defines: functions, classes, assignments, attributes it sets."""
    names: set[str] = set()
    for node in ast.walk(module):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
    return {n for n in names if n.startswith("_") and not n.startswith("__")}


def _foreign_private_allowed(name: str, module: str) -> bool:
    room = FOREIGN_PRIVATE.get(name)
    return room is not None and module.startswith(room[0])


def test_no_use_of_other_modules_private_names() -> None:
    wrong = []
    for module in modules():
        body = tree(module)
        own = _own_private_names(body)
        for node in ast.walk(body):
            if isinstance(node, ast.ImportFrom) and _resolve(module, node).startswith("tapevm"):
                for alias in node.names:
                    if alias.name.startswith("_") and not alias.name.startswith("__"):
                        wrong.append(f"{module}:{node.lineno} imports {alias.name}")
            elif isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
                if node.attr in own or _foreign_private_allowed(node.attr, module):
                    continue
                if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                    continue
                wrong.append(f"{module}:{node.lineno} uses {ast.unparse(node)}")
    assert not wrong, "\n".join(sorted(wrong))


def _functions(module: str) -> list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    found = []

    def walk(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found.append((f"{prefix}.{child.name}", child))
                walk(child, f"{prefix}.{child.name}")
            elif isinstance(child, ast.ClassDef):
                walk(child, f"{prefix}.{child.name}")
            else:
                walk(child, prefix)

    walk(tree(module), module)
    return found


def _body_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines from the def to the end, less the docstring (a contract, not code)."""
    lines = (node.end_lineno or node.lineno) - node.lineno + 1
    first = node.body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        lines -= (first.end_lineno or first.lineno) - first.lineno + 1
    return lines


def test_functions_are_short() -> None:
    wrong = [
        f"{name}: {_body_lines(node)} lines"
        for module in modules()
        for name, node in _functions(module)
        if _body_lines(node) > MAX_FUNCTION_LINES and name not in LONG_FUNCTIONS
    ]
    assert not wrong, f"functions over {MAX_FUNCTION_LINES} lines:\n" + "\n".join(sorted(wrong))


def test_files_are_small() -> None:
    wrong = [
        f"{path.relative_to(ROOT)}: {n} lines"
        for module, path in modules().items()
        if (n := len(path.read_text().splitlines())) > MAX_FILE_LINES
    ]
    assert not wrong, f"files over {MAX_FILE_LINES} lines:\n" + "\n".join(sorted(wrong))


def test_infrastructure_folders_are_short_lists() -> None:
    for folder in [ROOT / "infrastructure", *(p for p in (ROOT / "infrastructure").iterdir() if p.is_dir())]:
        if folder.name == "__pycache__":
            continue
        files = [p for p in folder.glob("*.py") if p.name != "__init__.py"]
        assert len(files) <= MAX_FLAT_FILES, (
            f"{folder.relative_to(ROOT)} lists {len(files)} modules: split it into rooms"
        )


@pytest.mark.parametrize("module", sorted(m for m, p in modules().items() if p.name == "__init__.py" and m != "tapevm"))
def test_every_subpackage_says_what_it_holds_and_may_import(module: str) -> None:
    doc = ast.get_docstring(tree(module)) or ""
    assert len(doc.split()) >= 12, f"{module}: its docstring should say what it holds"
    assert "import" in doc.lower(), f"{module}: its docstring should say what it may import"
