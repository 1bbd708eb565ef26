"""Checking value content that did not come from this process's encoder (an image, an import).

The decoder trusts the shape of what it reads: it meets a missing node or an
unknown tag only when a program first uses the value, long after the content
was accepted.  :func:`content_problem` finds what it would fail on at once.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from tapevm.domain.content import (
    ATOM,
    BIGINT,
    CLOSURE,
    ERROR,
    FLOAT,
    FRAME,
    GROUP,
    GROUP_MEMBER,
    KEYWORD,
    LIST_CHUNK,
    LOCAL,
    MACRO,
    MAP_CHUNK,
    PRIMITIVE,
    REF,
    SYMBOL,
    TEXT,
    VECTOR_CHUNK,
)
from tapevm.vm.numtext import INT_RE

# Parts of each node, by tag.  The decoder trusts these shapes (it unpacks them);
# :func:`content_problem` checks them first for content read from outside the log.
_NODE_PARTS = {LIST_CHUNK: 3, VECTOR_CHUNK: 3, MAP_CHUNK: 3, CLOSURE: 6, FRAME: 3, MACRO: 2, ERROR: 4, TEXT: 2,
               GROUP: 2}
_GROUP_MEMBERS = frozenset((CLOSURE, FRAME, MACRO, LIST_CHUNK, VECTOR_CHUNK, MAP_CHUNK, ERROR))
_FLOAT_TEXTS = frozenset(("nan", "inf", "-inf"))
_SCALAR_TYPES = frozenset((str, int, bool, type(None)))  # what a value encoding holds as itself


class _Bad(Exception):
    """What :func:`content_problem` reports (internal: the walk stops at the first problem)."""


@dataclass(frozen=True)
class _Known:
    """What references may name: groups (key -> member count) and atom ids (None: any)."""

    groups: dict[str, int]
    atoms: Collection[int] | None


def content_problem(roots: Iterable[tuple[str, dict[Any, Any]]], nodes: dict[str, Any],
                    atoms: Collection[int] | None = None) -> str | None:
    """Why the encodings ``roots`` and the parsed ``nodes`` (key -> node) cannot be decoded, or None.

    ``roots``: pairs of a prefix and a table of encodings, e.g. ``("binding user/", namespace)``; a
    problem names the prefix and the table's key.

    The decoder meets a missing node or an unknown tag only when a program first uses the value,
    long after the content was accepted (an image, an import): what it would fail on is found
    here instead, at once: every reference resolves to a node held, every value and node tag is
    known, every node has the parts of its tag.  Every node is checked, reachable or not.  Linear
    in the content, with no recursion (encodings are flat: nesting goes through references).
    ``atoms``: the atom ids the state holds (None: not checked); the decoder would make an unknown
    one an empty atom, silently.
    """
    known = _Known({}, atoms)
    groups = known.groups
    for key, node in nodes.items():
        if type(node) is not list or not node or type(node[0]) is not str:
            return f"value node {key} is not a tagged node ({_short(node)})"
        tag = node[0]
        if tag == GROUP:
            if len(node) != 2 or type(node[1]) is not list or not node[1]:
                return f"value node {key} is a malformed group ({_short(node)})"
            groups[key] = len(node[1])
    try:
        for prefix, table in roots:
            for name, enc in table.items():
                if type(enc) is not list:  # the common cases inline: a scalar, a reference, a float
                    if enc is None or type(enc) in (str, int, bool):
                        continue
                elif len(enc) == 2:
                    tag = enc[0]
                    if tag == REF and type(enc[1]) is str:
                        node = nodes.get(enc[1])
                        if node is not None and node[0] != GROUP:
                            continue
                    elif tag == FLOAT and type(enc[1]) is float:
                        continue
                _check_value(enc, nodes, known, 0, f"{prefix}{name}")
        scalars = _SCALAR_TYPES.issuperset
        for key, node in nodes.items():
            tag = node[0]
            # the commonest node inline, no call: a list chunk of scalars with no tail (an image of
            # 100,000 bindings holds ~40,000 of them; a call per node was ~40 ms of its load)
            if tag == LIST_CHUNK and len(node) == 3 and node[2] is None and type(node[1]) is list \
                    and scalars(map(type, node[1])):
                continue
            if tag == GROUP:
                size = groups[key]
                for n, member in enumerate(node[1]):
                    if type(member) is not list or not member or member[0] not in _GROUP_MEMBERS:
                        return f"value node {key}: member {n} of the group is not a closure, frame, macro, " \
                               f"chunk or error ({_short(member)})"
                    _check_node(member, nodes, known, size, f"value node {key} (group member {n})")
            else:
                _check_node(node, nodes, known, 0, f"value node {key}")
    except _Bad as e:
        return str(e)
    return None


class _AtomsSeen(set[int]):
    """An atom table that holds every id and remembers the ids it was asked about."""

    def __contains__(self, atom_id: object) -> bool:
        self.add(atom_id)  # type: ignore[arg-type]  # (only ints reach here: the tag check comes first)
        return True


def atoms_named(roots: Iterable[tuple[str, dict[Any, Any]]], nodes: dict[str, Any]) -> set[int]:
    """The atom ids the encodings ``roots`` and the parsed ``nodes`` name (the same walk as
    :func:`content_problem`, which asks its atom table about each one)."""
    seen = _AtomsSeen()
    content_problem(roots, nodes, seen)
    return set(seen)


def _short(value: Any) -> str:
    text = orjson.dumps(value).decode() if value is not None else "null"
    return text if len(text) <= 60 else text[:59] + "…"


def _check_node(node: list[Any], nodes: dict[str, Any], known: _Known, local: int, where: str) -> None:
    tag = node[0]
    parts = _NODE_PARTS.get(tag)
    if parts is None:
        raise _Bad(f"{where} has an unknown node tag {tag!r}")
    if len(node) != parts:
        raise _Bad(f"{where} ({tag!r}) has {len(node)} parts, not {parts}")
    if tag == TEXT:
        if type(node[1]) is not str:
            raise _Bad(f"{where} is a text node without text")
        return
    check = _check_value
    if tag in (LIST_CHUNK, VECTOR_CHUNK, MAP_CHUNK, FRAME):
        items = node[1]
        if type(items) is not list or (tag in (MAP_CHUNK, FRAME) and len(items) % 2) \
                or (local and tag == LIST_CHUNK and not items):
            raise _Bad(f"{where} ({tag!r}) has malformed elements")
        for item in items:
            if type(item) is list or item is not None and type(item) not in (str, int, bool):
                check(item, nodes, known, local, where)
        if node[2] is not None:
            check(node[2], nodes, known, local, where)
    elif tag == CLOSURE:
        _, params, body, env, name, ns = node
        if (name is not None and type(name) is not str) or type(ns) is not str:
            raise _Bad(f"{where} is a closure with a malformed name or namespace")
        check(params, nodes, known, local, where)
        check(body, nodes, known, local, where)
        if env is not None:
            check(env, nodes, known, local, where)
    elif tag == MACRO:
        check(node[1], nodes, known, local, where)
    elif tag == ERROR:
        if type(node[1]) is not str or type(node[2]) is not str:
            raise _Bad(f"{where} is an error value with a malformed kind or message")
        check(node[3], nodes, known, local, where)
    else:  # a group, where a group member is expected
        raise _Bad(f"{where} is a group inside a group")


def _check_value(enc: Any, nodes: dict[str, Any], known: _Known, local: int, where: str) -> None:
    t = type(enc)
    if t is str or t is int or t is bool or enc is None:
        return
    if t is not list or not enc:
        raise _Bad(f"{where} holds a malformed value encoding {_short(enc)}")
    tag = enc[0]
    n = len(enc)
    payload = enc[1] if n > 1 else None
    if tag == REF and n == 2 and type(payload) is str:
        node = nodes.get(payload)
        if node is None:
            raise _Bad(f"{where} refers to value node {payload}, which is missing")
        if node[0] == GROUP:
            raise _Bad(f"{where} refers to the group {payload} as a plain node")
        return
    if tag == GROUP_MEMBER and n == 3 and type(payload) is str and type(enc[2]) is int:
        size = known.groups.get(payload)
        if size is None:
            raise _Bad(f"{where} refers to member {enc[2]} of group {payload}, which is missing")
        if not 0 <= enc[2] < size:
            raise _Bad(f"{where} refers to member {enc[2]} of group {payload}, which has {size}")
        return
    if n == 2:
        if tag == FLOAT and (isinstance(payload, (float, int)) and type(payload) is not bool
                             or isinstance(payload, str) and payload in _FLOAT_TEXTS):
            return
        if tag == BIGINT and isinstance(payload, str) and INT_RE.match(payload):  # (read in chunks: any length)
            return
        if (tag == SYMBOL or tag == KEYWORD or tag == PRIMITIVE) and type(payload) is str:
            return
        if tag == ATOM and type(payload) is int:
            if known.atoms is not None and payload not in known.atoms:
                raise _Bad(f"{where} refers to atom {payload}, which the state does not hold")
            return
        if tag == LOCAL and local and type(payload) is int and 0 <= payload < local:
            return
    tags = (REF, GROUP_MEMBER, FLOAT, BIGINT, SYMBOL, KEYWORD, PRIMITIVE, ATOM) + ((LOCAL,) if local else ())
    if tag not in tags:
        raise _Bad(f"{where} holds a value with an unknown tag {_short(tag)}")
    raise _Bad(f"{where} holds a malformed {tag!r} value {_short(enc)}")
