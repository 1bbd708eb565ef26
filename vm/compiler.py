"""The compiler: source forms to code nodes (:mod:`tapevm.vm.nodes`), expanding macros on the way.

One :class:`Compiler` compiles one unit (a top-level form, or a closure being
rebuilt from its stored source).  Each special form has one handler below,
headed by a comment with its syntax.  Every handler returns the compiled node
*and* the macro-expanded source of the form; a ``lambda`` keeps the expanded
source of its body, which is what a closure stores (``Closure.body``), so a
closure recompiled from storage behaves exactly like the live one even if a
macro it used was redefined since.

Scopes: the compiler knows, for every symbol, whether it is a local (and how
many frames out) or a global, so the machine never searches for a name.  A
scope frame corresponds one to one with an :class:`~tapevm.vm.values.Env`
frame at run time: a ``lambda`` call, a ``let``/``letrec`` (one frame), each
binding of a ``let*`` (one frame per binding), and a ``catch`` handler.
Internal ``define`` s of a body are found before the body is compiled and
belong to the body's frame.

``define`` at top level, or anywhere not inside a lambda/let body, defines a
global in the unit's namespace; directly in a body it defines a local; nested
elsewhere inside a body (e.g. in an ``if`` branch inside a function) it is a
syntax error.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from tapevm.vm.errors import ASSIGNMENT_ERROR, SYNTAX_ERROR, LispError, lisp_error
from tapevm.vm.nodes import (
    CONST,
    MISSING,
    And,
    Call,
    Const,
    DefineGlobal,
    DefineLocal,
    DefineMacro,
    Global,
    If,
    InNs,
    Lambda,
    Let,
    Letrec,
    Local,
    MakeList,
    MakeMap,
    MakeVector,
    Node,
    Or,
    Seq,
    SetGlobal,
    Try,
)
from tapevm.vm.printer import to_source
from tapevm.vm.values import NIL, Env, LMap, Macro, Pair, Symbol, make_list, map_items
from tapevm.vm.world import _LAZY, bindable_name

if TYPE_CHECKING:
    from tapevm.vm.interpreter import Interpreter

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

_T = TypeVar("_T")

COMPILE_RECURSION_LIMIT = 30_000  # Python frames while compiling: about 10,000 levels of nesting

LOCAL_SET_MESSAGE = (
    "set!: {name} is a local variable; locals are immutable — "
    "use an atom (atom/reset!/swap!) for mutable state"
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


def has_unquote(x: Any) -> bool:
    """Does a quasiquote template contain unquote or unquote-splicing anywhere? (iterative)"""
    stack = [x]
    while stack:
        item = stack.pop()
        t = type(item)
        if t is Pair:
            if item.car is UNQUOTE or item.car is UNQUOTE_SPLICING:
                return True
            stack.append(item.car)
            stack.append(item.cdr)
        elif t is tuple:
            stack.extend(item)
        elif t is LMap:
            for k, v in map_items(item):
                stack.append(k)
                stack.append(v)
    return False


def _list2(a: Any, b: Any) -> Pair:
    return Pair(a, Pair(b, NIL))


def _self_evaluating(node: Node) -> bool:
    return node.op == CONST


CORE_NAMESPACE = "core"  # ``core/car`` is always the built-in, even where ``car`` is shadowed


class Compiler:
    """Compiles one unit in namespace ``ns``; ``expand=False`` for already-expanded source."""

    def __init__(self, interp: Interpreter, ns: str, expand: bool = True) -> None:
        self.interp = interp
        self.world = interp.world
        self.builtins = interp.builtins
        self.ns = ns
        self.expand = expand

    # -- entry points ---------------------------------------------------------
    def compile_toplevel(self, form: Any) -> Node:
        return self._guarded(lambda: self.expr(form, None)[0])

    def compile_closure(self, params: Any, body: tuple[Any, ...], env: Env | None, name: str | None) -> Lambda:
        """The code of a closure rebuilt from its stored source."""

        def build() -> Lambda:
            req, rest = self.parse_params(params, "lambda", params)
            node, _ = self.make_lambda(params, req, rest, list(body), scope_of_env(env), name)
            return node

        return self._guarded(build)

    def expand_toplevel(self, form: Any) -> Any:
        """The macro expansion of ``form`` (what ``macroexpand`` shows)."""
        return self._guarded(lambda: self.expr(form, None)[1])

    def expand_toplevel_head(self, form: Any) -> Any:
        """Expand macro calls at the head of a top-level form (to find a top-level ``begin``)."""
        if not self.expand:
            return form
        return self._guarded(lambda: self.expand_head(form, None))

    def _guarded(self, fn: Callable[[], _T]) -> _T:
        """Run a compile step.  The compiler recurses on the nesting of the *source* (never on
        Lisp recursion at run time); the Python limit is raised meanwhile so that code nested
        a few thousand levels deep (say, generated by a macro) still compiles."""
        old = sys.getrecursionlimit()
        if old < COMPILE_RECURSION_LIMIT:
            sys.setrecursionlimit(COMPILE_RECURSION_LIMIT)
        try:
            return fn()
        except RecursionError:
            raise syntax_error("form nested too deeply to compile") from None
        finally:
            if old < COMPILE_RECURSION_LIMIT:
                sys.setrecursionlimit(old)

    # -- expressions -----------------------------------------------------------
    def expr(self, x: Any, scope: Scope | None, name: str | None = None) -> Compiled:
        """Compile an expression; ``name`` names the closure if ``x`` is a lambda."""
        t = type(x)
        if t is Symbol:
            return self.symbol(x, scope), x
        if t is Pair:
            if self.expand:
                x = self.expand_head(x, scope)
                if type(x) is not Pair:
                    return self.expr(x, scope, name)
            head = x.car
            if type(head) is Symbol:
                handler = SPECIAL_FORMS.get(head)
                if handler is not None:
                    if handler is Compiler.form_lambda:
                        return self.form_lambda(x, scope, name)
                    return handler(self, x, scope)
            return self.application(x, scope)
        if t is tuple:
            return self.vector_literal(x, scope)
        if t is LMap:
            return self.map_literal(x, scope)
        return Const(x), x

    def symbol(self, sym: Symbol, scope: Scope | None) -> Node:
        if sym in SPECIAL_FORMS:
            raise syntax_error(f"{sym.name} is a special form, not a value; it can only be used as ({sym.name} ...)")
        depth = lookup(scope, sym)
        if depth >= 0:
            return Local(sym, depth)
        return self.global_ref(sym)

    def qualify(self, sym: Symbol) -> tuple[str, str]:
        """(namespace, name) of a global symbol: ``ns/name``, or the unit's namespace."""
        ns, name = sym.namespace, sym.local_name
        if ns and name:
            return ns, name
        return self.ns, sym.name

    def global_ref(self, sym: Symbol) -> Global:
        ns, name = self.qualify(sym)
        table: dict[str, Any] | None
        if ns == self.ns:
            table = self.world.namespace(ns)
        else:
            table = self.world.namespaces.get(ns)
            if table is None:
                table = {}  # namespace not there yet: every lookup takes the slow path
        # ``ns/name`` means what ``name`` means inside ``ns`` (its binding, else the built-in),
        # but only for a namespace that exists (or ``core``, the built-ins' own name):
        # ``nosuch/car`` is unbound, not ``car``.
        known = sym.namespace in (None, CORE_NAMESPACE) or sym.namespace in self.world.namespaces
        builtin = self.builtins.get(name, MISSING) if known else MISSING
        return Global(table, ns, name, builtin)

    def expand_head(self, x: Any, scope: Scope | None) -> Any:
        """Expand ``x`` while it is a call of a global macro (not its subforms)."""
        while type(x) is Pair and type(x.car) is Symbol:
            sym = x.car
            if sym in SPECIAL_FORMS or lookup(scope, sym) >= 0:
                break
            macro = self.macro_named(sym)
            if macro is None:
                break
            args = proper_list(x.cdr, sym.name)
            x = self.interp.machine.call(macro.closure, args)
        return x

    def macro_named(self, sym: Symbol) -> Macro | None:
        ns, name = self.qualify(sym)
        table = self.world.namespaces.get(ns)
        if table is None:
            return None
        value = table.get(name)
        if value is _LAZY:
            value = self.world.lookup(ns, name)
        return value if type(value) is Macro else None

    def application(self, x: Pair, scope: Scope | None) -> Compiled:
        # (fn arg...)
        items = proper_list(x, "call")
        fn, fn_form = self.expr(items[0], scope)
        nodes, forms = [], [fn_form]
        for arg in items[1:]:
            node, form = self.expr(arg, scope)
            nodes.append(node)
            forms.append(form)
        return Call(fn, tuple(nodes)), make_list(forms)

    def vector_literal(self, x: tuple[Any, ...], scope: Scope | None) -> Compiled:
        # [expr...]  (elements are evaluated)
        compiled = [self.expr(item, scope) for item in x]
        if all(_self_evaluating(n) for n, _ in compiled):
            return Const(tuple(n.value for n, _ in compiled)), x  # type: ignore[attr-defined]
        nodes = tuple(n for n, _ in compiled)
        return MakeVector(nodes, (False,) * len(nodes)), tuple(f for _, f in compiled)

    def map_literal(self, x: LMap, scope: Scope | None) -> Compiled:
        # {key-expr value-expr...}  (keys and values are evaluated)
        nodes, forms = [], []
        for k, v in map_items(x):
            kn, kf = self.expr(k, scope)
            vn, vf = self.expr(v, scope)
            nodes += [kn, vn]
            forms.append((kf, vf))
        if all(_self_evaluating(n) for n in nodes):
            return Const(LMap((nodes[i].value, nodes[i + 1].value) for i in range(0, len(nodes), 2))), x  # type: ignore[attr-defined]
        return MakeMap(tuple(nodes)), LMap(forms)

    def sequence(self, forms: list[Any], scope: Scope | None) -> Compiled:
        """Expressions in order (not a body: no internal defines); nil if empty."""
        if not forms:
            return Const(NIL), NIL
        compiled = [self.expr(f, scope) for f in forms]
        if len(compiled) == 1:
            node, form = compiled[0]
            return node, form
        return Seq(tuple(n for n, _ in compiled)), Pair(BEGIN, make_list([f for _, f in compiled]))

    def body(self, forms: list[Any], scope: Scope, who: str, whole: Any) -> tuple[Node, list[Any]]:
        """A lambda/let body in its own frame ``scope``: internal defines become locals of that frame."""
        flat: list[Any] = []
        work = list(reversed(forms))
        while work:
            f = work.pop()
            if self.expand:
                f = self.expand_head(f, scope)
            if is_form(f, BEGIN):
                work.extend(reversed(proper_list(f, "begin")[1:]))
                continue
            if is_form(f, DEFINE):
                sym, value = self.canonical_define(f)
                scope.names[sym] = None
                f = Pair(DEFINE, _list2(sym, value))
            elif is_form(f, DEFINE_MACRO):
                raise syntax_error("define-macro: macros can only be defined at top level", f)
            flat.append(f)
        if not flat:
            raise syntax_error(f"{who}: the body is empty (it needs at least one expression)", whole)
        nodes: list[Node] = []
        expanded: list[Any] = []
        for f in flat:
            if is_form(f, DEFINE):
                sym, value = f.cdr.car, f.cdr.cdr.car
                node, form = self.expr(value, scope, sym.name)
                nodes.append(DefineLocal(sym, node))
                expanded.append(Pair(DEFINE, _list2(sym, form)))
            else:
                node, form = self.expr(f, scope)
                nodes.append(node)
                expanded.append(form)
        if len(nodes) == 1:
            return nodes[0], expanded
        return Seq(tuple(nodes)), expanded

    # -- helpers for binding forms ------------------------------------------------
    def check_bindable(self, sym: Any, who: str, form: Any) -> Symbol:
        if type(sym) is not Symbol:
            raise syntax_error(f"{who}: expected a symbol to bind, got {to_source(sym, 40)}", form)
        if sym in SPECIAL_FORMS:
            raise syntax_error(f"{who}: cannot bind {sym.name}: it is a special form", form)
        if not bindable_name(sym.name):
            raise syntax_error(f"{who}: cannot bind the qualified name {sym.name}", form)
        return sym

    def parse_params(self, params: Any, who: str, form: Any) -> tuple[list[Symbol], Symbol | None]:
        """``(a b)``, ``(a b . rest)`` or ``args`` to (required, rest)."""
        req: list[Symbol] = []
        node = params
        while type(node) is Pair:
            req.append(self.check_bindable(node.car, who, form))
            node = node.cdr
        rest = None
        if node is not NIL:
            if type(node) is not Symbol:
                raise syntax_error(
                    f"{who}: parameters must be (a b ...), (a b . rest) or a single symbol, "
                    f"got {to_source(params, 40)}", form,
                )
            rest = self.check_bindable(node, who, form)
        names = req + ([rest] if rest is not None else [])
        if len(set(names)) != len(names):
            raise syntax_error(f"{who}: a parameter name is repeated in {to_source(params, 40)}", form)
        return req, rest

    def parse_bindings(self, bindings: Any, who: str, form: Any) -> list[tuple[Symbol, Any]]:
        """``((name init) ...)`` to [(name, init)]."""
        if bindings is not NIL and type(bindings) is not Pair:
            raise syntax_error(f"{who}: expected a list of bindings ((name value) ...)", form)
        result = []
        for b in proper_list(bindings, who):
            items = proper_list(b, who) if type(b) is Pair else None
            if items is None or len(items) != 2:
                raise syntax_error(f"{who}: each binding must be (name value), got {to_source(b, 40)}", form)
            result.append((self.check_bindable(items[0], who, form), items[1]))
        return result

    def canonical_define(self, x: Any) -> tuple[Symbol, Any]:
        """``(define name value)`` or ``(define (name . params) body...)`` to (name, value form)."""
        items = proper_list(x, "define")
        if len(items) < 2:
            raise syntax_error("define: expected (define name value) or (define (name args...) body...)", x)
        target = items[1]
        if type(target) is Pair:
            name = self.check_bindable(target.car, "define", x)
            if len(items) < 3:
                raise syntax_error(f"define: the function {name.name} has no body", x)
            return name, Pair(LAMBDA, Pair(target.cdr, make_list(items[2:])))
        name = self.check_bindable(target, "define", x)
        if len(items) != 3:
            raise syntax_error(f"define: expected (define {name.name} value) with exactly one value", x)
        return name, items[2]

    def make_lambda(
        self, params_src: Any, req: list[Symbol], rest: Symbol | None, body: list[Any],
        scope: Scope | None, name: str | None,
    ) -> tuple[Lambda, Any]:
        names = dict.fromkeys(req)
        if rest is not None:
            names[rest] = None
        inner = Scope(names, scope, True)
        whole = Pair(LAMBDA, Pair(params_src, make_list(body)))
        body_node, body_forms = self.body(body, inner, "lambda", whole)
        node = Lambda(params_src, tuple(body_forms), tuple(req), rest, body_node, name, self.ns)
        return node, Pair(LAMBDA, Pair(params_src, make_list(body_forms)))

    @staticmethod
    def in_body(scope: Scope | None) -> bool:
        while scope is not None:
            if scope.body:
                return True
            scope = scope.parent
        return False

    # -- special forms -------------------------------------------------------------
    # (quote datum)
    def form_quote(self, x: Pair, scope: Scope | None) -> Compiled:
        items = proper_list(x, "quote")
        if len(items) != 2:
            raise syntax_error("quote: expected (quote datum)", x)
        return Const(items[1]), x

    # (quasiquote template)   `template, with ,expr and ,@expr (also inside vectors and maps)
    def form_quasiquote(self, x: Pair, scope: Scope | None) -> Compiled:
        items = proper_list(x, "quasiquote")
        if len(items) != 2:
            raise syntax_error("quasiquote: expected (quasiquote template)", x)
        node, template = self.quasi(items[1], 1, scope)
        return node, _list2(QUASIQUOTE, template)

    def quasi(self, t: Any, depth: int, scope: Scope | None) -> Compiled:
        """Compile a template at quasiquote ``depth``; returns (node, expanded template)."""
        if not has_unquote(t):
            return Const(t), t
        tt = type(t)
        if tt is Pair:
            head = t.car
            if (head is UNQUOTE or head is UNQUOTE_SPLICING) and type(t.cdr) is Pair and t.cdr.cdr is NIL:
                if head is UNQUOTE_SPLICING and depth == 1:
                    raise syntax_error("unquote-splicing (,@) must be inside a list or vector", t)
                if depth == 1:
                    node, form = self.expr(t.cdr.car, scope)
                    return node, _list2(UNQUOTE, form)
                inner, form = self.quasi(t.cdr.car, depth - 1, scope)
                return MakeList((Const(head), inner), (False, False), False), _list2(head, form)
            if head is QUASIQUOTE and type(t.cdr) is Pair and t.cdr.cdr is NIL:
                inner, form = self.quasi(t.cdr.car, depth + 1, scope)
                return MakeList((Const(head), inner), (False, False), False), _list2(head, form)
            nodes, splice, forms = [], [], []
            node = t
            tail_form: Any = NIL
            dotted = False
            while type(node) is Pair:
                if node is not t and node.car is UNQUOTE and type(node.cdr) is Pair and node.cdr.cdr is NIL:
                    break  # `(a . ,b)`: the tail is an unquote
                n, f, sp = self.quasi_element(node.car, depth, scope)
                nodes.append(n)
                splice.append(sp)
                forms.append(f)
                node = node.cdr
            if node is not NIL:
                n, tail_form = self.quasi(node, depth, scope)
                nodes.append(n)
                splice.append(False)
                dotted = True
            return MakeList(tuple(nodes), tuple(splice), dotted), make_list(forms, tail_form)
        if tt is tuple:
            compiled = [self.quasi_element(item, depth, scope) for item in t]
            return (
                MakeVector(tuple(n for n, _, _ in compiled), tuple(sp for _, _, sp in compiled)),
                tuple(f for _, f, _ in compiled),
            )
        if tt is LMap:
            nodes, entries = [], []
            for k, v in map_items(t):
                kn, kf = self.quasi(k, depth, scope)
                vn, vf = self.quasi(v, depth, scope)
                nodes += [kn, vn]
                entries.append((kf, vf))
            return MakeMap(tuple(nodes)), LMap(entries)
        return Const(t), t

    def quasi_element(self, item: Any, depth: int, scope: Scope | None) -> tuple[Node, Any, bool]:
        """An element of a list/vector template: (node, template, spliced?)."""
        if (
            depth == 1 and type(item) is Pair and item.car is UNQUOTE_SPLICING
            and type(item.cdr) is Pair and item.cdr.cdr is NIL
        ):
            node, form = self.expr(item.cdr.car, scope)
            return node, _list2(UNQUOTE_SPLICING, form), True
        node, form = self.quasi(item, depth, scope)
        return node, form, False

    def form_unquote(self, x: Pair, scope: Scope | None) -> Compiled:
        raise syntax_error(f"{x.car.name} (, or ,@) is only allowed inside a quasiquote (`)", x)

    # (if test then [else])
    def form_if(self, x: Pair, scope: Scope | None) -> Compiled:
        items = proper_list(x, "if")
        if len(items) not in (3, 4):
            raise syntax_error("if: expected (if test then) or (if test then else)", x)
        test, tf = self.expr(items[1], scope)
        then, thf = self.expr(items[2], scope)
        if len(items) == 4:
            else_, ef = self.expr(items[3], scope)
        else:
            else_, ef = Const(NIL), NIL
        return If(test, then, else_), make_list([IF_, tf, thf, ef])

    # (cond (test expr...) ... (else expr...))   a clause (test) gives the test's value
    def form_cond(self, x: Pair, scope: Scope | None) -> Compiled:
        clauses = proper_list(x, "cond")[1:]
        compiled: list[tuple[Node | None, Any, Node, Any, bool]] = []
        for i, clause in enumerate(clauses):
            if type(clause) is not Pair:
                raise syntax_error(f"cond: each clause must be (test expr...), got {to_source(clause, 40)}", x)
            items = proper_list(clause, "cond")
            if items[0] is ELSE:
                if i != len(clauses) - 1:
                    raise syntax_error("cond: the else clause must be the last one", x)
                node, form = self.sequence(items[1:], scope)
                compiled.append((None, None, node, form, False))
            else:
                test, tf = self.expr(items[0], scope)
                node, form = self.sequence(items[1:], scope)
                compiled.append((test, tf, node, form, len(items) == 1))
        result: Node = Const(NIL)
        result_form: Any = NIL
        for test, tf, node, form, bare in reversed(compiled):
            if test is None:
                result, result_form = node, form
            elif bare:
                result, result_form = Or((test, result)), make_list([OR_, tf, result_form])
            else:
                result, result_form = If(test, node, result), make_list([IF_, tf, form, result_form])
        return result, result_form

    # (when test body...)
    def form_when(self, x: Pair, scope: Scope | None) -> Compiled:
        items = proper_list(x, "when")
        if len(items) < 2:
            raise syntax_error("when: expected (when test body...)", x)
        test, tf = self.expr(items[1], scope)
        node, form = self.sequence(items[2:], scope)
        return If(test, node, Const(NIL)), make_list([IF_, tf, form, NIL])

    # (unless test body...)
    def form_unless(self, x: Pair, scope: Scope | None) -> Compiled:
        items = proper_list(x, "unless")
        if len(items) < 2:
            raise syntax_error("unless: expected (unless test body...)", x)
        test, tf = self.expr(items[1], scope)
        node, form = self.sequence(items[2:], scope)
        return If(test, Const(NIL), node), make_list([IF_, tf, NIL, form])

    # (and expr...)
    def form_and(self, x: Pair, scope: Scope | None) -> Compiled:
        return self._logic(x, scope, AND_, And, True)

    # (or expr...)
    def form_or(self, x: Pair, scope: Scope | None) -> Compiled:
        return self._logic(x, scope, OR_, Or, False)

    def _logic(self, x: Pair, scope: Scope | None, head: Symbol, cls: type, empty: bool) -> Compiled:
        compiled = [self.expr(f, scope) for f in proper_list(x, head.name)[1:]]
        if not compiled:
            return Const(empty), x
        if len(compiled) == 1:
            return compiled[0]
        return cls(tuple(n for n, _ in compiled)), Pair(head, make_list([f for _, f in compiled]))

    # (define name value)  |  (define (name . params) body...)
    def form_define(self, x: Pair, scope: Scope | None) -> Compiled:
        if self.in_body(scope):
            raise syntax_error(
                "define: inside a function or let, define is only allowed directly in the body "
                "(not nested in another form); use let to bind a local here", x,
            )
        sym, value = self.canonical_define(x)
        node, form = self.expr(value, scope, sym.name)
        return DefineGlobal(self.ns, sym, node), make_list([DEFINE, sym, form])

    # (set! name value)   only for globals: locals are immutable
    def form_set(self, x: Pair, scope: Scope | None) -> Compiled:
        items = proper_list(x, "set!")
        if len(items) != 3 or type(items[1]) is not Symbol:
            raise syntax_error("set!: expected (set! name value)", x)
        sym = items[1]
        if lookup(scope, sym) >= 0:
            raise lisp_error(ASSIGNMENT_ERROR, LOCAL_SET_MESSAGE.format(name=sym.name))
        if sym in SPECIAL_FORMS:
            raise syntax_error(f"set!: cannot assign {sym.name}: it is a special form", x)
        ns, name = self.qualify(sym)
        node, form = self.expr(items[2], scope)
        return SetGlobal(ns, Symbol(name), node), make_list([SET, sym, form])

    # (lambda (a b) body...)  |  (lambda (a b . rest) body...)  |  (lambda args body...)
    def form_lambda(self, x: Pair, scope: Scope | None, name: str | None = None) -> Compiled:
        items = proper_list(x, "lambda")
        if len(items) < 3:
            raise syntax_error("lambda: expected (lambda (params...) body...)", x)
        req, rest = self.parse_params(items[1], "lambda", x)
        return self.make_lambda(items[1], req, rest, items[2:], scope, name)

    # (let ((name value) ...) body...)  |  (let loop ((name value) ...) body...)   named let
    def form_let(self, x: Pair, scope: Scope | None) -> Compiled:
        items = proper_list(x, "let")
        if len(items) >= 2 and type(items[1]) is Symbol:
            return self.named_let(x, items, scope)
        if len(items) < 3:
            raise syntax_error("let: expected (let ((name value) ...) body...)", x)
        bindings = self.parse_bindings(items[1], "let", x)
        syms = [s for s, _ in bindings]
        if len(set(syms)) != len(syms):
            raise syntax_error("let: a name is bound twice", x)
        inits = [self.expr(init, scope, sym.name) for sym, init in bindings]
        inner = Scope(dict.fromkeys(syms), scope, True)
        body, body_forms = self.body(items[2:], inner, "let", x)
        form = Pair(LET, Pair(make_list([_list2(s, f) for s, (_, f) in zip(syms, inits)]), make_list(body_forms)))
        return Let(tuple(syms), tuple(n for n, _ in inits), body), form

    def named_let(self, x: Pair, items: list[Any], scope: Scope | None) -> Compiled:
        if len(items) < 4:
            raise syntax_error("let: expected (let name ((var value) ...) body...)", x)
        loop = self.check_bindable(items[1], "let", x)
        bindings = self.parse_bindings(items[2], "let", x)
        syms = [s for s, _ in bindings]
        if len(set(syms)) != len(syms):
            raise syntax_error("let: a name is bound twice", x)
        inits = [self.expr(init, scope) for _, init in bindings]
        outer = Scope({loop: None}, scope, True)
        fn, _ = self.make_lambda(make_list(syms), syms, None, items[3:], outer, loop.name)
        node = Call(Letrec((loop,), (fn,), Local(loop, 0)), tuple(n for n, _ in inits))
        binding_forms = make_list([_list2(s, f) for s, (_, f) in zip(syms, inits)])
        return node, Pair(LET, Pair(loop, Pair(binding_forms, make_list(fn.body_src))))

    # (let* ((name value) ...) body...)   each value sees the names before it
    def form_let_star(self, x: Pair, scope: Scope | None) -> Compiled:
        items = proper_list(x, "let*")
        if len(items) < 3:
            raise syntax_error("let*: expected (let* ((name value) ...) body...)", x)
        bindings = self.parse_bindings(items[1], "let*", x)
        inits = []
        inner = scope
        for sym, init in bindings:
            inits.append(self.expr(init, inner, sym.name))
            inner = Scope({sym: None}, inner, True)
        if not bindings:
            inner = Scope({}, scope, True)
        assert inner is not None
        body, body_forms = self.body(items[2:], inner, "let*", x)
        node: Node = body
        for (sym, _), (init, _) in zip(reversed(bindings), reversed(inits)):
            node = Let((sym,), (init,), node)
        if not bindings:
            node = Let((), (), body)
        binding_forms = make_list([_list2(s, f) for (s, _), (_, f) in zip(bindings, inits)])
        return node, Pair(LET_STAR, Pair(binding_forms, make_list(body_forms)))

    # (letrec ((name value) ...) body...)   every value sees every name (evaluated in order)
    def form_letrec(self, x: Pair, scope: Scope | None) -> Compiled:
        items = proper_list(x, "letrec")
        if len(items) < 3:
            raise syntax_error("letrec: expected (letrec ((name value) ...) body...)", x)
        bindings = self.parse_bindings(items[1], "letrec", x)
        syms = [s for s, _ in bindings]
        if len(set(syms)) != len(syms):
            raise syntax_error("letrec: a name is bound twice", x)
        inner = Scope(dict.fromkeys(syms), scope, True)
        inits = [self.expr(init, inner, sym.name) for sym, init in bindings]
        body, body_forms = self.body(items[2:], inner, "letrec", x)
        form = Pair(LETREC, Pair(make_list([_list2(s, f) for s, (_, f) in zip(syms, inits)]), make_list(body_forms)))
        return Letrec(tuple(syms), tuple(n for n, _ in inits), body), form

    # (begin expr...)
    def form_begin(self, x: Pair, scope: Scope | None) -> Compiled:
        compiled = [self.expr(f, scope) for f in proper_list(x, "begin")[1:]]
        form = Pair(BEGIN, make_list([f for _, f in compiled]))
        if not compiled:
            return Const(NIL), form
        if len(compiled) == 1:
            return compiled[0][0], form
        return Seq(tuple(n for n, _ in compiled)), form

    # (define-macro (name . params) body...)   top level only; the body returns the expansion
    def form_define_macro(self, x: Pair, scope: Scope | None) -> Compiled:
        if self.in_body(scope):
            raise syntax_error("define-macro: macros can only be defined at top level", x)
        items = proper_list(x, "define-macro")
        if len(items) < 3 or type(items[1]) is not Pair:
            raise syntax_error("define-macro: expected (define-macro (name params...) body...)", x)
        name = self.check_bindable(items[1].car, "define-macro", x)
        params = items[1].cdr
        req, rest = self.parse_params(params, "define-macro", x)
        fn, form = self.make_lambda(params, req, rest, items[2:], scope, name.name)
        expanded = Pair(DEFINE_MACRO, Pair(Pair(name, params), form.cdr.cdr))
        return DefineMacro(self.ns, name, fn), expanded

    # (try body... (catch e handler...))   e is bound to the error value
    def form_try(self, x: Pair, scope: Scope | None) -> Compiled:
        items = proper_list(x, "try")
        if len(items) < 2 or not is_form(items[-1], CATCH):
            raise syntax_error("try: expected (try body... (catch e handler...))", x)
        clause = proper_list(items[-1], "catch")
        if len(clause) < 2 or type(clause[1]) is not Symbol:
            raise syntax_error("try: the catch clause must be (catch e handler...)", x)
        sym = self.check_bindable(clause[1], "catch", x)
        body, body_form = self.sequence(items[1:-1], scope)
        inner = Scope({sym: None}, scope, False)
        handler, handler_form = self.sequence(clause[2:], inner)
        form = make_list([TRY, body_form, make_list([CATCH, sym, handler_form])])
        return Try(body, sym, handler), form

    # (in-ns name)   name: a symbol (not evaluated), or an expression giving a symbol or string
    def form_in_ns(self, x: Pair, scope: Scope | None) -> Compiled:
        items = proper_list(x, "in-ns")
        if len(items) != 2:
            raise syntax_error("in-ns: expected (in-ns name)", x)
        arg = items[1]
        if type(arg) is Symbol:
            return InNs(Const(arg.name)), x
        node, form = self.expr(arg, scope)
        return InNs(node), _list2(IN_NS, form)

    # (catch ...) and (else ...) outside their forms
    def form_misplaced(self, x: Pair, scope: Scope | None) -> Compiled:
        where = "a try form" if x.car is CATCH else "a cond clause"
        raise syntax_error(f"{x.car.name} is only allowed as part of {where}", x)


Handler = Callable[..., Compiled]

SPECIAL_FORMS: dict[Symbol, Handler] = {
    QUOTE: Compiler.form_quote,
    QUASIQUOTE: Compiler.form_quasiquote,
    UNQUOTE: Compiler.form_unquote,
    UNQUOTE_SPLICING: Compiler.form_unquote,
    IF_: Compiler.form_if,
    COND: Compiler.form_cond,
    WHEN: Compiler.form_when,
    UNLESS: Compiler.form_unless,
    AND_: Compiler.form_and,
    OR_: Compiler.form_or,
    DEFINE: Compiler.form_define,
    SET: Compiler.form_set,
    LAMBDA: Compiler.form_lambda,
    LET: Compiler.form_let,
    LET_STAR: Compiler.form_let_star,
    LETREC: Compiler.form_letrec,
    LETREC_STAR: Compiler.form_letrec,
    BEGIN: Compiler.form_begin,
    DEFINE_MACRO: Compiler.form_define_macro,
    TRY: Compiler.form_try,
    CATCH: Compiler.form_misplaced,
    ELSE: Compiler.form_misplaced,
    IN_NS: Compiler.form_in_ns,
}
