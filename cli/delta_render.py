"""How a delta looks: values as Lisp source, for people (a table) and machines (JSON).

The JSON shape is documented in docs/cli.md (``tape delta --json``).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from rich.table import Table

from tapevm.cli.render import ValuePrinter, short
from tapevm.domain.state import State
from tapevm.projections.delta import Delta, MapChange


def _shown(change: MapChange[Any], show: ValuePrinter) -> dict[str, Any]:
    return {
        "added": {str(k): show(v) for k, v in sorted(change.added.items())},
        "changed": {str(k): [show(o), show(n)] for k, (o, n) in sorted(change.changed.items())},
        "removed": {str(k): show(v) for k, v in sorted(change.removed.items())},
    }


def delta_json(session: str, a: int, b: int, delta: Delta, head: State) -> dict[str, Any]:
    """``head``'s content can show every value of the log (content only grows)."""
    show = ValuePrinter(head)
    files = delta.files
    return {
        "session": session,
        "from": a,
        "to": b,
        "empty": delta.is_empty(),
        "summary": delta.summary(),
        "current_ns": list(delta.current_ns) if delta.current_ns else None,
        "bindings": {ns: _shown(c, show) for ns, c in sorted(delta.bindings.items())},
        "atoms": _shown(delta.atoms, show),
        "facts": {
            "asserted": [show(f) for f in delta.facts.asserted],
            "retracted": [show(f) for _, f in sorted(delta.facts.retracted.items())],
        },
        "files": {
            "written": {p: {"content": k, "size": len(head.blobs.get(k)), "before": _file(head, files.changed.get(p))}
                        for p, k in sorted({**files.added, **{p: n for p, (_, n) in files.changed.items()}}.items())},
            "deleted": sorted(files.removed),
        },
        "encoded": delta.model_dump(mode="json"),
    }


def _file(head: State, change: tuple[str, str] | None) -> dict[str, Any] | None:
    """The version a written file had before (None for a file the delta adds)."""
    if change is None:
        return None
    return {"content": change[0], "size": len(head.blobs.get(change[0]))}


def _changed_rows(table: Table, kind: str, c: dict[str, Any], label: Callable[[Any], str]) -> None:
    """Rows for a map's ``added``/``changed``/``removed`` entries (bindings of a namespace, atoms)."""
    for k, v in c["added"].items():
        table.add_row(f"[green]+ {kind}[/green]", label(k), "", short(v, 60))
    for k, (o, n) in c["changed"].items():
        table.add_row(f"[yellow]~ {kind}[/yellow]", label(k), short(o, 60), short(n, 60))
    for k, v in c["removed"].items():
        table.add_row(f"[red]- {kind}[/red]", label(k), short(v, 60), "")


def delta_table(data: dict[str, Any]) -> Table:
    """One row per change: what, where, before, after."""
    table = Table(title=f"session {data['session']}: delta {data['from']} -> {data['to']}"
                        + (" (no changes)" if data["empty"] else ""))
    for col in ("change", "what", "before", "after"):
        table.add_column(col)
    if data["current_ns"]:
        table.add_row("namespace", "current", *data["current_ns"])
    for ns, c in data["bindings"].items():
        _changed_rows(table, "binding", c, partial("{}/{}".format, ns))
    _changed_rows(table, "atom", data["atoms"], lambda k: f"#{k}")
    for f in data["facts"]["retracted"]:
        table.add_row("[red]- fact[/red]", short(f, 60), "", "")
    for f in data["facts"]["asserted"]:
        table.add_row("[green]+ fact[/green]", short(f, 60), "", "")
    for p, info in data["files"]["written"].items():
        if info["before"] is None:
            table.add_row("[green]+ file[/green]", p, "", f"{info['size']} bytes")
        else:
            table.add_row("[yellow]~ file[/yellow]", p, f"{info['before']['size']} bytes", f"{info['size']} bytes")
    for p in data["files"]["deleted"]:
        table.add_row("[red]- file[/red]", p, "", "")
    return table
