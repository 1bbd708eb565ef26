"""The special forms: one handler each, headed by a comment with its syntax.

A handler takes the compiler (as :class:`FormCompiler`, the part of
:class:`~tapevm.vm.compiler.Compiler` it uses), the form and its scope, checks
the form's shape and returns the compiled node *and* the macro-expanded source
of the form; a ``lambda`` keeps the expanded source of its body, which is what
a closure stores (``Closure.body``), so a closure recompiled from storage
behaves exactly like the live one even if a macro it used was redefined since.

``define`` at top level, or anywhere not inside a lambda/let body, defines a
global in the unit's namespace; directly in a body it defines a local (the
compiler's ``body`` finds those); nested elsewhere inside a body (e.g. in an
``if`` branch inside a function) it is a syntax error.

:data:`SPECIAL_FORMS` maps each form's symbol to its handler; the compiler
dispatches on it, and a special form's name can be neither bound nor called.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from tapevm.vm.errors import ASSIGNMENT_ERROR, lisp_error
from tapevm.vm.nodes import (
    And,
    Call,
    Const,
    DefineGlobal,
    DefineMacro,
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
from tapevm.vm.syntax import (
    AND_,
    BEGIN,
    CATCH,
    COND,
    DEFINE,
    DEFINE_MACRO,
    ELSE,
    IF_,
    IN_NS,
    LAMBDA,
    LET,
    LET_STAR,
    LETREC,
    LETREC_STAR,
    OR_,
    QUASIQUOTE,
    QUOTE,
    SET,
    TRY,
    UNLESS,
    UNQUOTE,
    UNQUOTE_SPLICING,
    WHEN,
    Compiled,
    Scope,
    in_body,
    is_form,
    list2,
    lookup,
    proper_list,
    syntax_error,
)
from tapevm.vm.values import NIL, LMap, Pair, Symbol, make_list, map_items
from tapevm.vm.world import bindable_name

LOCAL_SET_MESSAGE = (
    "set!: {name} is a local variable; locals are immutable — "
    "use an atom (atom/reset!/swap!) for mutable state"
)


class FormCompiler(Protocol):
    """What a special form's handler uses of the compiler (:class:`~tapevm.vm.compiler.Compiler`)."""

    ns: str  # the unit's namespace: where a top-level define binds

    def expr(self, x: Any, scope: Scope | None, name: str | None = None) -> Compiled:
        """Compile an expression; ``name`` names the closure if ``x`` is a lambda."""
        ...

    def sequence(self, forms: list[Any], scope: Scope | None) -> Compiled:
        """Expressions in order (not a body: no internal defines); nil if empty."""
        ...

    def body(self, forms: list[Any], scope: Scope, who: str, whole: Any) -> tuple[Node, list[Any]]:
        """A lambda/let body in its own frame ``scope``: internal defines become locals of that frame."""
        ...

    def make_lambda(
        self, params_src: Any, req: list[Symbol], rest: Symbol | None, body: list[Any],
        scope: Scope | None, name: str | None, source: Pair | None = None,
    ) -> tuple[Lambda, Any]:
        """A lambda node of parameters ``req`` (and ``rest``) and ``body``, and its expanded source
        (``source`` itself, the ``(lambda ...)`` form compiled, when expanding changed nothing)."""
        ...

    def qualify(self, sym: Symbol) -> tuple[str, str]:
        """(namespace, name) of a global symbol."""
        ...


# -- shapes shared by the binding forms -----------------------------------------------
def check_bindable(sym: Any, who: str, form: Any) -> Symbol:
    if type(sym) is not Symbol:
        raise syntax_error(f"{who}: expected a symbol to bind, got {to_source(sym, 40)}", form)
    if sym in SPECIAL_FORMS:
        raise syntax_error(f"{who}: cannot bind {sym.name}: it is a special form", form)
    if not bindable_name(sym.name):
        raise syntax_error(f"{who}: cannot bind the qualified name {sym.name}", form)
    return sym


def parse_params(params: Any, who: str, form: Any) -> tuple[list[Symbol], Symbol | None]:
    """``(a b)``, ``(a b . rest)`` or ``args`` to (required, rest)."""
    req: list[Symbol] = []
    node = params
    while type(node) is Pair:
        req.append(check_bindable(node.car, who, form))
        node = node.cdr
    rest = None
    if node is not NIL:
        if type(node) is not Symbol:
            raise syntax_error(
                f"{who}: parameters must be (a b ...), (a b . rest) or a single symbol, "
                f"got {to_source(params, 40)}", form,
            )
        rest = check_bindable(node, who, form)
    names = req + ([rest] if rest is not None else [])
    if len(set(names)) != len(names):
        raise syntax_error(f"{who}: a parameter name is repeated in {to_source(params, 40)}", form)
    return req, rest


