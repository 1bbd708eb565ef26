"""The compiler's vocabulary: the special forms' symbols, compile-time scopes, syntax errors.

Shared by the compiler's core (:mod:`tapevm.vm.compiler`) and its special
forms (:mod:`tapevm.vm.special_forms`), and by the interpreter, which looks at
the head of a top-level form before compiling it.

Scopes: the compiler knows, for every symbol, whether it is a local (and how
many frames out) or a global, so the machine never searches for a name.  A
:class:`Scope` corresponds one to one with an :class:`~tapevm.vm.values.Env`
frame at run time: a ``lambda`` call, a ``let``/``letrec`` (one frame), each
binding of a ``let*`` (one frame per binding), and a ``catch`` handler.
"""

from __future__ import annotations

from typing import Any

from tapevm.vm.errors import SYNTAX_ERROR, LispError, lisp_error
from tapevm.vm.nodes import Node
from tapevm.vm.printer import to_source
from tapevm.vm.values import NIL, Env, Pair, Symbol

Compiled = tuple[Node, Any]  # (node, macro-expanded source)

S = Symbol
QUOTE, QUASIQUOTE, UNQUOTE, UNQUOTE_SPLICING = S("quote"), S("quasiquote"), S("unquote"), S("unquote-splicing")
IF_, COND, WHEN, UNLESS, AND_, OR_ = S("if"), S("cond"), S("when"), S("unless"), S("and"), S("or")
DEFINE, SET, LAMBDA, LET, LET_STAR, LETREC, LETREC_STAR = (
    S("define"), S("set!"), S("lambda"), S("let"), S("let*"), S("letrec"), S("letrec*"),
)
BEGIN, DEFINE_MACRO, TRY, CATCH, IN_NS, ELSE = (
    S("begin"), S("define-macro"), S("try"), S("catch"), S("in-ns"), S("else"),
)


class Scope:
    """One compile-time frame: the names it binds (ordered), its parent, and whether it is a body frame."""

    __slots__ = ("body", "names", "parent")

    def __init__(self, names: dict[Symbol, None], parent: Scope | None, body: bool = True) -> None:
        self.names = names
        self.parent = parent
        self.body = body


def lookup(scope: Scope | None, sym: Symbol) -> int:
    """How many frames out ``sym`` is bound, or -1 for a global."""
    depth = 0
    while scope is not None:
        if sym in scope.names:
            return depth
        scope = scope.parent
        depth += 1
    return -1


def scope_of_env(env: Env | None) -> Scope | None:
    """The compile-time scope matching a run-time environment chain (rebuilding a closure)."""
    frames = []
    while env is not None:
        frames.append(env)
        env = env.parent
    scope = None
    for frame in reversed(frames):
        scope = Scope(dict.fromkeys(frame.vars), scope, True)
    return scope


def in_body(scope: Scope | None) -> bool:
    """Whether ``scope`` is inside a lambda/let body (where ``define`` makes a local)."""
    while scope is not None:
        if scope.body:
            return True
        scope = scope.parent
    return False


def syntax_error(message: str, form: Any = None) -> LispError:
    if form is not None:
        message = f"{message}, in {to_source(form, 100)}"
    return lisp_error(SYNTAX_ERROR, message)


def proper_list(x: Any, who: str) -> list[Any]:
    items = []
    node = x
    while type(node) is Pair:
        items.append(node.car)
        node = node.cdr
    if node is not NIL:
        raise syntax_error(f"{who}: a form must be a proper list, not a dotted one", x)
    return items


def is_form(x: Any, head: Symbol) -> bool:
    return type(x) is Pair and x.car is head


def list2(a: Any, b: Any) -> Pair:
    """The two-element list ``(a b)``."""
    return Pair(a, Pair(b, NIL))
