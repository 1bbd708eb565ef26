"""The table of built-in functions, filled by the ``@primitive`` decorator.

Each primitive module registers its functions at import time; the arity
(``min_args``/``max_args``) is read from the Python signature, so the two can
never disagree.  A ``needs_machine`` primitive receives the
:class:`~tapevm.vm.machine.Machine` as its first argument (not counted in
the arity) and may return a request (:mod:`tapevm.vm.requests`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from tapevm.vm.values import Primitive

PRIMITIVES: dict[str, Primitive] = {}

Fn = TypeVar("Fn", bound=Callable[..., Any])


def primitive(name: str, *aliases: str, needs_machine: bool = False) -> Callable[[Fn], Fn]:
    """Register ``fn`` as the built-in ``name`` (and each alias, as its own named primitive)."""

    def register(fn: Fn) -> Fn:
        params = list(inspect.signature(fn).parameters.values())
        if needs_machine:
            params = params[1:]
        positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        min_args = sum(1 for p in positional if p.default is p.empty)
        variadic = any(p.kind == p.VAR_POSITIONAL for p in params)
        max_args = None if variadic else len(positional)
        for n in (name, *aliases):
            if n in PRIMITIVES:
                raise ValueError(f"primitive {n} registered twice")
            PRIMITIVES[n] = Primitive(n, fn, min_args, max_args, needs_machine)
        return fn

    return register


def all_primitives() -> dict[str, Primitive]:
    """Every built-in, by name.

    Complete once :mod:`tapevm.vm.primitives` is imported, which importing this
    module does first (the package imports every primitive module); this module
    imports none of them, so the table is a leaf of the import graph.
    """
    return dict(PRIMITIVES)