def parse_bindings(bindings: Any, who: str, form: Any) -> list[tuple[Symbol, Any]]:
    """``((name init) ...)`` to [(name, init)]."""
    if bindings is not NIL and type(bindings) is not Pair:
        raise syntax_error(f"{who}: expected a list of bindings ((name value) ...)", form)
    result = []
    for b in proper_list(bindings, who):
        items = proper_list(b, who) if type(b) is Pair else None
        if items is None or len(items) != 2:
            raise syntax_error(f"{who}: each binding must be (name value), got {to_source(b, 40)}", form)
        result.append((check_bindable(items[0], who, form), items[1]))
    return result


def canonical_define(x: Any) -> tuple[Symbol, Any]:
    """``(define name value)`` or ``(define (name . params) body...)`` to (name, value form)."""
    items = proper_list(x, "define")
    if len(items) < 2:
        raise syntax_error("define: expected (define name value) or (define (name args...) body...)", x)
    target = items[1]
    if type(target) is Pair:
        name = check_bindable(target.car, "define", x)
        if len(items) < 3:
            raise syntax_error(f"define: the function {name.name} has no body", x)
        return name, Pair(LAMBDA, Pair(target.cdr, make_list(items[2:])))
    name = check_bindable(target, "define", x)
    if len(items) != 3:
        raise syntax_error(f"define: expected (define {name.name} value) with exactly one value", x)
    return name, items[2]


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


# -- the special forms ------------------------------------------------------------
# (quote datum)
def form_quote(c: FormCompiler, x: Pair, scope: Scope | None) -> Compiled:
    items = proper_list(x, "quote")
    if len(items) != 2:
        raise syntax_error("quote: expected (quote datum)", x)
    return Const(items[1]), x


# (quasiquote template)   `template, with ,expr and ,@expr (also inside vectors and maps)
def form_quasiquote(c: FormCompiler, x: Pair, scope: Scope | None) -> Compiled:
    items = proper_list(x, "quasiquote")
    if len(items) != 2:
        raise syntax_error("quasiquote: expected (quasiquote template)", x)
    node, template = quasi(c, items[1], 1, scope)
    return node, list2(QUASIQUOTE, template)


def quasi(c: FormCompiler, t: Any, depth: int, scope: Scope | None) -> Compiled:
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
                node, form = c.expr(t.cdr.car, scope)
                return node, list2(UNQUOTE, form)
            inner, form = quasi(c, t.cdr.car, depth - 1, scope)
            return MakeList((Const(head), inner), (False, False), False), list2(head, form)
        if head is QUASIQUOTE and type(t.cdr) is Pair and t.cdr.cdr is NIL:
            inner, form = quasi(c, t.cdr.car, depth + 1, scope)
            return MakeList((Const(head), inner), (False, False), False), list2(head, form)
        nodes, splice, forms = [], [], []
        node = t
        tail_form: Any = NIL
        dotted = False
        while type(node) is Pair:
            if node is not t and node.car is UNQUOTE and type(node.cdr) is Pair and node.cdr.cdr is NIL:
                break  # `(a . ,b)`: the tail is an unquote
            n, f, sp = quasi_element(c, node.car, depth, scope)
            nodes.append(n)
            splice.append(sp)
            forms.append(f)
            node = node.cdr
        if node is not NIL:
            n, tail_form = quasi(c, node, depth, scope)
            nodes.append(n)
            splice.append(False)
            dotted = True
        return MakeList(tuple(nodes), tuple(splice), dotted), make_list(forms, tail_form)
    if tt is tuple:
        compiled = [quasi_element(c, item, depth, scope) for item in t]
        return (
            MakeVector(tuple(n for n, _, _ in compiled), tuple(sp for _, _, sp in compiled)),
            tuple(f for _, f, _ in compiled),
        )
    if tt is LMap:
        nodes, entries = [], []
        for k, v in map_items(t):
            kn, kf = quasi(c, k, depth, scope)
            vn, vf = quasi(c, v, depth, scope)
            nodes += [kn, vn]
            entries.append((kf, vf))
        return MakeMap(tuple(nodes)), LMap(entries)
    return Const(t), t


