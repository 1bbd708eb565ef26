"""How a primitive asks the machine to call a Lisp function for it.

A primitive that takes functions (``map``, ``filter``, ``reduce``, ``apply``,
``swap!``, ``sort``...) must not call a closure by recursing into a nested
Python evaluation loop for every element: that would make Lisp recursion
through ``map`` use the Python stack, and it would hide part of the
computation's state inside Python frames.  Instead such a primitive is
registered with ``needs_machine=True`` and returns a *request*:

* :class:`TailCall` ``(fn, args)``: "my value is whatever ``fn(*args)``
  returns" (a proper tail call: ``apply`` uses it).
* :class:`CallThen` ``(fn, args, resume, state)``: "call ``fn(*args)``, then
  call the resumer registered as ``resume`` with ``state`` and the result".
  The resumer returns the final value or another request.  ``state`` is plain
  data (tuples, lists, Lisp values), and the resumer is named, so the
  machine's continuation stays plain data.
* :class:`EvalCode` ``(node)``: "evaluate this compiled code at top level"
  (``eval``).

Resumers live in :data:`RESUMERS`: ``name -> fn(machine, state, value)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar


class TailCall:
    __slots__ = ("args", "fn")

    def __init__(self, fn: Any, args: list[Any]) -> None:
        self.fn = fn
        self.args = args


class CallThen:
    __slots__ = ("args", "fn", "resume", "state")

    def __init__(self, fn: Any, args: list[Any], resume: str, state: Any) -> None:
        self.fn = fn
        self.args = args
        self.resume = resume
        self.state = state


class EvalCode:
    __slots__ = ("node",)

    def __init__(self, node: Any) -> None:
        self.node = node


REQUEST_TYPES = (TailCall, CallThen, EvalCode)

Resumer = Callable[[Any, Any, Any], Any]
RESUMERS: dict[str, Resumer] = {}
R = TypeVar("R", bound=Resumer)


def resumer(name: str) -> Callable[[R], R]:
    """Register ``fn(machine, state, value)`` as the resumer called ``name``."""

    def register(fn: R) -> R:
        if name in RESUMERS:
            raise ValueError(f"duplicate resumer {name}")
        RESUMERS[name] = fn
        return fn

    return register
