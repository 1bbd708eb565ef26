"""PostgreSQL identifiers as tapevm writes them into SQL text."""

from __future__ import annotations


def qualified_name(schema: str, name: str) -> str:
    """``"schema"."name"``, each part quoted as PostgreSQL reads a quoted identifier (a ``"`` doubled).

    Store URLs admit only plain schema names (the library's own SQL does not quote
    them), so this is the second line of defence, not the first.
    """
    return ".".join('"' + part.replace('"', '""') + '"' for part in (schema, name))
