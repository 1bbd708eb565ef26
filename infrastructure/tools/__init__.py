"""Tools from anywhere: ``@tapevm.tool`` declarations, loading them for the CLI, and MCP servers' tools.

Holds the declaration (a Python function with a JSON schema derived from its
type hints, usable by ``(tool ...)`` and by ``chat``'s ``:tools``), the loader
of ``MODULE:ATTR`` specs, ``TAPE_TOOLS`` and the ``tapevm.tools`` entry-point
group, and the client that makes every tool of an MCP server callable.

May import ``domain``, ``vm``, ``infrastructure.config`` and
``infrastructure.logs``; the MCP client (the ``mcp`` extra) is imported lazily
in one place (``loading``), so a session without MCP servers never pays for it.
"""
