"""``--tools MODULE:ATTR`` and ``--mcp-server CMD|URL``: Python and MCP tools for the commands that run code.

The tools are loaded while the options are parsed, before the command opens
a session, so a spec that does not import (or a server that cannot be listed)
is a usage error (exit 2) and nothing is written.  They are handed to
``infrastructure/tools/loading.py`` for every session the command opens (the
replay's fork included), beside the entry points and ``TAPE_TOOLS``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from tapevm.infrastructure.tools.loading import load_mcp_servers, load_specs, use_for_process

F = TypeVar("F", bound=Callable[..., Any])


def _load_tools(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> None:
    if value:
        use_for_process(load_specs(value))


def _load_mcp(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> None:
    if value:
        use_for_process(load_mcp_servers(value))


def tool_options(f: F) -> F:
    """Add ``--tools`` and ``--mcp-server`` (both repeatable) to a command that runs code."""
    f = click.option("--mcp-server", "mcp_servers", multiple=True, metavar="CMD|URL", expose_value=False,
                     callback=_load_mcp,
                     help="Make every tool of this MCP server callable with (tool \"name\" ...): a command "
                          "run over stdio, or an http(s):// URL (needs the 'mcp' extra). Repeatable.")(f)
    return click.option("--tools", "tool_specs", multiple=True, metavar="MODULE:ATTR", expose_value=False,
                        callback=_load_tools,
                        help="Load Python tools (a @tapevm.tool, a function, a list or dict of them, or a "
                             "module's declared tools; the current directory is importable). Repeatable.")(f)
