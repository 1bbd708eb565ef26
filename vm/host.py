"""What the compiler and the machine need from the interpreter that drives them.

The :class:`~tapevm.vm.interpreter.Interpreter` builds a compiler per unit and
one machine, and hands each of them itself.  They type that back-reference as
:class:`Host`, not as the Interpreter class, so the imports point one way
(``interpreter`` -> ``compiler``, ``machine`` -> ``host``) and none of them
needs the other to be imported first.

The contract: ``world`` is the live World every global lives in; ``builtins``
the built-in functions by name (the fallback for a name a namespace does not
define); ``effects`` the port effects go through; ``budget`` what the current
form may still use (the machine counts its steps against it).  The primitives that take
the machine reach the rest (``next_gensym``, ``compile``, ``expand``) through
``machine.interp``.
"""

from __future__ import annotations

from typing import Any, Protocol

from tapevm.vm.effects import EffectPort
from tapevm.vm.limits import FormBudget
from tapevm.vm.nodes import Lambda, Node
from tapevm.vm.values import Closure, Primitive
from tapevm.vm.world import World


class Host(Protocol):
    """The interpreter as its compiler and machine see it."""

    world: World
    builtins: dict[str, Primitive]
    effects: EffectPort
    budget: FormBudget

    def call(self, fn: Any, *args: Any) -> Any:
        """Call a Lisp function from Python (a nested machine loop: macro expansion)."""
        ...

    def compile_closure(self, closure: Closure) -> Lambda:
        """The code of a closure rebuilt from storage, compiled on its first call."""
        ...

    def compile(self, form: Any) -> Node:
        """A form compiled for top level of the current namespace (``eval``)."""
        ...

    def expand(self, form: Any) -> Any:
        """A form with every macro expanded (``macroexpand``)."""
        ...

    def next_gensym(self) -> str:
        """A suffix no other gensym of this session has (``gensym``)."""
        ...
