"""Where a session's tools come from when it is not given them in Python.

Three sources, merged in this order (a later one wins a name):

* the ``tapevm.tools`` entry-point group of the installed packages (each entry
  point names an object, as ``MODULE:ATTR`` does);
* ``TAPE_TOOLS``: ``MODULE:ATTR`` specs separated by commas or whitespace;
* the command line's ``--tools MODULE:ATTR`` and ``--mcp-server CMD|URL``,
  which ``tape`` hands over with :func:`use_for_process` before any session
  opens (the options apply to every session the command opens, replay's forks
  included, as an environment variable would).

An object gives tools by what it is: a ``@tapevm.tool`` (its name), a plain
function (its ``__name__``), a mapping of names to callables, a list of any
of these, or a module (its declared tools).  A spec that does not import or
names nothing that is a tool is a UsageError saying which.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from types import ModuleType
from typing import Any

from tapevm.domain.errors import EffectProviderError, UsageError
from tapevm.infrastructure.config import Settings
from tapevm.infrastructure.tools.declaration import DeclaredTool

Tool = Callable[..., Any]
ENTRY_POINT_GROUP = "tapevm.tools"

_process_tools: dict[str, Tool] = {}


def use_for_process(tools: Mapping[str, Tool]) -> None:
    """Tools the command line loaded, given to every session this process opens from now on."""
    _process_tools.update(tools)


def tools_of(obj: Any, origin: str) -> dict[str, Tool]:
    """The tools ``obj`` gives (see the module docstring); a UsageError naming ``origin`` when it gives none."""
    if isinstance(obj, DeclaredTool):
        return {obj.name: obj}
    if isinstance(obj, ModuleType):
        found: dict[str, Tool] = {v.name: v for v in vars(obj).values() if isinstance(v, DeclaredTool)}
        if not found:
            raise UsageError(f"{origin}: module {obj.__name__} declares no @tapevm.tool; name one as MODULE:ATTR")
        return found
    if isinstance(obj, Mapping):
        if not all(isinstance(k, str) and callable(v) for k, v in obj.items()):
            raise UsageError(f"{origin}: a mapping of tools maps names to functions")
        return dict(obj)
    if isinstance(obj, (list, tuple)):
        out: dict[str, Tool] = {}
        for item in obj:
            out.update(tools_of(item, origin))
        return out
    if callable(obj) and hasattr(obj, "__name__"):
        return {obj.__name__: obj}
    raise UsageError(f"{origin}: {obj!r} is not a tool (give a @tapevm.tool, a function, a list or a dict of them)")


def load_spec(spec: str) -> dict[str, Tool]:
    """The tools of ``MODULE:ATTR`` (or a whole ``MODULE``'s declared tools)."""
    module_name, _, attr = spec.partition(":")
    if not module_name:
        raise UsageError(f"--tools {spec!r}: give MODULE:ATTR (e.g. mytools:search)")
    if os.getcwd() not in sys.path and "" not in sys.path:  # (as `python -m` does: a tools.py beside you loads)
        sys.path.insert(0, os.getcwd())
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as e:
        raise UsageError(f"--tools {spec!r}: cannot import {module_name} ({e}); is it on PYTHONPATH?") from None
    for part in attr.split(".") if attr else []:
        if not hasattr(obj, part):
            raise UsageError(f"--tools {spec!r}: {module_name} has no {attr}")
        obj = getattr(obj, part)
    return tools_of(obj, f"--tools {spec}")


def load_specs(specs: Iterable[str]) -> dict[str, Tool]:
    out: dict[str, Tool] = {}
    for spec in specs:
        out.update(load_spec(spec))
    return out


def load_mcp_servers(servers: Iterable[str]) -> dict[str, Tool]:
    """Every tool of each MCP server (the ``mcp`` extra, imported here and nowhere else)."""
    servers = list(servers)
    if not servers:
        return {}
    try:
        from tapevm.infrastructure.tools.mcp_client import server_tools
    except ImportError as e:
        raise UsageError(f"--mcp-server needs the 'mcp' extra ({e.name} is not installed): "
                         "pip install 'tapevm[mcp]'") from None
    out: dict[str, Tool] = {}
    for server in servers:
        try:
            out.update(server_tools(server))
        except EffectProviderError as e:
            raise UsageError(str(e)) from None
    return out


def entry_point_tools() -> dict[str, Tool]:
    """The tools of every ``tapevm.tools`` entry point installed."""
    from importlib.metadata import entry_points  # here: it costs every tape command ~20 ms to import

    out: dict[str, Tool] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
        except Exception as e:  # noqa: BLE001 - a broken plug-in is named, not a traceback
            raise EffectProviderError(f"entry point {ep.name} ({ep.value}) of {ENTRY_POINT_GROUP}: "
                                      f"{type(e).__name__}: {e}") from None
        out.update(tools_of(obj, f"entry point {ep.name} ({ep.value})"))
    return out


def environment_specs(settings: Settings) -> list[str]:
    """``TAPE_TOOLS``'s specs."""
    return [s for s in re.split(r"[\s,]+", settings.tools or "") if s]


def default_tools(settings: Settings | None = None) -> dict[str, Tool]:
    """The tools a session has without Python: entry points, then ``TAPE_TOOLS``, then the command line's.

    A bad source is an EffectProviderError (the program sees ``effect-unavailable`` naming it).
    """
    settings = settings or Settings.from_environment()
    tools = entry_point_tools()
    try:
        tools.update(load_specs(environment_specs(settings)))
    except UsageError as e:
        raise EffectProviderError(f"TAPE_TOOLS: {e}") from None
    tools.update(_process_tools)
    return tools