def quasi_element(c: FormCompiler, item: Any, depth: int, scope: Scope | None) -> tuple[Node, Any, bool]:
    """An element of a list/vector template: (node, template, spliced?)."""
    if (
        depth == 1 and type(item) is Pair and item.car is UNQUOTE_SPLICING
        and type(item.cdr) is Pair and item.cdr.cdr is NIL
    ):
        node, form = c.expr(item.cdr.car, scope)
        return node, list2(UNQUOTE_SPLICING, form), True
    node, form = quasi(c, item, depth, scope)
    return node, form, False


def form_unquote(c: FormCompiler, x: Pair, scope: Scope | None) -> Compiled:
    raise syntax_error(f"{x.car.name} (, or ,@) is only allowed inside a quasiquote (`)", x)


# (if test then [else])
def form_if(c: FormCompiler, x: Pair, scope: Scope | None) -> Compiled:
    items = proper_list(x, "if")
    if len(items) not in (3, 4):
        raise syntax_error("if: expected (if test then) or (if test then else)", x)
    test, tf = c.expr(items[1], scope)
    then, thf = c.expr(items[2], scope)
    if len(items) == 4:
        else_, ef = c.expr(items[3], scope)
    else:
        else_, ef = Const(NIL), NIL
    return If(test, then, else_), make_list([IF_, tf, thf, ef])


# (cond (test expr...) ... (else expr...))   a clause (test) gives the test's value
def form_cond(c: FormCompiler, x: Pair, scope: Scope | None) -> Compiled:
    clauses = proper_list(x, "cond")[1:]
    compiled: list[tuple[Node | None, Any, Node, Any, bool]] = []
    for i, clause in enumerate(clauses):
        if type(clause) is not Pair:
            raise syntax_error(f"cond: each clause must be (test expr...), got {to_source(clause, 40)}", x)
        items = proper_list(clause, "cond")
        if items[0] is ELSE:
            if i != len(clauses) - 1:
                raise syntax_error("cond: the else clause must be the last one", x)
            node, form = c.sequence(items[1:], scope)
            compiled.append((None, None, node, form, False))
        else:
            test, tf = c.expr(items[0], scope)
            node, form = c.sequence(items[1:], scope)
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
def form_when(c: FormCompiler, x: Pair, scope: Scope | None) -> Compiled:
    items = proper_list(x, "when")
    if len(items) < 2:
        raise syntax_error("when: expected (when test body...)", x)
    test, tf = c.expr(items[1], scope)
    node, form = c.sequence(items[2:], scope)
    return If(test, node, Const(NIL)), make_list([IF_, tf, form, NIL])


# (unless test body...)
def form_unless(c: FormCompiler, x: Pair, scope: Scope | None) -> Compiled:
    items = proper_list(x, "unless")
    if len(items) < 2:
        raise syntax_error("unless: expected (unless test body...)", x)
    test, tf = c.expr(items[1], scope)
    node, form = c.sequence(items[2:], scope)
    return If(test, Const(NIL), node), make_list([IF_, tf, NIL, form])


# (and expr...)
def form_and(c: FormCompiler, x: Pair, scope: Scope | None) -> Compiled:
    return _logic(c, x, scope, AND_, And, True)


# (or expr...)
def form_or(c: FormCompiler, x: Pair, scope: Scope | None) -> Compiled:
    return _logic(c, x, scope, OR_, Or, False)


def _logic(c: FormCompiler, x: Pair, scope: Scope | None, head: Symbol, cls: type, empty: bool) -> Compiled:
    compiled = [c.expr(f, scope) for f in proper_list(x, head.name)[1:]]
    if not compiled:
        return Const(empty), x
    if len(compiled) == 1:
        return compiled[0]
    return cls(tuple(n for n, _ in compiled)), Pair(head, make_list([f for _, f in compiled]))


# (define name value)  |  (define (name . params) body...)
def form_define(c: FormCompiler, x: Pair, scope: Scope | None) -> Compiled:
    if in_body(scope):
        raise syntax_error(
            "define: inside a function or let, define is only allowed directly in the body "
            "(not nested in another form); use let to bind a local here", x,
        )
    sym, value = canonical_define(x)
    node, form = c.expr(value, scope, sym.name)
    if form is value and x.cdr.car is sym:  # (define name value), value unchanged by expansion
        return DefineGlobal(c.ns, sym, node), x
    return DefineGlobal(c.ns, sym, node), make_list([DEFINE, sym, form])


