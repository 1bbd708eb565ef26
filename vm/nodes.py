"""Compiled code: a tree of plain-data nodes that the machine walks.

The compiler turns (macro-expanded) source into these nodes once; the machine
dispatches on each node's small integer ``op``.  Nodes are slot classes with
plain fields: other nodes, symbols, constants, and - for global references -
the namespace's binding table (a dict owned by the World), so everything a
suspended computation refers to is data.

Ops ``CONST``..``GLOBAL`` are *leaves*: evaluating one never calls a function
and never changes anything, so the machine evaluates them inline (the
``op <= LEAF_MAX`` test).
"""

from __future__ import annotations

from typing import Any

from tapevm.domain.state import MISSING
from tapevm.vm.values import Symbol

# Leaves (op <= LEAF_MAX).
CONST = 0
LOCAL0 = 1  # a local in the innermost frame
LOCAL1 = 2  # a local one frame out
LOCAL = 3   # a local ``depth`` frames out
GLOBAL = 4
LEAF_MAX = 4
# Everything else.
CALL = 5
IF = 6
SEQ = 7
LAMBDA = 8
LET = 9
LETREC = 10
AND = 11
OR = 12
DEFINE_GLOBAL = 13
DEFINE_LOCAL = 14
SET_GLOBAL = 15
TRY = 16
DEFINE_MACRO = 17
IN_NS = 18
MAKE_LIST = 19
MAKE_VECTOR = 20
MAKE_MAP = 21




class Node:
    __slots__ = ("op",)  # an instance slot: faster to read than a class attribute
    op: int


class Const(Node):
    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.op = CONST
        self.value = value


class Local(Node):
    """A local variable, ``depth`` frames out from the current environment."""

    __slots__ = ("depth", "sym")

    def __init__(self, sym: Symbol, depth: int) -> None:
        self.sym = sym
        self.depth = depth
        self.op = LOCAL0 if depth == 0 else LOCAL1 if depth == 1 else LOCAL


class Global(Node):
    """A global ``ns/name``: looked up in ``table`` (the namespace's dict), else the built-in ``default``
    (``MISSING``, the code base's one absent marker, when the name is not a built-in: the lookup then
    falls back to the World)."""

    __slots__ = ("default", "name", "ns", "table")

    def __init__(self, table: dict[str, Any] | None, ns: str, name: str, default: Any) -> None:
        self.op = GLOBAL
        self.table = table
        self.ns = ns
        self.name = name
        self.default = default


# Built-ins the machine may compute inline on two integers (``binop`` codes, see machine._BINOPS).
BINOP_CODES = {"+": 1, "-": 2, "*": 3, "<": 4, ">": 5, "<=": 6, ">=": 7, "=": 8}


class Call(Node):
    """``(fn args...)``.

    ``prim_args``: the operator is a global and every argument a leaf (the
    machine can call a primitive inline).  ``binop``: the operator is a global
    naming one of the arithmetic/comparison built-ins of :data:`BINOP_CODES`,
    with two arguments: when it is still that built-in at run time and both
    arguments are integers, the machine computes it without a call (inline
    when the arguments are leaves, else once they are evaluated).
    ``local_const``: ``(name, k)`` when a ``binop`` call's arguments are a local
    of the innermost frame and an integer constant (``(< n 2)``, ``(- n 1)``):
    the machine reads the one value it needs without building an argument list.
    """

    __slots__ = ("args", "binop", "fn", "local_const", "prim_args")

    def __init__(self, fn: Node, args: tuple[Node, ...]) -> None:
        self.op = CALL
        self.fn = fn
        self.args = args
        self.prim_args = fn.op == GLOBAL and all(a.op <= LEAF_MAX for a in args)
        self.binop = 0
        if fn.op == GLOBAL and len(args) == 2 and fn.default is not MISSING:  # type: ignore[attr-defined]
            self.binop = BINOP_CODES.get(fn.default.name, 0)  # type: ignore[attr-defined]
        self.local_const: tuple[Symbol, int] | None = None
        if self.binop and self.prim_args and args[0].op == LOCAL0 and args[1].op == CONST:
            a0, a1 = args
            if type(a1.value) is int:  # type: ignore[attr-defined]
                self.local_const = (a0.sym, a1.value)  # type: ignore[attr-defined]


class If(Node):
    __slots__ = ("else_", "test", "then")

    def __init__(self, test: Node, then: Node, else_: Node) -> None:
        self.op = IF
        self.test = test
        self.then = then
        self.else_ = else_


