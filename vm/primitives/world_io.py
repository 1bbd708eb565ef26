"""Mutable state and I/O, all through the World (so every change is journaled and becomes an event).

* atoms: ``atom``, ``deref`` (also ``@a``), ``reset!``, ``swap!`` (in
  :mod:`higher_order`, it calls a function);
* facts: ``assert!``, ``retract!``, ``fact?``, ``facts`` with patterns where
  symbols starting with ``?`` are variables (``?`` alone and ``_`` match
  anything without binding);
* files of the sandboxed world (never the host's): ``write-file!``,
  ``append-file!``, ``read-file``, ``delete-file!``, ``list-files``,
  ``file-exists?``;
* output: ``print``, ``println``, ``display``, ``newline``;
* namespaces: ``current-ns``, ``bound?``.
"""

from __future__ import annotations

from typing import Any

from tapevm.vm.errors import VALUE_ERROR, lisp_error, type_error
from tapevm.vm.primitives.registry import primitive
from tapevm.vm.primitives.support import string
from tapevm.vm.printer import display
from tapevm.vm.values import NIL, Atom, LMap, Pair, Symbol, lisp_equal, make_list
from tapevm.vm.values import typed_key as fact_key  # 1, 1.0 and #t are distinct facts
from tapevm.vm.world import WorldError


def _atom(x: Any, who: str) -> Atom:
    if type(x) is Atom:
        return x
    raise type_error(who, "an atom", x)


# -- atoms ------------------------------------------------------------------------
@primitive("atom", needs_machine=True)
def atom(m: Any, value: Any) -> Atom:
    """A new mutable reference holding ``value``."""
    return m.world.atom_create(value)  # type: ignore[no-any-return]


@primitive("deref")
def deref(a: Any) -> Any:
    return _atom(a, "deref").value


@primitive("reset!", needs_machine=True)
def reset(m: Any, a: Any, value: Any) -> Any:
    m.world.atom_reset(_atom(a, "reset!"), value)
    return value


# -- facts --------------------------------------------------------------------------
_WILDCARDS = (Symbol("?"), Symbol("_"))


def _is_var(x: Any) -> bool:
    return type(x) is Symbol and x.name.startswith("?")


def match(pattern: Any, value: Any) -> dict[Symbol, Any] | None:
    """Bindings that make ``pattern`` equal ``value`` (variables bind left to right), or None."""
    bindings: dict[Symbol, Any] = {}
    stack = [(pattern, value)]
    while stack:
        p, v = stack.pop()
        tp = type(p)
        if tp is Symbol and (p.name.startswith("?") or p is _WILDCARDS[1]):
            if p in _WILDCARDS:
                continue
            bound = bindings.get(p, bindings)
            if bound is bindings:
                bindings[p] = v
            elif not lisp_equal(bound, v):
                return None
        elif tp is Pair:
            if type(v) is not Pair:
                return None
            stack.append((p.cdr, v.cdr))
            stack.append((p.car, v.car))
        elif tp is tuple:
            if type(v) is not tuple or len(v) != len(p):
                return None
            stack.extend(reversed(list(zip(p, v))))
        elif not lisp_equal(p, v):
            return None
    return bindings


@primitive("assert!", needs_machine=True)
def assert_(m: Any, fact: Any, evidence: Any = None) -> bool:
    """Add a fact (any value, usually a list), with optional evidence (any value, usually a map such
    as ``{:evidence "..." :source "..."}``; nil: none); #f if it was already there with that evidence."""
    return m.world.fact_assert(fact, None if evidence is NIL else evidence)  # type: ignore[no-any-return]


@primitive("fact-evidence", needs_machine=True)
def fact_evidence(m: Any, fact: Any) -> Any:
    """The evidence ``fact`` was asserted with; nil when it has none or is not a fact."""
    found = m.world.fact_evidence.get(fact_key(fact))
    return NIL if found is None else found


@primitive("retract!", needs_machine=True)
def retract(m: Any, fact: Any) -> bool:
    """Remove a fact; #f if it was not there."""
    return m.world.fact_retract(fact)  # type: ignore[no-any-return]