# (set! name value)   only for globals: locals are immutable
def form_set(c: FormCompiler, x: Pair, scope: Scope | None) -> Compiled:
    items = proper_list(x, "set!")
    if len(items) != 3 or type(items[1]) is not Symbol:
        raise syntax_error("set!: expected (set! name value)", x)
    sym = items[1]
    if lookup(scope, sym) >= 0:
        raise lisp_error(ASSIGNMENT_ERROR, LOCAL_SET_MESSAGE.format(name=sym.name))
    if sym in SPECIAL_FORMS:
        raise syntax_error(f"set!: cannot assign {sym.name}: it is a special form", x)
    ns, name = c.qualify(sym)
    node, form = c.expr(items[2], scope)
    return SetGlobal(ns, Symbol(name), node), make_list([SET, sym, form])


# (lambda (a b) body...)  |  (lambda (a b . rest) body...)  |  (lambda args body...)
def form_lambda(c: FormCompiler, x: Pair, scope: Scope | None, name: str | None = None) -> Compiled:
    items = proper_list(x, "lambda")
    if len(items) < 3:
        raise syntax_error("lambda: expected (lambda (params...) body...)", x)
    req, rest = parse_params(items[1], "lambda", x)
    return c.make_lambda(items[1], req, rest, items[2:], scope, name, x)


# (let ((name value) ...) body...)  |  (let loop ((name value) ...) body...)   named let
def form_let(c: FormCompiler, x: Pair, scope: Scope | None) -> Compiled:
    items = proper_list(x, "let")
    if len(items) >= 2 and type(items[1]) is Symbol:
        return named_let(c, x, items, scope)
    if len(items) < 3:
        raise syntax_error("let: expected (let ((name value) ...) body...)", x)
    bindings = parse_bindings(items[1], "let", x)
    syms = [s for s, _ in bindings]
    if len(set(syms)) != len(syms):
        raise syntax_error("let: a name is bound twice", x)
    inits = [c.expr(init, scope, sym.name) for sym, init in bindings]
    inner = Scope(dict.fromkeys(syms), scope, True)
    body, body_forms = c.body(items[2:], inner, "let", x)
    form = Pair(LET, Pair(make_list([list2(s, f) for s, (_, f) in zip(syms, inits)]), make_list(body_forms)))
    return Let(tuple(syms), tuple(n for n, _ in inits), body), form


def named_let(c: FormCompiler, x: Pair, items: list[Any], scope: Scope | None) -> Compiled:
    if len(items) < 4:
        raise syntax_error("let: expected (let name ((var value) ...) body...)", x)
    loop = check_bindable(items[1], "let", x)
    bindings = parse_bindings(items[2], "let", x)
    syms = [s for s, _ in bindings]
    if len(set(syms)) != len(syms):
        raise syntax_error("let: a name is bound twice", x)
    inits = [c.expr(init, scope) for _, init in bindings]
    outer = Scope({loop: None}, scope, True)
    fn, _ = c.make_lambda(make_list(syms), syms, None, items[3:], outer, loop.name)
    node = Call(Letrec((loop,), (fn,), Local(loop, 0)), tuple(n for n, _ in inits))
    binding_forms = make_list([list2(s, f) for s, (_, f) in zip(syms, inits)])
    return node, Pair(LET, Pair(loop, Pair(binding_forms, make_list(fn.body_src))))


# (let* ((name value) ...) body...)   each value sees the names before it
def form_let_star(c: FormCompiler, x: Pair, scope: Scope | None) -> Compiled:
    items = proper_list(x, "let*")
    if len(items) < 3:
        raise syntax_error("let*: expected (let* ((name value) ...) body...)", x)
    bindings = parse_bindings(items[1], "let*", x)
    inits = []
    inner = scope
    for sym, init in bindings:
        inits.append(c.expr(init, inner, sym.name))
        inner = Scope({sym: None}, inner, True)
    if not bindings:
        inner = Scope({}, scope, True)
    assert inner is not None
    body, body_forms = c.body(items[2:], inner, "let*", x)
    node: Node = body
    for (sym, _), (init, _) in zip(reversed(bindings), reversed(inits)):
        node = Let((sym,), (init,), node)
    if not bindings:
        node = Let((), (), body)
    binding_forms = make_list([list2(s, f) for (s, _), (_, f) in zip(bindings, inits)])
    return node, Pair(LET_STAR, Pair(binding_forms, make_list(body_forms)))