class Seq(Node):
    """Evaluate ``body`` in order; the value is the last one's (in tail position)."""

    __slots__ = ("body",)

    def __init__(self, body: tuple[Node, ...]) -> None:
        self.op = SEQ
        self.body = body


class Lambda(Node):
    """Makes a closure.  Also the closure's ``code``: what a call needs to bind and run it.

    ``params_src``/``body_src`` are the source (body macro-expanded), stored on
    the closure so it can be recompiled; ``params`` are the required
    parameters, ``rest`` the rest parameter or None.
    """

    __slots__ = ("body", "body_src", "name", "nreq", "ns", "params", "params_src", "rest")

    def __init__(
        self, params_src: Any, body_src: tuple[Any, ...], params: tuple[Symbol, ...],
        rest: Symbol | None, body: Node, name: str | None, ns: str,
    ) -> None:
        self.op = LAMBDA
        self.params_src = params_src
        self.body_src = body_src
        self.params = params
        self.nreq = len(params)
        self.rest = rest
        self.body = body
        self.name = name
        self.ns = ns


class Let(Node):
    """``(let ((sym init)...) body)``: inits (``args``) in the outer env, then a new frame."""

    __slots__ = ("args", "body", "syms")

    def __init__(self, syms: tuple[Symbol, ...], args: tuple[Node, ...], body: Node) -> None:
        self.op = LET
        self.syms = syms
        self.args = args
        self.body = body


class Letrec(Node):
    """``(letrec ((sym init)...) body)``: a new frame first, inits evaluated in it in order."""

    __slots__ = ("body", "inits", "syms")

    def __init__(self, syms: tuple[Symbol, ...], inits: tuple[Node, ...], body: Node) -> None:
        self.op = LETREC
        self.syms = syms
        self.inits = inits
        self.body = body


class And(Node):
    __slots__ = ("exprs",)

    def __init__(self, exprs: tuple[Node, ...]) -> None:
        self.op = AND
        self.exprs = exprs


class Or(Node):
    __slots__ = ("exprs",)

    def __init__(self, exprs: tuple[Node, ...]) -> None:
        self.op = OR
        self.exprs = exprs


class DefineGlobal(Node):
    __slots__ = ("ns", "sym", "value")

    def __init__(self, ns: str, sym: Symbol, value: Node) -> None:
        self.op = DEFINE_GLOBAL
        self.ns = ns
        self.sym = sym
        self.value = value


class DefineLocal(Node):
    __slots__ = ("sym", "value")

    def __init__(self, sym: Symbol, value: Node) -> None:
        self.op = DEFINE_LOCAL
        self.sym = sym
        self.value = value


class SetGlobal(Node):
    __slots__ = ("ns", "sym", "value")

    def __init__(self, ns: str, sym: Symbol, value: Node) -> None:
        self.op = SET_GLOBAL
        self.ns = ns
        self.sym = sym
        self.value = value


class Try(Node):
    """``(try body (catch sym handler))``: ``handler`` runs in a frame binding ``sym`` to the error."""

    __slots__ = ("body", "handler", "sym")

    def __init__(self, body: Node, sym: Symbol, handler: Node) -> None:
        self.op = TRY
        self.body = body
        self.sym = sym
        self.handler = handler


class DefineMacro(Node):
    __slots__ = ("fn", "ns", "sym")

    def __init__(self, ns: str, sym: Symbol, fn: Lambda) -> None:
        self.op = DEFINE_MACRO
        self.ns = ns
        self.sym = sym
        self.fn = fn


class InNs(Node):
    __slots__ = ("value",)

    def __init__(self, value: Node) -> None:
        self.op = IN_NS
        self.value = value


class MakeList(Node):
    """Quasiquoted list: ``args`` evaluated, those flagged in ``splice`` spliced, ``dotted``: last is the tail."""

    __slots__ = ("args", "dotted", "splice")

    def __init__(self, args: tuple[Node, ...], splice: tuple[bool, ...], dotted: bool) -> None:
        self.op = MAKE_LIST
        self.args = args
        self.splice = splice
        self.dotted = dotted


class MakeVector(Node):
    """A vector literal with computed elements (or quasiquoted, with ``splice`` flags)."""

    __slots__ = ("args", "splice")

    def __init__(self, args: tuple[Node, ...], splice: tuple[bool, ...]) -> None:
        self.op = MAKE_VECTOR
        self.args = args
        self.splice = splice


class MakeMap(Node):
    """A map literal with computed keys or values: ``args`` is key, value, key, value..."""

    __slots__ = ("args",)

    def __init__(self, args: tuple[Node, ...]) -> None:
        self.op = MAKE_MAP
        self.args = args
