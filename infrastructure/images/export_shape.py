"""The shape of a JSON image export (``tape image export``), checked part by part before it is used.

An export is edited by hand, so any part may be any JSON.  ``state.files`` as ``[]`` or ``true``
reached the image checks and failed there as ``internal error: AttributeError``; other parts
failed inside the decoder with Python's words (``'list' object has no attribute 'items'``)
that named no part.  :func:`export_problem` names the first part that is not of the shape
the export is written in (``state.files``, ``blobs[2]``, ``state.snapshots["s1"]``) and what it
should be.  It checks shapes only: what the parts hold (value encodings, content references,
the history's events, the header's fields) is checked as an image's is, with those checks' messages.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

Check = Callable[[Any], bool]


def json_type(value: Any) -> str:
    """What a JSON value is, as a person who wrote the export would say it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else "an object"


def _string(v: Any) -> bool:
    return isinstance(v, str)


def _count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _pair(first: Check, second: Check) -> Check:
    return lambda v: isinstance(v, list) and len(v) == 2 and first(v[0]) and second(v[1])


def _anything(v: Any) -> bool:
    return True


# state field -> (required, what it is, the check of the whole, of each entry (None: not checked), what an entry is);
# ``current_ns`` is left to the image checks, which name it ("its current namespace ... is not a name").
_STATE: dict[str, tuple[bool, str, Check, Check | None, str]] = {
    "session": (True, "a string", _string, None, ""),
    "seq": (True, "an event number (0 or more)", _count, None, ""),
    "namespaces": (True, "an object of namespace -> bindings", lambda v: isinstance(v, dict),
                   lambda v: isinstance(v, dict), "an object of name -> value"),
    "atoms": (True, "a list of [atom number, value]", lambda v: isinstance(v, list), _pair(_count, _anything),
              "[atom number, value]"),
    "facts": (True, "a list of values", lambda v: isinstance(v, list), None, ""),
    "files": (True, "an object of path -> blob key", lambda v: isinstance(v, dict), _string, "a blob key (a string)"),
    "snapshots": (True, "an object of name -> [event number, description]", lambda v: isinstance(v, dict),
                  _pair(_count, _string), "[event number, description]"),
    "merged": (False, "an object of stream -> event number", lambda v: isinstance(v, dict), _count,
               "an event number (0 or more)"),
}


def export_problem(doc: dict[str, Any]) -> str | None:
    """The first part of ``doc`` (an export with its ``header``, ``state``, ``nodes`` and ``blobs``) that is
    not of the export's shape, and what it should be; None when every part has its shape."""
    if not isinstance(doc["header"], dict):
        return _wrong("header", doc["header"], "an object")
    state = doc["state"]
    if not isinstance(state, dict):
        return _wrong("state", state, "an object")
    for name, (required, what, whole, entry, entry_what) in _STATE.items():
        if name not in state:
            if required:
                return f"state has no {name!r} ({what})"
            continue
        value = state[name]
        if not whole(value):
            return _wrong(f"state.{name}", value, what)
        problem = _entry_problem(f"state.{name}", value, entry, entry_what) if entry is not None else None
        if problem is not None:
            return problem
    if not isinstance(doc["nodes"], dict):
        return _wrong("nodes", doc["nodes"], "an object of node key -> node")
    blobs = doc["blobs"]
    if not isinstance(blobs, list):
        return _wrong("blobs", blobs, "a list of [blob key, encoding, data]")
    for i, blob in enumerate(blobs):
        if not (isinstance(blob, list) and len(blob) == 3 and isinstance(blob[0], str) and isinstance(blob[1], str)):
            return _wrong(f"blobs[{i}]", blob, "[blob key, encoding, data] (key and encoding strings)")
    return None


def _entry_problem(part: str, value: dict[str, Any] | list[Any], entry: Check, what: str) -> str | None:
    """The first entry of an object or list that fails ``entry``, named by its key or index."""
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in items:
        if not entry(item):
            return _wrong(f"{part}[{orjson.dumps(key).decode()}]", item, what)
    return None


def _wrong(part: str, value: Any, what: str) -> str:
    """``part is -1, not ...``: a number or a string shown (a long one cut), anything else named by its type."""
    if isinstance(value, str):
        shown = orjson.dumps(value if len(value) <= 40 else value[:39] + "…").decode()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        shown = str(value)
    else:
        shown = json_type(value)
    return f"{part} is {shown}, not {what}"
