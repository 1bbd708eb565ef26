"""Finishing the nodes that construct a list, vector or map from evaluated parts.

A vector or map literal whose parts are not all constants, and every
quasiquote template with an unquote in it, compile to a ``MakeList``,
``MakeVector`` or ``MakeMap`` node (:mod:`tapevm.vm.nodes`).  The machine
evaluates the parts in order, as it does a call's arguments, then hands them
here.  A part marked in ``node.splice`` (an ``,@expr``) contributes its
elements, not itself.
"""

from __future__ import annotations

from typing import Any

from tapevm.vm.errors import TYPE_ERROR, lisp_error
from tapevm.vm.nodes import MAKE_MAP, MAKE_VECTOR
from tapevm.vm.printer import describe
from tapevm.vm.values import NIL, LMap, Pair


def build_collection(node: Any, vals: list[Any]) -> Any:
    """Finish a list/vector/map constructor node from its evaluated parts."""
    op = node.op
    if op == MAKE_VECTOR:
        if not any(node.splice):
            return tuple(vals)
        out: list[Any] = []
        for v, spliced in zip(vals, node.splice):
            if spliced:
                out.extend(_spliceable(v))
            else:
                out.append(v)
        return tuple(out)
    if op == MAKE_MAP:
        return LMap((vals[k], vals[k + 1]) for k in range(0, len(vals), 2))
    # MAKE_LIST
    items = vals
    result: Any = NIL
    if node.dotted:
        items = vals[:-1]
        result = vals[-1]
    for v, spliced in zip(reversed(items), reversed(node.splice[: len(items)])):
        if spliced:
            for x in reversed(_spliceable(v)):
                result = Pair(x, result)
        else:
            result = Pair(v, result)
    return result


def _spliceable(v: Any) -> list[Any]:
    if type(v) is tuple:
        return list(v)
    items = []
    node = v
    while type(node) is Pair:
        items.append(node.car)
        node = node.cdr
    if node is not NIL:
        raise lisp_error(TYPE_ERROR, f"unquote-splicing (,@): expected a list or vector, got {describe(v)}")
    return items
