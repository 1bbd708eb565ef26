"""The machine: runs compiled code with an explicit continuation stack.

The evaluator is one loop over a small state - the current ``mode``, the node
being evaluated and its environment, the function and arguments of a pending
call, the value being returned - plus ``stack``, the continuation: a list of
frames, each a tuple ``(kind, ...)`` of plain data (code nodes, environments,
values, lists of evaluated arguments, resumer names).  No Python closure or
generator is ever part of it, so a suspended computation is data.

Lisp calls never recurse in Python: a call in tail position replaces the
current node (proper tail calls, constant stack); a call in argument position
pushes one frame.  Recursion depth is limited by :data:`MAX_PENDING` frames
(a runaway recursion ends with a ``stack-overflow`` error, not by eating memory),
and a form's calls by its budget (:mod:`tapevm.vm.limits`: the loop counts
closure calls in a local and checks the budget every ``CHECK_EVERY`` of them).

Modes:

* ``EVAL``: evaluate ``node`` in ``env``;
* ``ARGS``: evaluate ``node.args[i:]`` into ``vals`` (calls, ``let`` inits,
  vector/map/list constructors), then finish the node;
* ``APPLY``: call ``fn`` with ``args``;
* ``RETURN``: hand ``val`` to the frame on top of the stack.

Speed: leaves (constants, variables) are evaluated inline, and so is a call
whose operator is a global bound to a plain primitive and whose arguments are
leaves (``(- n 1)``, ``(< n 2)``): it needs no frame, and when the operator is
still the built-in ``+ - * < > <= >= =`` and both arguments are integers, no
Python call either.  Global references hold the namespace's binding dict and
read it directly.

Primitives that call functions (``map``, ``apply``, ``swap!``...) return
requests (:mod:`tapevm.vm.requests`) instead of calling back into Python
recursion.  :meth:`Machine.call` runs a nested loop, for Python callers
(macro expansion, the host).
"""

from __future__ import annotations

import difflib
import operator
from collections.abc import Callable
from typing import Any

from tapevm.domain.state import MISSING
from tapevm.vm.constructors import build_collection
from tapevm.vm.effects import EffectAbort
from tapevm.vm.errors import (
    INTERNAL_ERROR,
    STACK_OVERFLOW,
    TYPE_ERROR,
    UNBOUND_SYMBOL,
    LispError,
    closure_arity_error,
    error_value_of,
    lisp_error,
    not_callable,
    primitive_type_error,
)
from tapevm.vm.host import Host
from tapevm.vm.limits import CHECK_EVERY
from tapevm.vm.nodes import (
    AND,
    CALL,
    CONST,
    DEFINE_GLOBAL,
    DEFINE_LOCAL,
    DEFINE_MACRO,
    GLOBAL,
    IF,
    IN_NS,
    LAMBDA,
    LEAF_MAX,
    LET,
    LETREC,
    LOCAL0,
    LOCAL1,
    MAKE_LIST,
    OR,
    SEQ,
    SET_GLOBAL,
    TRY,
    Global,
    Node,
)
from tapevm.vm.printer import describe
from tapevm.vm.requests import RESUMERS, CallThen, EvalCode, TailCall
from tapevm.vm.suspension import Suspend
from tapevm.vm.values import NIL, Closure, Env, ErrorValue, Macro, Primitive, Symbol, make_list
from tapevm.vm.world import LAZY

# The continuation may hold this many frames (about 500 bytes each) before a
# stack-overflow error: deep recursion works, runaway recursion stops cleanly.
MAX_PENDING = 1_000_000

# Inline integer operations for Call.binop (indexes are nodes.BINOP_CODES).
_BINOPS: tuple[Callable[[Any, Any], Any], ...] = (
    operator.add, operator.add, operator.sub, operator.mul, operator.lt, operator.gt, operator.le,
    operator.ge, operator.eq)  # index 0 is never used (binop 0 means "not inline")

EVAL, ARGS, APPLY, RETURN = 0, 1, 2, 3  # modes

# Continuation frame kinds (first element of each frame tuple).
K_ARGS = 0     # (K_ARGS, node, env, fn, vals, i)   evaluating node.args[i]
K_IF = 1       # (K_IF, node, env)                  evaluating the test
K_SEQ = 2      # (K_SEQ, node, env, i)              next: node.body[i]
K_FN = 3       # (K_FN, node, env)                  evaluating a call's operator
K_AND = 4      # (K_AND, node, env, i)              next: node.exprs[i]
K_OR = 5       # (K_OR, node, env, i)
K_DEFG = 6     # (K_DEFG, node, env)                then define the global
K_DEFL = 7     # (K_DEFL, node, env)                then bind in env
K_SETG = 8     # (K_SETG, node, env)                then assign the global
K_LETREC = 9   # (K_LETREC, node, env, i)           evaluating init i in the new frame env
K_TRY = 10     # (K_TRY, node, env)                 a handler; passes values through
K_RESUME = 11  # (K_RESUME, resumer_name, state)    a primitive's continuation
K_INNS = 12    # (K_INNS, None, env)                then enter the namespace

