"""The VM's mutable global state, and the journal that turns every change into a record.

The evaluator never mutates global state directly: it calls these methods, and
each call (a) changes the live state so the rest of the form sees it and
(b) appends a :class:`Mutation` to the current form's journal together with the
information needed to undo it.  The session turns the journal into events and
commits them in one transaction; if the form raises or the commit fails, the
session calls :meth:`World.rollback` and the live state is as if the form
never ran.

The sandbox lives here too: paths are plain relative names inside the VM's own
world; nothing in this module (or anywhere in ``vm``) touches the host.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any, NamedTuple

from tapevm.domain.state import MISSING
from tapevm.vm.values import Atom, lisp_equal  # 1, 1.0 and #t are distinct facts
from tapevm.vm.values import typed_key as fact_key

# Mutation kinds, one per domain event type they become.
DEFINE = "define"
ASSIGN = "assign"
ENTER_NS = "enter-ns"
ATOM_CREATE = "atom-create"
ATOM_RESET = "atom-reset"
FACT_ASSERT = "fact-assert"
FACT_RETRACT = "fact-retract"
FILE_WRITE = "file-write"
FILE_DELETE = "file-delete"
OUTPUT = "output"
# Session requests (issue 3: time travel).  Not state changes of the VM: the session acts on
# them when the form's transaction commits, after the form's own mutations.
SNAPSHOT = "snapshot"
RESTORE = "restore"
SAVE_IMAGE = "save-image"
LOAD_IMAGE = "load-image"
SESSION_REQUESTS = frozenset((SNAPSHOT, RESTORE, SAVE_IMAGE, LOAD_IMAGE))


def valid_namespace_name(ns: object) -> bool:
    """What ``in-ns`` accepts: a non-empty name without ``/`` (which separates a qualified name's parts)."""
    return type(ns) is str and bool(ns) and "/" not in ns


def bindable_name(name: str) -> bool:
    """Whether ``define`` can bind ``name`` in a namespace: not a qualified name (``ns/name``)."""
    head, sep, tail = name.partition("/")
    return not (sep and head and tail)


class Mutation(NamedTuple):
    """One change made by a form: ``kind`` plus its arguments (live values).

    (A NamedTuple: a form of 100 definitions journals 100 of these, and it is the
    cheapest immutable record Python has; a frozen dataclass costs five times more.)
    """

    kind: str
    args: tuple[Any, ...]


# ``Mutation(kind, args)`` without the Python layer of a NamedTuple's ``__new__`` (half the
# cost): for the journal entries every definition and assignment makes.
_new_mutation = tuple.__new__


class WorldError(Exception):
    """A world operation that cannot be done (unbound name, bad path...).

    The evaluator converts it into a Lisp error value of ``kind`` so programs
    can catch it.
    """

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message




def normalize_path(path: str) -> str:
    """Validate and normalise a world path to its one stored form (``notes/today.txt``).

    A leading ``/`` names the world's root, as in every sandbox file system:
    ``/notes/today.txt`` is ``notes/today.txt``, which is what is stored (so
    both spellings name one file, and logs written before the rule stay
    valid).  ``..`` and ``.`` segments, empty names (``a//b``, a trailing
    ``/``), backslashes and NULs are refused: the world is a flat namespace of
    names, not a view of the host file system.
    """
    if not isinstance(path, str) or not path:
        raise WorldError("bad-path", "a world path must be a non-empty string")
    if "\x00" in path or "\\" in path:
        raise WorldError("bad-path", f"world path {path!r} may not contain NUL or backslash")
    given = path
    if path.startswith("/"):
        path = path[1:]
        if not path:
            raise WorldError("bad-path", "world path '/' is the world's root, not a file: name a file under it")
    parts = path.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise WorldError("bad-path", f"world path {given!r} may not contain empty, '.' or '..' segments")
    return posixpath.normpath(path)


class World:
    """Namespaces, atoms, facts and files, with a per-form undo journal."""

    def __init__(self) -> None:
        self.namespaces: dict[str, dict[str, Any]] = {"user": {}}
        self.current_ns = "user"
        self.atoms: dict[int, Atom] = {}
        self.next_atom_id = 1
        # fact value -> fact value; dict keeps assertion order (deterministic).
        self.facts: dict[Any, Any] = {}
        # fact key -> the evidence it was asserted with (only facts asserted with evidence are here)
        self.fact_evidence: dict[Any, Any] = {}
        self.files: dict[str, bytes] = {}
        self._journal: list[Mutation] = []
        # Undo records, in order: ``(function, *arguments)``.  Plain data rather than a
        # closure per mutation, because define and assign run once per definition of every
        # form (see _undo_define); the rarer mutations store ``(closure,)``.
        self._undo: list[tuple[Any, ...]] = []
        # Lazily decoded bindings (their table holds LAZY): (ns, name) -> loader (bind_lazy), else
        # ns -> (name -> encoding, decoder) (bind_lazy_all); see _force.
        self._lazy: dict[tuple[str, str], Callable[[], Any]] = {}
        self._lazy_tables: dict[str, tuple[dict[str, Any], Callable[[Any], Any]]] = {}
        # Read-only views the host grants (issue 3): the session's snapshots (name -> event
        # number); the VM itself never touches the host.
        self.snapshots: dict[str, Any] = {}
        # Called with printed text before it is journaled: the form's budget (vm/limits.py) counts it,
        # may refuse it (raising), and echoes it to the terminal as it is printed.
        self.output_hook: Callable[[str], None] | None = None

    # -- form transactions ------------------------------------------------
    def begin(self) -> None:
        """Start journaling a new top-level form."""
        self._journal = []
        self._undo = []

    def take_mutations(self) -> list[Mutation]:
        """The current form's mutations, in order (still undoable until :meth:`commit`)."""
        return list(self._journal)

    def commit(self) -> None:
        """The form's events are stored: forget the undo information."""
        self._journal = []
        self._undo = []

    def rollback(self) -> list[Mutation]:
        """Undo every mutation of the current form (error or failed commit).

        Returns the form's OUTPUT records: what was printed really was shown,
        so the session still records it with the failed form.
        """
        for undo, *args in reversed(self._undo):
            undo(*args)
        printed = [m for m in self._journal if m.kind == OUTPUT]
        self._journal = []
        self._undo = []
        return printed

    def journal_size(self) -> int:
        """How many entries the current form's journal holds (what its memory grows with)."""
        return len(self._journal)

    def _record(self, kind: str, args: tuple[Any, ...], undo: Callable[[], None]) -> None:
        self._journal.append(Mutation(kind, args))
        self._undo.append((undo,))

    # -- namespaces and bindings ------------------------------------------
    def namespace(self, ns: str) -> dict[str, Any]:
        """The live binding table of ``ns`` (created empty if new, unjournaled)."""
        table = self.namespaces.get(ns)
        if table is None:
            table = self.namespaces[ns] = {}
        return table

    def lookup(self, ns: str, name: str) -> Any:
        """The value bound to ``ns/name``; raises WorldError if unbound."""
        table = self.namespaces.get(ns)
        if table is not None:
            value = table.get(name, MISSING)
            if value is not MISSING:
                if value is LAZY:
                    return self._force(ns, name)
                return value
        raise WorldError("unbound-symbol", f"unbound symbol: {name if ns == self.current_ns else ns + '/' + name}")

    def is_bound(self, ns: str, name: str) -> bool:
        table = self.namespaces.get(ns)
        return table is not None and name in table

    def define(self, ns: str, name: str, value: Any) -> None:
        table = self.namespaces.get(ns)
        if table is None:
            table = self.namespace(ns)
        old = table.get(name, MISSING)
        lazy = self._lazy.pop((ns, name), None) if old is LAZY else None
        table[name] = value
        self._journal.append(_new_mutation(Mutation, (DEFINE, (ns, name, value))))
        self._undo.append((self._undo_define, table, ns, name, old, lazy))

    def _undo_define(
        self, table: dict[str, Any], ns: str, name: str, old: Any, lazy: Callable[[], Any] | None
    ) -> None:
        if old is MISSING:
            del table[name]
        else:
            table[name] = old
            if lazy is not None:
                self._lazy[(ns, name)] = lazy

    def assign(self, ns: str, name: str, value: Any) -> None:
        """``set!`` of a global: the name must already be bound."""
        if not self.is_bound(ns, name):
            raise WorldError("unbound-symbol", f"set!: {name} is not defined (use define first)")
        table = self.namespaces[ns]
        if table[name] is LAZY:
            self._force(ns, name)
        old = table[name]
        table[name] = value
        self._journal.append(_new_mutation(Mutation, (ASSIGN, (ns, name, value))))
        self._undo.append((table.__setitem__, name, old))

    def enter_ns(self, ns: str) -> None:
        if not valid_namespace_name(ns):
            raise WorldError("bad-namespace", f"invalid namespace name {ns!r}")
        old = self.current_ns
        created = ns not in self.namespaces
        self.namespace(ns)
        self.current_ns = ns

        def undo() -> None:
            self.current_ns = old
            if created and not self.namespaces.get(ns):
                self.namespaces.pop(ns, None)

        self._record(ENTER_NS, (ns,), undo)

    # -- lazy decoding (opening a large session) ---------------------------
    def bind_lazy(self, ns: str, name: str, loader: Callable[[], Any]) -> None:
        """Bind ``ns/name`` to a value decoded on first use (not journaled)."""
        self.namespace(ns)[name] = LAZY
        self._lazy[(ns, name)] = loader

    def bind_lazy_all(self, ns: str, encoded: dict[str, Any], decode: Callable[[Any], Any]) -> None:
        """``bind_lazy`` of every ``name -> encoding`` of ``encoded``, each decoded by ``decode`` on first
        use.  Two dict copies, not an object per name: opening a session of 100,000 bindings made
        100,000 closures here, then 200,000 tuples and partials, which the cyclic GC walked again
        and again.  A name stays lazy while its table holds ``LAZY``; the copy of its encoding
        outlives a redefinition, so undoing one makes it lazy again."""
        if ns in self._lazy_tables:  # (a fresh world binds each namespace once: not the usual case)
            for name, enc in encoded.items():
                self.bind_lazy(ns, name, partial(decode, enc))
            return
        self.namespace(ns).update(dict.fromkeys(encoded, LAZY))
        self._lazy_tables[ns] = (dict(encoded), decode)

    def _force(self, ns: str, name: str) -> Any:
        loader = self._lazy.pop((ns, name), None)
        if loader is not None:
            value = loader()
        else:
            encodings, decode = self._lazy_tables[ns]
            value = decode(encodings[name])
        self.namespaces[ns][name] = value
        return value

    def bindings(self, ns: str) -> Iterator[tuple[str, Any]]:
        """All bindings of ``ns``, decoding lazy ones."""
        for name in list(self.namespaces.get(ns, {})):
            yield name, self.lookup(ns, name)

    # -- atoms --------------------------------------------------------------
    def atom_create(self, value: Any) -> Atom:
        atom = Atom(self.next_atom_id, value)
        self.next_atom_id += 1
        self.atoms[atom.id] = atom

        def undo() -> None:
            del self.atoms[atom.id]
            self.next_atom_id -= 1

        self._record(ATOM_CREATE, (atom.id, value), undo)
        return atom

    def atom_reset(self, atom: Atom, value: Any) -> None:
        old = atom.value
        atom.value = value

        def undo() -> None:
            atom.value = old

        self._record(ATOM_RESET, (atom.id, value), undo)

    # -- facts ----------------------------------------------------------------
    def fact_assert(self, fact: Any, evidence: Any = None) -> bool:
        """Add a fact, with ``evidence`` (any value; None: none).  Asserting a fact already present
        changes nothing (False) unless evidence other than its own is given: then it is asserted again
        with that evidence, and moves to the end of the facts (as the fold and a delta order it)."""
        key = fact_key(fact)
        held = self.fact_evidence.get(key)
        if key in self.facts and (evidence is None or (held is not None and lisp_equal(held, evidence))):
            return False
        before, before_evidence = dict(self.facts), dict(self.fact_evidence)
        self.facts.pop(key, None)
        self.facts[key] = fact
        if evidence is not None:
            self.fact_evidence[key] = evidence

        def undo() -> None:
            self.facts.clear()
            self.facts.update(before)
            self.fact_evidence.clear()
            self.fact_evidence.update(before_evidence)

        self._record(FACT_ASSERT, (fact, evidence), undo)
        return True

    def fact_retract(self, fact: Any) -> bool:
        """Remove a fact; retracting an absent fact changes nothing (False)."""
        fact = fact_key(fact)
        if fact not in self.facts:
            return False
        # Record the fact as it was asserted (``(p 1)`` when retracting ``(p 1.0)``),
        # and rebuild on undo so the other facts keep their order.
        stored = self.facts[fact]
        before = dict(self.facts)
        del self.facts[fact]
        evidence = self.fact_evidence.pop(fact, None)

        def undo() -> None:
            self.facts.clear()
            self.facts.update(before)
            if evidence is not None:
                self.fact_evidence[fact] = evidence

        self._record(FACT_RETRACT, (stored,), undo)
        return True

    # -- files (the sandboxed world) -----------------------------------------
    def file_write(self, path: str, data: bytes) -> None:
        path = normalize_path(path)
        old = self.files.get(path)
        self.files[path] = data

        def undo() -> None:
            if old is None:
                del self.files[path]
            else:
                self.files[path] = old

        self._record(FILE_WRITE, (path, data, old), undo)

    def file_read(self, path: str) -> bytes:
        path = normalize_path(path)
        try:
            return self.files[path]
        except KeyError:
            raise WorldError("file-not-found", f"no file {path!r} in the world") from None

    def file_delete(self, path: str) -> None:
        path = normalize_path(path)
        if path not in self.files:
            raise WorldError("file-not-found", f"no file {path!r} in the world")
        old = self.files.pop(path)

        def undo() -> None:
            self.files[path] = old

        self._record(FILE_DELETE, (path,), undo)

    def list_files(self, prefix: str = "") -> list[str]:
        """The stored paths starting with ``prefix`` (whose leading ``/``, the root, is dropped first)."""
        prefix = prefix.removeprefix("/")
        return sorted(p for p in self.files if p.startswith(prefix))

    # -- output ------------------------------------------------------------------
    def output(self, text: str) -> None:
        """Record printed text (not state: kept even when the form fails)."""
        if text:
            if self.output_hook is not None:
                self.output_hook(text)
            self._journal.append(Mutation(OUTPUT, (text,)))
            self._undo.append((_noop,))


    # -- session requests (time travel) ------------------------------------------
    def request(self, kind: str, *args: Any) -> None:
        """Ask the session for ``kind`` (snapshot, restore, save-image) when this form commits."""
        if kind not in SESSION_REQUESTS:
            raise ValueError(f"unknown session request {kind!r}")
        self._record(kind, args, _noop)  # nothing to undo: a rolled-back form's requests are simply dropped

    def pending_requests(self, kind: str) -> list[tuple[Any, ...]]:
        """Arguments of this form's requests of ``kind`` so far."""
        return [m.args for m in self._journal if m.kind == kind]


def _noop() -> None:
    return None


class _LazyMarker:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<lazy>"


# What a binding table holds for a name bound lazily (``bind_lazy``) and not decoded yet.  The
# machine and the compiler read the tables directly, for speed; on meeting this marker they ask
# :meth:`World.lookup`, which decodes the value and puts it in the table.
LAZY = _LazyMarker()
