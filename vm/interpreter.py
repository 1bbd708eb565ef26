"""The VM's façade: read source, evaluate top-level forms, rebuild closures and primitives.

    interp = Interpreter(World())
    for form, line, column, text in interp.read_forms("(define x 1) (+ x 1)"):
        value = interp.eval_form(form)

``eval_form`` runs one top-level form in ``world.current_ns``.  All global
state lives in the World; the session brackets each form with
``world.begin()`` and commits or rolls back its journal.  A Lisp error that
no ``try`` caught raises :class:`~tapevm.vm.errors.LispError` with the
mutations made so far still journaled (the session rolls them back).

A top-level ``(begin ...)`` is evaluated form by form, so a macro or
``in-ns`` in it takes effect for the forms after it.

Fast path: ``(define name constant)`` (a number, string, boolean, keyword or
nil: what the compiler would turn into a constant node) is by far the most
common top-level form; it is done by calling ``World.define`` directly, with
exactly the effect and result of compiling and running it.
"""

from __future__ import annotations

from typing import Any

from tapevm.vm import reader
from tapevm.vm.compiler import Compiler
from tapevm.vm.effects import EffectPort, NoEffects
from tapevm.vm.errors import UNBOUND_SYMBOL, LispError, lisp_error
from tapevm.vm.limits import FormBudget
from tapevm.vm.machine import Machine
from tapevm.vm.nodes import Lambda, Node
from tapevm.vm.primitives import all_primitives
from tapevm.vm.special_forms import SPECIAL_FORMS
from tapevm.vm.suspension import Suspend
from tapevm.vm.syntax import BEGIN, DEFINE, is_form, proper_list
from tapevm.vm.values import NIL, Closure, Env, ErrorValue, Keyword, NilType, Pair, Primitive, Symbol
from tapevm.vm.world import World, WorldError

# Values the compiler turns into a constant node (every datum the reader makes
# except symbols, lists, vectors and maps).
_CONSTANT_TYPES = frozenset({int, float, str, bool, Keyword, NilType})


