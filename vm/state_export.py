"""A session's state as Lisp source that recreates it in a fresh session (``tape export``).

The source defines every binding in its namespace, creates atoms, asserts
facts, writes files and enters the current namespace last.  Values that are
plain data are written quoted; values holding functions, atoms or errors are
written as expressions that build them:

* a closure is a ``lambda`` (named by the ``define`` or ``letrec`` binding
  that holds it) wrapped in one ``letrec`` per frame of its environment,
  innermost last, so captured variables (and mutually recursive local
  functions) come back as they were;
* atoms are created first, in id order, so they get the same ids again, and
  every form runs inside a ``let`` naming them, through ``eval`` (a ``define``
  inside ``let`` would be local): ``(eval 'FORM)``, or ``(eval `FORM)`` for a
  form that refers to an atom (as ``,%tape-atom-N``), where quoted data and
  function source go in as ``,(quote ...)`` so that no ``unquote`` they hold
  is evaluated;
* an error value is ``(make-error 'kind "message" data)``.

What cannot be expressed (each reported in :attr:`Export.unexpressible` and
as a comment in the source): file contents that are not UTF-8 text; a
function bound under a name other than its own (``(define g f)``: it comes
back named ``g``); a function held in a namespace other than its own (its source
is compiled where it is written); a macro anywhere but directly in a global of
its own name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tapevm.domain.state import DEFAULT_NAMESPACE, State
from tapevm.vm.interpreter import Interpreter
from tapevm.vm.printer import string_literal, symbol_text, to_source
from tapevm.vm.values import (
    NIL,
    Atom,
    Closure,
    Env,
    ErrorValue,
    Keyword,
    LMap,
    Macro,
    Pair,
    Primitive,
    map_items,
)
from tapevm.vm.world import World
from tapevm.vm.world_state import load_world


@dataclass
class Export:
    source: str
    unexpressible: list[str] = field(default_factory=list)


def _atom_var(atom_id: int) -> str:
    return f"%tape-atom-{atom_id}"


class _Writer:
    def __init__(self) -> None:
        self.uses_atoms = False
        self.quasi = False  # writing a form that runs as (eval `FORM): atoms spliced in, the rest kept literal
        self.ns = DEFAULT_NAMESPACE  # the namespace current where the form being written runs
        self.problems: list[str] = []

    def literal(self, text: str) -> str:
        """``text`` (data or code) as it must stand in the form being written to read back unchanged."""
        return f",(quote {text})" if self.quasi else text

    def special(self, v: Any, seen: set[int] | None = None) -> bool:
        """Does ``v`` hold anything quoting cannot write (functions, atoms, errors...)?"""
        stack, seen = [v], seen if seen is not None else set()
        while stack:
            x = stack.pop()
            t = type(x)
            if t in (Closure, Macro, Atom, ErrorValue, Primitive):
                return True
            if id(x) in seen:
                continue
            if t is Pair:
                seen.add(id(x))
                stack.extend((x.car, x.cdr))
            elif t is tuple:
                seen.add(id(x))
                stack.extend(x)
            elif t is LMap:
                seen.add(id(x))
                for k, val in map_items(x):
                    stack.extend((k, val))
        return False

    def expr(self, v: Any, name: str | None = None) -> str:
        """Source that evaluates to ``v`` (``name``: the global it is bound to, which names a function)."""
        t = type(v)
        if t in (int, float, str, bool, Keyword) or v is NIL or v is None:
            return str(to_source(v))
        if not self.special(v):
            return "'" + self.literal(str(to_source(v)))
        if t is Atom:
            self.uses_atoms = True
            return ("," if self.quasi else "") + _atom_var(v.id)
        if t is Primitive:
            return str(symbol_text(v.name))
        if t is ErrorValue:
            return f"(make-error '{symbol_text(v.kind)} {string_literal(v.message)} {self.expr(v.data)})"
        if t is Pair:
            items, tail = [], v
            while type(tail) is Pair:
                items.append(self.expr(tail.car))
                tail = tail.cdr
            if tail is NIL:
                return "(list " + " ".join(items) + ")"
            out = self.expr(tail)
            for item in reversed(items):
                out = f"(cons {item} {out})"
            return out
        if t is tuple:
            return "(vector " + " ".join(self.expr(x) for x in v) + ")"
        if t is LMap:
            return "(hash-map " + " ".join(f"{self.expr(k)} {self.expr(x)}" for k, x in map_items(v)) + ")"
        if t is Closure:
            return self.closure(v, name)
        if t is Macro:
            self.problems.append(f"a macro inside a value ({to_source(v)}) cannot be written; it is left out")
            return "nil"
        raise TypeError(type(v).__name__)  # pragma: no cover

    def lambda_text(self, c: Closure) -> str:
        body = " ".join(to_source(form) for form in c.body)
        return self.literal(f"(lambda {to_source(c.params)} {body})")

    def closure(self, c: Closure, name: str | None) -> str:
        frames: list[Env] = []
        env = c.env
        while env is not None:
            frames.append(env)
            env = env.parent
        if c.ns != self.ns:  # a lambda is compiled in the namespace current where it is written
            self.problems.append(f"function {c.name or '(lambda)'} of namespace {c.ns} is held in namespace "
                                 f"{self.ns}; it comes back compiled there, where its free globals name {self.ns}'s")
        if not frames:
            if c.name is not None and c.name != name:
                self.problems.append(f"function {c.name} is bound as {name or 'a value'}; it comes back "
                                     + ("named so" if name else "unnamed"))
            return self.lambda_text(c)
        inner = frames[0]
        if c.name is not None and any(k.name == c.name and val is c for k, val in inner.vars.items()):
            out = symbol_text(c.name)
        else:
            if c.name is not None:
                self.problems.append(f"function {c.name} is not bound in its own environment; it comes back unnamed")
            out = self.lambda_text(c)
        for frame in frames:
            bindings = []
            for sym, val in frame.vars.items():
                if type(val) is Closure and val.env is frame:
                    bindings.append(f"({symbol_text(sym.name)} {self.lambda_text(val)})")
                else:
                    bindings.append(f"({symbol_text(sym.name)} {self.expr(val)})")
            out = f"(letrec ({' '.join(bindings)}) {out})"
        return str(out)


def export_state(state: State) -> Export:
    """Lisp source that, run in a fresh session, gives a state equal to ``state`` (see the module doc)."""
    world = World()
    interpreter = Interpreter(world)
    load_world(state, world, interpreter)
    exporter = _Exporter(world)
    exporter.write_atoms()
    exporter.write_namespaces()
    exporter.add(exporter.in_ns, world.current_ns)  # facts hold functions too: written where their form ran
    exporter.writer.ns = world.current_ns
    exporter.write_facts_and_files()
    return exporter.export(f";; tapevm export of session {state.session} at event {state.seq}")


class _Exporter:
    """The forms of one export, in order, and what could not be expressed."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.writer = _Writer()
        self.atom_ids = sorted(world.atoms)
        if self.atom_ids != list(range(1, len(self.atom_ids) + 1)):
            self.writer.problems.append("atom ids are not 1..n; atoms come back renumbered")
        self.wrapped = bool(self.atom_ids)  # forms run through eval inside (let ((%tape-atom-1 (atom nil)) ...) ...)
        self.body: list[str] = []

    def add(self, write: Callable[..., str], *args: Any) -> None:
        """The form ``write(*args)`` makes; written again for ``(eval `FORM)`` when it refers to an atom."""
        w = self.writer
        w.uses_atoms = w.quasi = False
        problems = len(w.problems)
        form = write(*args)
        if w.uses_atoms:
            del w.problems[problems:]  # (reported again)
            w.quasi = True
            self.body.append(f"(eval `{write(*args)})")
        else:
            self.body.append(f"(eval '{form})" if self.wrapped else form)

    # -- the forms (each written by add, maybe twice) -----------------------------------
    def reset(self, atom_id: int) -> str:
        atom = self.world.atoms[atom_id]
        return f"(reset! {self.writer.expr(atom)} {self.writer.expr(atom.value)})"

    def define(self, name: str, value: Any) -> str:
        return f"(define {symbol_text(name)} {self.writer.expr(value, name)})"

    @staticmethod
    def in_ns(ns: str) -> str:
        return f"(in-ns '{symbol_text(ns)})"

    @staticmethod
    def verbatim(form: str) -> str:
        return form

    def assertion(self, fact: Any, evidence: Any = None) -> str:
        if evidence is None:
            return f"(assert! {self.writer.expr(fact)})"
        return f"(assert! {self.writer.expr(fact)} {self.writer.expr(evidence)})"

    # -- the parts of the state, in the order they are written ----------------------------
    def write_atoms(self) -> None:
        for i in self.atom_ids:
            self.add(self.reset, i)

    def write_namespaces(self) -> None:
        world = self.world
        for ns in sorted(world.namespaces):
            names = list(world.bindings(ns))
            if not names and ns != world.current_ns:
                continue
            self.add(self.in_ns, ns)
            self.writer.ns = ns
            for name, value in names:
                if type(value) is Macro:
                    self.write_macro(ns, name, value)
                else:
                    self.add(self.define, name, value)

    def write_macro(self, ns: str, name: str, macro: Macro) -> None:
        c = macro.closure
        if c.env is None and c.name == name:
            sym, params = symbol_text(name), to_source(c.params)
            head = f"({sym} {params[1:-1]})" if type(c.params) is Pair or c.params is NIL else f"({sym} . {params})"
            self.add(self.verbatim, f"(define-macro {head} {' '.join(to_source(f) for f in c.body)})")
        else:
            self.writer.problems.append(f"macro {ns}/{name} is not defined under its own name; it is left out")

    def write_facts_and_files(self) -> None:
        for key, fact in self.world.facts.items():
            self.add(self.assertion, fact, self.world.fact_evidence.get(key))
        for path, data in sorted(self.world.files.items()):
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                self.writer.problems.append(f"file {path} is binary; it is left out")
                continue
            self.add(self.verbatim, f"(write-file! {string_literal(path)} {string_literal(text)})")

    def export(self, title: str) -> Export:
        """The source: a title, a comment per problem, then the forms (inside the atoms' let)."""
        problems = self.writer.problems
        lines = [title]
        lines += [f";; cannot be expressed: {p}" for p in problems]
        if self.wrapped:
            atoms = " ".join(f"({_atom_var(i)} (atom nil))" for i in self.atom_ids)
            lines.append(f"(let ({atoms})")
            # eval at top level, so closures built here capture no frame of this let
            lines += ["  " + form for form in self.body]
            lines[-1] += ")"
        else:
            lines += self.body
        return Export("\n".join(lines) + "\n", problems)