# (letrec ((name value) ...) body...)   every value sees every name (evaluated in order)
def form_letrec(c: FormCompiler, x: Pair, scope: Scope | None) -> Compiled:
    items = proper_list(x, "letrec")
    if len(items) < 3:
        raise syntax_error("letrec: expected (letrec ((name value) ...) body...)", x)
    bindings = parse_bindings(items[1], "letrec", x)
    syms = [s for s, _ in bindings]
    if len(set(syms)) != len(syms):
        raise syntax_error("letrec: a name is bound twice", x)
    inner = Scope(dict.fromkeys(syms), scope, True)
    inits = [c.expr(init, inner, sym.name) for sym, init in bindings]
    body, body_forms = c.body(items[2:], inner, "letrec", x)
    form = Pair(LETREC, Pair(make_list([list2(s, f) for s, (_, f) in zip(syms, inits)]), make_list(body_forms)))
    return Letrec(tuple(syms), tuple(n for n, _ in inits), body), form


# (begin expr...)
def form_begin(c: FormCompiler, x: Pair, scope: Scope | None) -> Compiled:
    compiled = [c.expr(f, scope) for f in proper_list(x, "begin")[1:]]
    form = Pair(BEGIN, make_list([f for _, f in compiled]))
    if not compiled:
        return Const(NIL), form
    if len(compiled) == 1:
        return compiled[0][0], form
    return Seq(tuple(n for n, _ in compiled)), form


# (define-macro (name . params) body...)   top level only; the body returns the expansion
def form_define_macro(c: FormCompiler, x: Pair, scope: Scope | None) -> Compiled:
    if in_body(scope):
        raise syntax_error("define-macro: macros can only be defined at top level", x)
    items = proper_list(x, "define-macro")
    if len(items) < 3 or type(items[1]) is not Pair:
        raise syntax_error("define-macro: expected (define-macro (name params...) body...)", x)
    name = check_bindable(items[1].car, "define-macro", x)
    params = items[1].cdr
    req, rest = parse_params(params, "define-macro", x)
    fn, form = c.make_lambda(params, req, rest, items[2:], scope, name.name)
    expanded = Pair(DEFINE_MACRO, Pair(Pair(name, params), form.cdr.cdr))
    return DefineMacro(c.ns, name, fn), expanded


# (try body... (catch e handler...))   e is bound to the error value
def form_try(c: FormCompiler, x: Pair, scope: Scope | None) -> Compiled:
    items = proper_list(x, "try")
    if len(items) < 2 or not is_form(items[-1], CATCH):
        raise syntax_error("try: expected (try body... (catch e handler...))", x)
    clause = proper_list(items[-1], "catch")
    if len(clause) < 2 or type(clause[1]) is not Symbol:
        raise syntax_error("try: the catch clause must be (catch e handler...)", x)
    sym = check_bindable(clause[1], "catch", x)
    body, body_form = c.sequence(items[1:-1], scope)
    inner = Scope({sym: None}, scope, False)
    handler, handler_form = c.sequence(clause[2:], inner)
    form = make_list([TRY, body_form, make_list([CATCH, sym, handler_form])])
    return Try(body, sym, handler), form


# (in-ns name)   name: a symbol (not evaluated), or an expression giving a symbol or string
def form_in_ns(c: FormCompiler, x: Pair, scope: Scope | None) -> Compiled:
    items = proper_list(x, "in-ns")
    if len(items) != 2:
        raise syntax_error("in-ns: expected (in-ns name)", x)
    arg = items[1]
    if type(arg) is Symbol:
        return InNs(Const(arg.name)), x
    node, form = c.expr(arg, scope)
    return InNs(node), list2(IN_NS, form)


# (catch ...) and (else ...) outside their forms
def form_misplaced(c: FormCompiler, x: Pair, scope: Scope | None) -> Compiled:
    where = "a try form" if x.car is CATCH else "a cond clause"
    raise syntax_error(f"{x.car.name} is only allowed as part of {where}", x)


Handler = Callable[..., Compiled]

SPECIAL_FORMS: dict[Symbol, Handler] = {
    QUOTE: form_quote,
    QUASIQUOTE: form_quasiquote,
    UNQUOTE: form_unquote,
    UNQUOTE_SPLICING: form_unquote,
    IF_: form_if,
    COND: form_cond,
    WHEN: form_when,
    UNLESS: form_unless,
    AND_: form_and,
    OR_: form_or,
    DEFINE: form_define,
    SET: form_set,
    LAMBDA: form_lambda,
    LET: form_let,
    LET_STAR: form_let_star,
    LETREC: form_letrec,
    LETREC_STAR: form_letrec,
    BEGIN: form_begin,
    DEFINE_MACRO: form_define_macro,
    TRY: form_try,
    CATCH: form_misplaced,
    ELSE: form_misplaced,
    IN_NS: form_in_ns,
}