class Interpreter:
    """One VM over one World: built-ins, compiler and machine."""

    def __init__(self, world: World, effects: EffectPort | None = None) -> None:
        self.world = world
        self.effects: EffectPort = effects if effects is not None else NoEffects()
        self.builtins: dict[str, Primitive] = all_primitives()
        # What the current form may still use (vm/limits.py): the session starts it at each form;
        # a bare Interpreter runs without limits.
        self.budget = FormBudget(world.journal_size)
        world.output_hook = self.budget.output
        self.machine = Machine(self)
        self._gensym_counter = 0
        # gensyms are named after the form that made them (its event number),
        # so names stay unique across reopening a session and equal on replay.
        self._gensym_form = 0
        # The top-level unit running or last run: (its macro-expanded source, its namespace, its code).
        self.unit: tuple[Any, str, Node] | None = None

    # -- reading -----------------------------------------------------------------
    def read_forms(self, source: str, filename: str = "<input>") -> list[tuple[Any, int, int, str]]:
        """Parse source into top-level forms: (form, line, column, source_text_of_that_form).

        Raises :class:`~tapevm.vm.errors.ReadError` (with line and column) on a syntax error.
        """
        return reader.read_forms(source, filename)

    # -- evaluating ----------------------------------------------------------------
    def eval_form(self, form: Any) -> Any:
        """Evaluate one top-level form in ``world.current_ns``; LispError on a Lisp error."""
        try:
            return self._eval_toplevel(form)
        except WorldError as exc:
            raise LispError(ErrorValue(exc.kind, exc.message)) from None

    def _eval_toplevel(self, form: Any) -> Any:
        if type(form) is Pair:
            head = form.car
            if head is DEFINE:
                # (define name constant): no macro can be called define, and the
                # compiler would make DefineGlobal(ns, name, Const(value)).
                rest = form.cdr
                if type(rest) is Pair:
                    name, tail = rest.car, rest.cdr
                    if (
                        type(tail) is Pair and tail.cdr is NIL and type(tail.car) in _CONSTANT_TYPES
                        and type(name) is Symbol and name not in SPECIAL_FORMS and "/" not in name.name
                    ):
                        world = self.world
                        world.define(world.current_ns, name.name, tail.car)
                        return name
            if head is BEGIN:
                return self._eval_begin(form)
            if type(head) is not Symbol or head in SPECIAL_FORMS:
                # a special form, or a call of a non-symbol: not a macro call, nothing to expand
                return self._run_unit(Compiler(self, self.world.current_ns), form)
        compiler = Compiler(self, self.world.current_ns)
        form = compiler.expand_toplevel_head(form)
        if is_form(form, BEGIN):
            return self._eval_begin(form)
        return self._run_unit(compiler, form)

    def _run_unit(self, compiler: Compiler, form: Any) -> Any:
        """Compile and run one top-level unit, remembering it (:attr:`unit`) for a suspension to name."""
        node, expanded = compiler.compile_toplevel_with_source(form)
        self.unit = (expanded, compiler.ns, node)
        return self.machine.run(node, None)

    def _eval_begin(self, form: Pair) -> Any:
        """A top-level ``(begin ...)``: its forms one by one, each seeing the effects of the last."""
        return self.eval_rest(proper_list(form, "begin")[1:], NIL)

    def eval_rest(self, forms: list[Any], result: Any) -> Any:
        """Evaluate top-level ``forms`` in order (``result`` if none); a suspension in one of them carries
        the forms after it (vm/suspension.py)."""
        for n, sub in enumerate(forms):
            try:
                result = self._eval_toplevel(sub)
            except Suspend as suspend:
                suspend.rest_forms.extend(forms[n + 1:])
                raise
        return result

    def resume(self, stack: list[tuple[Any, ...]], answer: Any, error: ErrorValue | None,
               rest_forms: list[Any]) -> Any:
        """Go on with a suspended form: ``answer`` (or ``error`` raised) where it stopped, then the top-level
        forms it still had to run; LispError on a Lisp error, Suspend if it suspends again."""
        try:
            try:
                if error is not None:
                    result = self.machine.resume_raising(stack, error)
                else:
                    result = self.machine.resume(stack, answer)
            except Suspend as suspend:
                suspend.rest_forms.extend(rest_forms)
                raise
            return self.eval_rest(rest_forms, result)
        except WorldError as exc:
            raise LispError(ErrorValue(exc.kind, exc.message)) from None

    def compile_unit(self, expanded: Any, ns: str) -> Node:
        """The code of a top-level unit from its expanded source (what :attr:`unit` names), as it first ran."""
        return Compiler(self, ns, expand=False).compile_toplevel(expanded)

    def eval_string(self, source: str, filename: str = "<input>") -> Any:
        """Read and evaluate every form of ``source``; the value of the last (nil if none)."""
        result: Any = NIL
        for form, _, _, _ in self.read_forms(source, filename):
            result = self.eval_form(form)
        return result

    def call(self, fn: Any, *args: Any) -> Any:
        """Call a Lisp function (closure or primitive) from Python."""
        return self.machine.call(fn, list(args))

    def compile(self, form: Any) -> Node:
        """Compile a form for evaluation at top level of the current namespace."""
        return Compiler(self, self.world.current_ns).compile_toplevel(form)

    def expand(self, form: Any) -> Any:
        """``form`` with every macro expanded."""
        return Compiler(self, self.world.current_ns).expand_toplevel(form)

    # -- rebuilding stored values -------------------------------------------------------
    def make_closure(self, params: Any, body: tuple[Any, ...], env: Env | None, name: str | None, ns: str) -> Closure:
        """A closure from its stored source (``body`` is already macro-expanded: it is not expanded again)."""
        body = tuple(body)
        code = Compiler(self, ns, expand=False).compile_closure(params, body, env, name)
        return Closure(params, body, env, name, ns, code)

    def compile_closure(self, closure: Closure) -> Lambda:
        """The code of a closure that has none yet."""
        return Compiler(self, closure.ns, expand=False).compile_closure(
            closure.params, closure.body, closure.env, closure.name
        )

    def primitive(self, name: str) -> Primitive:
        """The built-in called ``name``."""
        try:
            return self.builtins[name]
        except KeyError:
            raise lisp_error(UNBOUND_SYMBOL, f"no built-in function named {name}") from None

    def begin_form(self, seq: int, gensyms: int = 0) -> None:
        """The session is about to evaluate the form recorded as event ``seq`` (``gensyms``: how many it
        made before it suspended, when resuming it)."""
        self._gensym_form = seq
        self._gensym_counter = gensyms

    @property
    def gensyms(self) -> int:
        """How many gensyms the current form made (a suspension keeps the count)."""
        return self._gensym_counter

    def next_gensym(self) -> str:
        """A suffix no other gensym of this session has: ``<form event number>_<n>``."""
        self._gensym_counter += 1
        return f"{self._gensym_form}_{self._gensym_counter}"