class Machine:
    """Evaluates code nodes for one interpreter (its World, built-ins and compiler)."""

    def __init__(self, interp: Host) -> None:
        self.interp = interp
        self.world = interp.world
        # Run loops active: 1 while a form runs, more in a macro expansion or a call from Python (no await there).
        self.depth = 0

    # -- entry points ---------------------------------------------------------
    def run(self, node: Node, env: Env | None = None) -> Any:
        """Evaluate ``node`` in ``env`` (None: top level) to a value."""
        return self._counted(1, EVAL, node, env, None, None, [])

    def call(self, fn: Any, args: list[Any]) -> Any:
        """Call a Lisp function from Python (a nested run loop): one step of the form's budget, so a
        macro that expands forever is bounded too."""
        self.interp.budget.tick(1)
        return self._counted(2, APPLY, None, None, fn, list(args), [])  # never where await may suspend

    def resume(self, stack: list[tuple[Any, ...]], value: Any) -> Any:
        """Go on with a suspended continuation (vm/suspension.py): ``value`` is returned to its top frame."""
        return self._counted(1, RETURN, None, None, None, None, stack, value)

    def resume_raising(self, stack: list[tuple[Any, ...]], err: ErrorValue) -> Any:
        """Go on with a suspended continuation by raising ``err`` where it stopped (an await that timed out):
        the innermost ``try`` of the stack catches it, else it leaves as a LispError."""
        node, env = unwind(stack, err)
        return self._counted(1, EVAL, node, env, None, None, stack)

    def _counted(self, step: int, *loop: Any) -> Any:
        self.depth += step
        try:
            return self._loop(*loop)
        finally:
            self.depth -= step

    # -- slow paths --------------------------------------------------------------
    def global_value(self, g: Global) -> Any:
        """A global whose fast lookup missed: lazily decoded, or not in the compiled-in table."""
        world = self.world
        table = world.namespaces.get(g.ns)
        if table is not None:
            value = table.get(g.name, MISSING)
            if value is LAZY:
                return world.lookup(g.ns, g.name)
            if value is not MISSING:
                return value
        if g.default is not MISSING:
            return g.default
        raise self.unbound(g)

    def unbound(self, g: Global) -> LispError:
        world = self.world
        shown = g.name if g.ns == world.current_ns else f"{g.ns}/{g.name}"
        candidates = sorted(set(world.namespaces.get(g.ns, {})) | set(self.interp.builtins))
        close = difflib.get_close_matches(g.name, candidates, n=3, cutoff=0.75)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        return lisp_error(UNBOUND_SYMBOL, f"unbound symbol: {shown}{hint}")

    def leaf(self, a: Any, env: Env | None) -> Any:
        op = a.op
        if op == CONST:
            return a.value
        if op == GLOBAL:
            v = a.table.get(a.name, a.default)
            if v is MISSING or v is LAZY:
                v = self.global_value(a)
            return v
        if op == LOCAL0:
            return env.vars[a.sym]  # type: ignore[union-attr]
        if op == LOCAL1:
            return env.parent.vars[a.sym]  # type: ignore[union-attr]
        e = env
        for _ in range(a.depth):
            e = e.parent  # type: ignore[union-attr]
        return e.vars[a.sym]  # type: ignore[union-attr]

    # -- the loop -----------------------------------------------------------------
    def _loop(self, mode: int, node: Any, env: Env | None, fn: Any, args: Any,
              stack: list[tuple[Any, ...]], val: Any = None) -> Any:
        """The evaluator.  The four sections run in order EVAL, ARGS, APPLY, RETURN; a section
        that hands over to a later one just sets ``mode`` and falls through, one that goes back
        sets it and ``continue``s.  ``stack``, ``val``: the continuation (non-empty: resumed)."""
        push = stack.append
        pop = stack.pop
        world = self.world
        leaf = self.leaf
        budget = self.interp.budget
        left = CHECK_EVERY  # closure calls until the next check of the form's limits (vm/limits.py)
        vals: list[Any] = []
        i = 0
        while True:
            try:
                while True:
                    # ---- EVAL: node in env ----------------------------------------------
                    if mode == EVAL:
                        op = node.op
                        if op == CALL:
                            f = node.fn
                            if f.op == GLOBAL:
                                fn = f.table.get(f.name, f.default)
                                if fn is MISSING or fn is LAZY:
                                    fn = self.global_value(f)
                            elif f.op <= LEAF_MAX:
                                fn = leaf(f, env)
                            else:
                                push((K_FN, node, env))
                                node = f
                                continue
                            if node.prim_args:
                                args = []
                                for x in node.args:
                                    xop = x.op
                                    if xop == CONST:
                                        args.append(x.value)
                                    elif xop == LOCAL0:
                                        args.append(env.vars[x.sym])  # type: ignore[union-attr]
                                    else:
                                        args.append(leaf(x, env))
                                mode = APPLY
                            else:
                                vals = []
                                i = 0
                                mode = ARGS
                        elif op == IF:
                            t = node.test
                            top = t.op
                            if top == CALL and t.prim_args:
                                # (prim leaf...) inline, if the operator is a plain primitive
                                g = t.fn
                                f = g.table.get(g.name, g.default)
                                if f is MISSING or f is LAZY:
                                    f = self.global_value(g)
                                if type(f) is not Primitive or f.needs_machine:
                                    push((K_IF, node, env))
                                    node = t
                                    continue
                                lc = t.local_const
                                if lc is not None and f is g.default and type(v := env.vars[lc[0]]) is int:  # type: ignore[union-attr]
                                    v = _BINOPS[t.binop](v, lc[1])  # (< n 2): no argument list
                                    node = node.then if (v is not False and v is not NIL) else node.else_
                                    continue
                                pargs = []
                                for x in t.args:
                                    xop = x.op
                                    if xop == CONST:
                                        pargs.append(x.value)
                                    elif xop == LOCAL0:
                                        pargs.append(env.vars[x.sym])  # type: ignore[union-attr]
                                    else:
                                        pargs.append(leaf(x, env))
                                if t.binop and f is g.default and type(pargs[0]) is int and type(pargs[1]) is int:
                                    v = _BINOPS[t.binop](pargs[0], pargs[1])
                                else:
                                    try:
                                        v = f.fn(*pargs)
                                    except TypeError as exc:
                                        raise primitive_type_error(f, pargs, exc) from None
                            elif top <= LEAF_MAX:
                                v = leaf(t, env)
                            else:
                                push((K_IF, node, env))
                                node = t
                                continue
                            node = node.then if (v is not False and v is not NIL) else node.else_
                            continue
                        elif op == LOCAL0:
                            val = env.vars[node.sym]  # type: ignore[union-attr]
                            mode = RETURN
                        elif op <= LEAF_MAX:
                            val = leaf(node, env)
                            mode = RETURN
                        elif op == SEQ:
                            push((K_SEQ, node, env, 1))
                            node = node.body[0]
                            continue
                        elif op == LAMBDA:
                            val = Closure(node.params_src, node.body_src, env, node.name, node.ns, node)
                            mode = RETURN
                        elif op == LET or op >= MAKE_LIST:
                            fn = None  # no call: keep the frames free of stale values
                            vals = []
                            i = 0
                            mode = ARGS
                        elif op == LETREC:
                            env = Env({}, env)
                            if node.inits:
                                push((K_LETREC, node, env, 0))
                                node = node.inits[0]
                            else:
                                node = node.body
                            continue
                        elif op == AND or op == OR:
                            push((K_AND if op == AND else K_OR, node, env, 1))
                            node = node.exprs[0]
                            continue
                        elif op == DEFINE_GLOBAL:
                            push((K_DEFG, node, env))
                            node = node.value
                            continue
                        elif op == DEFINE_LOCAL:
                            push((K_DEFL, node, env))
                            node = node.value
                            continue
                        elif op == SET_GLOBAL:
                            push((K_SETG, node, env))
                            node = node.value
                            continue
                        elif op == TRY:
                            push((K_TRY, node, env))
                            node = node.body
                            continue
                        elif op == DEFINE_MACRO:
                            val = self.define_macro(node, env)
                            mode = RETURN
                        elif op == IN_NS:
                            push((K_INNS, None, env))
                            node = node.value
                            continue
                        else:  # pragma: no cover - the compiler makes no other nodes
                            raise lisp_error(INTERNAL_ERROR, f"unknown code node {type(node).__name__}")

                    # ---- ARGS: evaluate node.args[i:] into vals, then finish node ---------
                    if mode == ARGS:
                        argn = node.args
                        n = len(argn)
                        while i < n:
                            a = argn[i]
                            aop = a.op
                            if aop == CONST:
                                vals.append(a.value)
                            elif aop == LOCAL0:
                                vals.append(env.vars[a.sym])  # type: ignore[union-attr]
                            elif aop <= LEAF_MAX:
                                vals.append(leaf(a, env))
                            elif aop == CALL and a.prim_args:
                                # (prim leaf...) inline, if the operator is a plain primitive
                                g = a.fn
                                f = g.table.get(g.name, g.default)
                                if f is MISSING or f is LAZY:
                                    f = self.global_value(g)
                                if type(f) is not Primitive or f.needs_machine:
                                    break
                                lc = a.local_const
                                if lc is not None and f is g.default and type(v := env.vars[lc[0]]) is int:  # type: ignore[union-attr]
                                    vals.append(_BINOPS[a.binop](v, lc[1]))  # (- n 1): no argument list
                                    i += 1
                                    continue
                                pargs = []
                                for x in a.args:
                                    xop = x.op
                                    if xop == CONST:
                                        pargs.append(x.value)
                                    elif xop == LOCAL0:
                                        pargs.append(env.vars[x.sym])  # type: ignore[union-attr]
                                    else:
                                        pargs.append(leaf(x, env))
                                if a.binop and f is g.default and type(pargs[0]) is int and type(pargs[1]) is int:
                                    vals.append(_BINOPS[a.binop](pargs[0], pargs[1]))
                                else:
                                    try:
                                        vals.append(f.fn(*pargs))
                                    except TypeError as exc:
                                        raise primitive_type_error(f, pargs, exc) from None
                            else:
                                break
                            i += 1
                        if i < n:
                            push((K_ARGS, node, env, fn, vals, i))
                            node = argn[i]
                            mode = EVAL
                            continue
                        op = node.op
                        if op == CALL:
                            if node.binop and fn is node.fn.default and type(vals[0]) is int and type(vals[1]) is int:
                                val = _BINOPS[node.binop](vals[0], vals[1])  # e.g. (+ (f a) (f b))
                                mode = RETURN
                            else:
                                args = vals
                                mode = APPLY
                        elif op == LET:
                            env = Env(dict(zip(node.syms, vals)), env)
                            node = node.body
                            mode = EVAL
                            continue
                        else:
                            val = build_collection(node, vals)
                            mode = RETURN

                    # ---- APPLY: fn to args ------------------------------------------------
                    if mode == APPLY:
                        tf = type(fn)
                        if tf is Closure:
                            left -= 1
                            if not left:
                                left = CHECK_EVERY  # (first: a caught limit-exceeded leaves a whole chunk)
                                budget.tick(CHECK_EVERY)
                            if len(stack) > MAX_PENDING:
                                raise lisp_error(
                                    STACK_OVERFLOW,
                                    f"more than {MAX_PENDING} nested calls are pending (runaway recursion?)",
                                )
                            code = fn.code
                            if code is None:
                                code = fn.code = self.interp.compile_closure(fn)
                            n = len(args)
                            if code.rest is None:
                                if n != code.nreq:
                                    raise closure_arity_error(fn, n)
                                if n == 1:
                                    env = Env({code.params[0]: args[0]}, fn.env, code)
                                elif n == 2:
                                    params = code.params
                                    env = Env({params[0]: args[0], params[1]: args[1]}, fn.env, code)
                                else:
                                    env = Env(dict(zip(code.params, args)), fn.env, code)
                            else:
                                if n < code.nreq:
                                    raise closure_arity_error(fn, n)
                                frame_vars = dict(zip(code.params, args))
                                frame_vars[code.rest] = make_list(args[code.nreq:])
                                env = Env(frame_vars, fn.env, code)
                            node = code.body
                            mode = EVAL
                            continue
                        if tf is Primitive:
                            if fn.needs_machine:
                                try:
                                    r = fn.fn(self, *args)
                                except TypeError as exc:
                                    raise primitive_type_error(fn, args, exc) from None
                                tr = type(r)
                                if tr is CallThen:
                                    push((K_RESUME, r.resume, r.state))
                                    fn, args = r.fn, r.args
                                    continue
                                if tr is TailCall:
                                    fn, args = r.fn, r.args
                                    continue
                                if tr is EvalCode:
                                    node, env = r.node, None
                                    mode = EVAL
                                    continue
                                val = r
                            else:
                                try:
                                    val = fn.fn(*args)
                                except TypeError as exc:
                                    raise primitive_type_error(fn, args, exc) from None
                            mode = RETURN
                        else:
                            raise not_callable(fn)

                    # ---- RETURN: val to the top frame ------------------------------------
                    while True:
                        if not stack:
                            return val
                        frame = pop()
                        k = frame[0]
                        if k == K_ARGS:
                            _, node, env, fn, vals, i = frame
                            vals.append(val)
                            i += 1
                            mode = ARGS
                            break
                        if k == K_IF:
                            node = frame[1].then if (val is not False and val is not NIL) else frame[1].else_
                            env = frame[2]
                            mode = EVAL
                            break
                        if k == K_SEQ:
                            _, seq, env, i = frame
                            body = seq.body
                            node = body[i]
                            i += 1
                            if i < len(body):
                                push((K_SEQ, seq, env, i))
                            mode = EVAL
                            break
                        if k == K_FN:
                            node, env = frame[1], frame[2]
                            fn = val
                            vals = []
                            i = 0
                            mode = ARGS
                            break
                        if k == K_RESUME:
                            r = RESUMERS[frame[1]](self, frame[2], val)
                            tr = type(r)
                            if tr is CallThen:
                                push((K_RESUME, r.resume, r.state))
                                fn, args = r.fn, r.args
                                mode = APPLY
                                break
                            if tr is TailCall:
                                fn, args = r.fn, r.args
                                mode = APPLY
                                break
                            if tr is EvalCode:
                                node, env = r.node, None
                                mode = EVAL
                                break
                            val = r
                        elif k == K_AND or k == K_OR:
                            if (val is False or val is NIL) == (k == K_AND):
                                continue  # and: a false value ends it; or: a true one
                            _, logic, env, i = frame
                            exprs = logic.exprs
                            node = exprs[i]
                            i += 1
                            if i < len(exprs):
                                push((k, logic, env, i))
                            mode = EVAL
                            break
                        elif k == K_LETREC:
                            _, rec, env, i = frame
                            env.vars[rec.syms[i]] = val
                            i += 1
                            if i < len(rec.inits):
                                push((K_LETREC, rec, env, i))
                                node = rec.inits[i]
                            else:
                                node = rec.body
                            mode = EVAL
                            break
                        elif k == K_TRY:
                            pass
                        elif k == K_DEFG:
                            d = frame[1]
                            world.define(d.ns, d.sym.name, val)
                            val = d.sym
                        elif k == K_DEFL:
                            frame[2].vars[frame[1].sym] = val
                            val = frame[1].sym
                        elif k == K_SETG:
                            s = frame[1]
                            world.assign(s.ns, s.sym.name, val)
                        elif k == K_INNS:
                            val = self.enter_ns(val)
                        else:  # pragma: no cover
                            raise lisp_error(INTERNAL_ERROR, f"unknown continuation frame {k}")

            except LispError as exc:
                err = exc.error
            except Suspend as suspend:
                if suspend.stack is None:  # the innermost loop: its stack is where the answer goes
                    suspend.stack = stack
                raise  # not an error: no Lisp try sees it
            except EffectAbort:
                raise  # the host stops the form (store failure, replay divergence): no Lisp try sees it
            except Exception as exc:  # noqa: BLE001 - a bug in a primitive must not crash the host
                err = error_value_of(exc)
            node, env = unwind(stack, err)
            mode = EVAL

    def define_macro(self, node: Any, env: Env | None) -> Symbol:
        """Run a ``DefineMacro`` node: bind its macro in the world; the value is the macro's name."""
        code = node.fn
        closure = Closure(code.params_src, code.body_src, env, code.name, code.ns, code)
        self.world.define(node.ns, node.sym.name, Macro(closure))
        return node.sym  # type: ignore[no-any-return]

    def enter_ns(self, name: Any) -> Symbol:
        if type(name) is Symbol:
            name = name.name
        if type(name) is not str:
            raise lisp_error(TYPE_ERROR, f"in-ns: expected a symbol or string, got {describe(name)}")
        self.world.enter_ns(name)
        return Symbol(name)


def unwind(stack: list[tuple[Any, ...]], err: ErrorValue) -> tuple[Node, Env]:
    """Pop ``stack`` to the innermost ``try`` frame: (its handler, an environment binding ``err``).

    No ``try`` pending: the error leaves the machine as a :class:`LispError`.
    """
    while stack:
        frame = stack.pop()
        if frame[0] == K_TRY:
            handler = frame[1]
            return handler.handler, Env({handler.sym: err}, frame[2])
    raise LispError(err) from None
