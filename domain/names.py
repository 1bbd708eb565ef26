"""Rules for the names people give things (session ids, snapshot names) that tables and messages show.

Pure functions, shared by the VM's primitives and the session layer, so ``(snapshot! ...)`` and
``tape snapshot`` refuse the same names.
"""

from __future__ import annotations

import unicodedata

# Unicode categories a shown name may not hold: control (Cc), format (Cf: U+202E RIGHT-TO-LEFT
# OVERRIDE, U+200B ZERO WIDTH SPACE...), line and paragraph separators (Zl, Zp).  Invisible, or
# they reorder or break the text around them, so a table or message would show another name than
# the one stored (a spoofed or unreadable name).
_HIDDEN_CATEGORIES = {"Cc": "a control character", "Cf": "an invisible format character",
                      "Zl": "a line separator", "Zp": "a paragraph separator"}


def hidden_character(text: str) -> str | None:
    """The first invisible, control or line-breaking character of ``text``, described; else None."""
    if text.isprintable():  # (fast path: every hidden character is non-printable)
        return None
    for c in text:
        what = _HIDDEN_CATEGORIES.get(unicodedata.category(c))
        if what is not None:
            name = unicodedata.name(c, "")
            return f"U+{ord(c):04X}{f' {name}' if name else ''}, {what}"
    return None


def snapshot_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a snapshot, or None."""
    if not name or len(name) > 200 or name.strip() != name:
        return "a snapshot name is 1 to 200 characters, without surrounding spaces"
    hidden = hidden_character(name)
    if hidden is not None:
        return f"it holds {hidden}; use visible characters only"
    return None
