"""The fold's handler table: one fixed literal naming every event type, none taught by an import."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Mapping
from types import ModuleType

from tapevm.domain import events
from tapevm.domain.events import Event
from tapevm.domain.fold import HANDLERS


def event_types_of(module: ModuleType) -> set[str]:
    """The type names of the event classes ``module`` itself defines (not those tests define)."""
    return {cls.type_name for cls in vars(module).values()
            if isinstance(cls, type) and issubclass(cls, Event) and cls is not Event
            and cls.__module__ == module.__name__}


def unnamed(table: Mapping[str, object], module: ModuleType) -> set[str]:
    """The event types of ``module`` that ``table`` has no entry for."""
    return event_types_of(module) - set(table)


def test_the_table_names_every_event_type() -> None:
    assert unnamed(HANDLERS, events) == set()


def test_the_table_names_nothing_but_event_types() -> None:
    assert set(HANDLERS) - event_types_of(events) == set()


def test_a_missing_event_type_is_caught() -> None:
    """What the check above would say of a table that forgot one kind of event."""
    table = {name: handler for name, handler in HANDLERS.items() if name != "StateRestored"}
    assert unnamed(table, events) == {"StateRestored"}


def test_a_restore_folds_with_nothing_else_imported() -> None:
    """In a fresh interpreter that imports the fold alone, a StateRestored applies its delta:
    no other module has to be imported first to teach the fold anything."""
    program = textwrap.dedent("""
        import sys
        from tapevm.domain.fold import fold_fields
        delta = {"bindings": {"user": {"removed": {"x": 1}}}}
        state = fold_fields([(1, "Defined", {"ns": "user", "name": "x", "value": 1}),
                             (2, "StateRestored", {"snapshot": "s", "target": 0, "delta": delta})])
        assert state.namespaces["user"] == {}, state.namespaces
        assert not [m for m in sys.modules if m.startswith(("tapevm.projections", "tapevm.infrastructure"))]
    """)
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