@primitive("fact?", needs_machine=True)
def is_fact(m: Any, fact: Any) -> bool:
    return fact_key(fact) in m.world.facts


@primitive("facts", needs_machine=True)
def facts(m: Any, pattern: Any = NIL) -> Any:
    """``(facts)``: every fact, in assertion order.  ``(facts '(parent ?x bob))``: a list of
    maps from each ``?variable`` to its value, one per matching fact, in assertion order."""
    all_facts = list(m.world.facts.values())
    if pattern is NIL:
        return make_list(all_facts)
    results = []
    for fact in all_facts:
        bindings = match(pattern, fact)
        if bindings is not None:
            results.append(LMap(bindings.items()))
    return make_list(results)


# -- files ------------------------------------------------------------------------------
@primitive("write-file!", needs_machine=True)
def write_file(m: Any, path: Any, content: Any) -> Any:
    """Write a string (as UTF-8) to a file of the world."""
    m.world.file_write(path, string(content, "write-file!").encode("utf-8"))
    return NIL


@primitive("append-file!", needs_machine=True)
def append_file(m: Any, path: Any, content: Any) -> Any:
    world = m.world
    data = string(content, "append-file!").encode("utf-8")
    try:
        old = world.file_read(path)
    except WorldError as exc:
        if exc.kind != "file-not-found":
            raise
        old = b""
    world.file_write(path, old + data)
    return NIL


@primitive("read-file", needs_machine=True)
def read_file(m: Any, path: Any) -> str:
    data = m.world.file_read(path)
    try:
        return data.decode("utf-8")  # type: ignore[no-any-return]
    except UnicodeDecodeError:
        raise lisp_error(VALUE_ERROR, f"read-file: {path} is not valid UTF-8 text") from None


@primitive("delete-file!", needs_machine=True)
def delete_file(m: Any, path: Any) -> Any:
    m.world.file_delete(path)
    return NIL


@primitive("list-files", needs_machine=True)
def list_files(m: Any, prefix: Any = "") -> Any:
    """Paths of the world's files (those starting with ``prefix``), sorted."""
    return make_list(m.world.list_files(string(prefix, "list-files")))


@primitive("file-exists?", needs_machine=True)
def file_exists(m: Any, path: Any) -> bool:
    try:
        m.world.file_read(path)
    except WorldError as exc:
        if exc.kind == "file-not-found":
            return False
        raise
    return True


# -- output ---------------------------------------------------------------------------
@primitive("print", needs_machine=True)
def print_(m: Any, *xs: Any) -> Any:
    """Write the display text of the arguments, separated by spaces."""
    m.world.output(" ".join(display(x) for x in xs))
    return NIL


@primitive("println", needs_machine=True)
def println(m: Any, *xs: Any) -> Any:
    """Like print, then a newline."""
    m.world.output(" ".join(display(x) for x in xs) + "\n")
    return NIL


@primitive("display", needs_machine=True)
def display_(m: Any, x: Any) -> Any:
    m.world.output(display(x))
    return NIL


@primitive("newline", needs_machine=True)
def newline(m: Any) -> Any:
    m.world.output("\n")
    return NIL


# -- namespaces -----------------------------------------------------------------------
@primitive("current-ns", needs_machine=True)
def current_ns(m: Any) -> Symbol:
    return Symbol(m.world.current_ns)


@primitive("bound?", needs_machine=True)
def bound(m: Any, sym: Any) -> bool:
    """Is the symbol defined (in the current namespace, or as a built-in)?"""
    if type(sym) is not Symbol:
        raise type_error("bound?", "a symbol", sym)
    ns, name = sym.namespace, sym.local_name
    if not (ns and name):
        ns, name = m.world.current_ns, sym.name
    if m.world.is_bound(ns, name):
        return True
    # a built-in answers for the current namespace and existing ones, as the compiler resolves
    return name in m.interp.builtins and (ns in (m.world.current_ns, "core") or ns in m.world.namespaces)
