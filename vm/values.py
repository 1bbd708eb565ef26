"""The Lisp value model.

Every value the VM manipulates is one of these types (or a Python ``int``,
``float``, ``str`` or ``bool``).  They are shared by the evaluator, the
primitives, the printer and the value codec, so they live in one module.

Contracts other modules rely on:

* Everything except :class:`Atom` and :class:`Env` is immutable once built.
  The value codec caches content hashes on :class:`Pair` objects, which is only
  sound because a pair never changes after construction.
* Iteration order of :class:`LMap` is insertion order, and it survives
  encoding and decoding, so a program sees the same order live and after a
  restore (determinism across processes).
* Nothing here depends on Python's randomised ``hash()`` for ordering.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, ClassVar, Union


class Symbol:
    """An interned symbol; ``ns/name`` qualified symbols keep the slash in ``name``."""

    __slots__ = ("name",)
    _table: ClassVar[dict[str, Symbol]] = {}
    name: str

    def __new__(cls, name: str) -> Symbol:
        sym = cls._table.get(name)
        if sym is None:
            sym = object.__new__(cls)
            object.__setattr__(sym, "name", name)
            cls._table[name] = sym
        return sym

    def __setattr__(self, key: str, value: object) -> None:
        raise AttributeError("symbols are immutable")

    def __reduce__(self) -> tuple[Any, ...]:  # pragma: no cover - pickle is never used
        raise TypeError("tapevm values are never pickled")

    def __repr__(self) -> str:
        return self.name

    @property
    def namespace(self) -> str | None:
        """The namespace part of a qualified symbol (``ns/name``), else None."""
        if "/" in self.name and len(self.name) > 1:
            return self.name.split("/", 1)[0]
        return None

    @property
    def local_name(self) -> str:
        if "/" in self.name and len(self.name) > 1:
            return self.name.split("/", 1)[1]
        return self.name


class Keyword:
    """An interned keyword (``:name``); ``name`` excludes the colon."""

    __slots__ = ("name",)
    _table: ClassVar[dict[str, Keyword]] = {}
    name: str

    def __new__(cls, name: str) -> Keyword:
        kw = cls._table.get(name)
        if kw is None:
            kw = object.__new__(cls)
            object.__setattr__(kw, "name", name)
            cls._table[name] = kw
        return kw

    def __setattr__(self, key: str, value: object) -> None:
        raise AttributeError("keywords are immutable")

    def __repr__(self) -> str:
        return ":" + self.name


class NilType:
    """The empty list, also written ``nil``; falsy, like ``#f``."""

    __slots__ = ()
    _instance: ClassVar[NilType | None] = None

    def __new__(cls) -> NilType:
        if cls._instance is None:
            cls._instance = object.__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "nil"

    def __iter__(self) -> Iterator[Any]:
        return iter(())

    def __len__(self) -> int:
        return 0

    def __bool__(self) -> bool:
        return False


NIL = NilType()


class Pair:
    """An immutable cons cell.

    ``_hash`` is reserved for the value codec (content hash of the list that
    starts here); nothing else may touch it.
    """

    __slots__ = ("_hash", "car", "cdr")

    def __init__(self, car: Any, cdr: Any) -> None:
        self.car = car
        self.cdr = cdr
        self._hash: tuple[str, int] | None = None  # (node key, length of the list from here)

    def __iter__(self) -> Iterator[Any]:
        """Iterate over the elements of a proper list (stops at a non-pair tail)."""
        node: Any = self
        while type(node) is Pair:
            yield node.car
            node = node.cdr

    def __eq__(self, other: object) -> bool:
        if type(other) is not Pair:
            return NotImplemented
        return lisp_equal(self, other)

    def __hash__(self) -> int:
        h = 17
        count = 0
        node: Any = self
        while type(node) is Pair and count < 64:
            h = (h * 31 + _safe_hash(node.car)) & 0xFFFFFFFFFFFF
            node = node.cdr
            count += 1
        return h

    def __repr__(self) -> str:
        return "(" + " ".join(repr(x) for x in self) + ")"


def _safe_hash(value: Any) -> int:
    try:
        return hash(value)
    except TypeError:
        return id(type(value))


class LMap(Mapping[Any, Any]):
    """An immutable map that remembers insertion order.

    Updating returns a new map (copy on write); keys must be hashable Lisp
    values (numbers, strings, symbols, keywords, booleans, nil, lists, vectors).
    """

    __slots__ = ("_d",)

    def __init__(self, items: Iterable[tuple[Any, Any]] | Mapping[Any, Any] = ()) -> None:
        pairs = items.items() if isinstance(items, Mapping) else items
        self._d: dict[Any, Any] = {_map_key(k): v for k, v in pairs}

    def __getitem__(self, key: Any) -> Any:
        return self._d[_map_key(key)]

    def get(self, key: Any, default: Any = None) -> Any:
        return self._d.get(_map_key(key), default)

    def __contains__(self, key: object) -> bool:
        return _map_key(key) in self._d

    def __iter__(self) -> Iterator[Any]:
        return (k.value if type(k) is _TypedKey else k for k in self._d)

    def __len__(self) -> int:
        return len(self._d)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LMap):
            return NotImplemented
        if len(self._d) != len(other._d):
            return False
        for k, v in self._d.items():
            if k not in other._d or not lisp_equal(v, other._d[k]):
                return False
        return True

    def __hash__(self) -> int:
        return hash(frozenset((k, _safe_hash(v)) for k, v in self._d.items()))

    def assoc(self, key: Any, value: Any) -> LMap:
        d = dict(self._d)
        d[_map_key(key)] = value
        return LMap._wrap(d)

    def dissoc(self, key: Any) -> LMap:
        d = dict(self._d)
        d.pop(_map_key(key), None)
        return LMap._wrap(d)

    def copy(self) -> LMap:
        """A new map equal to this one: not the same object, which ``eq?`` tells apart."""
        return LMap._wrap(dict(self._d))

    @classmethod
    def _wrap(cls, d: dict[Any, Any]) -> LMap:
        m = object.__new__(cls)
        m._d = d
        return m

    def __repr__(self) -> str:
        return "{" + " ".join(f"{k!r} {v!r}" for k, v in map_items(self)) + "}"


def typed_key(key: Any) -> Any:
    """A dict key for a Lisp value under which 1, 1.0 and #t are distinct (as they are in Lisp)."""
    return _map_key(key)


def _map_key(key: Any) -> Any:
    """Make 1 and 1.0 and True distinct map keys, as they are distinct Lisp values."""
    t = type(key)
    if t is bool or t is float:
        return _TypedKey(key)
    return key


class _TypedKey:
    """Wraps bools and floats so that ``{1 a 1.0 b #t c}`` has three keys."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return type(other) is _TypedKey and type(other.value) is type(self.value) and other.value == self.value

    def __hash__(self) -> int:
        return hash((type(self.value).__name__, self.value))

    def __repr__(self) -> str:
        return repr(self.value)


def map_key_value(key: Any) -> Any:
    """The Lisp value of a key as stored in an :class:`LMap`'s dict."""
    return key.value if type(key) is _TypedKey else key


def map_items(m: LMap) -> Iterator[tuple[Any, Any]]:
    """Iterate a map's entries as Lisp values, in insertion order."""
    for k, v in m._d.items():
        yield (k.value if type(k) is _TypedKey else k), v


class Env:
    """A lexical environment frame: plain data (names to values plus a parent).

    Frames are filled while a ``let``/``lambda`` body is set up and by internal
    ``define``; ``set!`` on a local is refused by the evaluator, so a frame does
    not change once the code that created it has finished.
    """

    __slots__ = ("code", "parent", "vars")

    def __init__(self, vars: dict[Symbol, Any], parent: Env | None, code: Any = None) -> None:
        self.vars = vars
        self.parent = parent
        # A call's frame: the code of the closure called (a Lambda node), so a stored continuation can
        # name the code its frames run (vm/continuation_codec.py); None for let frames.  Not a value:
        # never stored, never compared.
        self.code = code

    def lookup(self, sym: Symbol) -> Any:
        env: Env | None = self
        while env is not None:
            v = env.vars
            if sym in v:
                return v[sym]
            env = env.parent
        raise KeyError(sym)

    def __repr__(self) -> str:
        return f"<env {list(self.vars)}>"


class Closure:
    """A user function: its source (so it can be stored and recompiled) and environment.

    ``params`` is the parameter spec as Lisp data (a list of symbols, optionally
    dotted, or a single symbol for all arguments); ``body`` is a tuple of body
    forms as Lisp data.  ``ns`` is the namespace free globals resolve in.
    ``code`` is the evaluator's compiled form, derived from the source, never
    stored.
    """

    __slots__ = ("body", "code", "env", "name", "ns", "params")

    def __init__(
        self,
        params: Any,
        body: tuple[Any, ...],
        env: Env | None,
        name: str | None,
        ns: str,
        code: Any = None,
    ) -> None:
        self.params = params
        self.body = body
        self.env = env
        self.name = name
        self.ns = ns
        self.code = code

    def __repr__(self) -> str:
        return f"#<lambda {self.name or 'anonymous'}>"


class Macro:
    """A macro: a closure applied to the unevaluated forms of a call."""

    __slots__ = ("closure",)

    def __init__(self, closure: Closure) -> None:
        self.closure = closure

    @property
    def name(self) -> str | None:
        return self.closure.name

    def __repr__(self) -> str:
        return f"#<macro {self.closure.name or 'anonymous'}>"


class Primitive:
    """A built-in function, stored by name (its code lives in the VM, not the log)."""

    __slots__ = ("fn", "max_args", "min_args", "name", "needs_machine")

    def __init__(
        self,
        name: str,
        fn: Callable[..., Any],
        min_args: int = 0,
        max_args: int | None = None,
        needs_machine: bool = False,
    ) -> None:
        self.name = name
        self.fn = fn
        self.min_args = min_args
        self.max_args = max_args
        self.needs_machine = needs_machine

    def __repr__(self) -> str:
        return f"#<primitive {self.name}>"


class Atom:
    """A mutable reference cell, identified by a session-wide number.

    The id is allocated by the session (deterministically), recorded in an
    AtomCreated event, and is what the codec stores; the current value lives in
    the world's atom table and every change is an AtomReset event.
    """

    __slots__ = ("id", "value")

    def __init__(self, id: int, value: Any) -> None:
        self.id = id
        self.value = value

    def __repr__(self) -> str:
        return f"#<atom {self.id}>"


class ErrorValue:
    """An error as a first-class value: what ``raise`` throws and ``catch`` binds.

    ``kind`` is a short machine-readable category (``type-error``,
    ``unbound-symbol``, ``user``...), ``message`` is for people, ``data`` is any
    Lisp value attached by ``raise``.
    """

    __slots__ = ("data", "kind", "message")

    def __init__(self, kind: str, message: str, data: Any = NIL) -> None:
        self.kind = kind
        self.message = message
        self.data = data

    def __eq__(self, other: object) -> bool:
        if type(other) is not ErrorValue:
            return NotImplemented
        return self.kind == other.kind and self.message == other.message and lisp_equal(self.data, other.data)

    def __hash__(self) -> int:
        return hash((self.kind, self.message))

    def __repr__(self) -> str:
        return f"#<error {self.kind}: {self.message}>"


Value = Union[
    None, bool, int, float, str, Symbol, Keyword, NilType, Pair, tuple[Any, ...], LMap,
    Closure, Macro, Primitive, Atom, ErrorValue,
]


def make_list(items: Iterable[Any], tail: Any = NIL) -> Any:
    """Build a proper list (or a dotted one when ``tail`` is not nil)."""
    result = tail
    for item in reversed(list(items)):
        result = Pair(item, result)
    return result


def is_truthy(value: Any) -> bool:
    """Only ``#f`` and ``nil`` are false."""
    return not (value is False or value is NIL)


def lisp_equal(a: Any, b: Any) -> bool:
    """Structural equality (``equal?``; ``=`` also compares two numbers by value).

    Iterative, so deep lists cannot overflow the Python stack.
    """
    stack = [(a, b)]
    while stack:
        x, y = stack.pop()
        if x is y:
            continue
        tx, ty = type(x), type(y)
        if tx is Pair and ty is Pair:
            stack.append((x.cdr, y.cdr))
            stack.append((x.car, y.car))
            continue
        if tx is tuple and ty is tuple:
            if len(x) != len(y):
                return False
            stack.extend(zip(x, y))
            continue
        # Values of different types are different: 1, 1.0 and #t are three values
        # (as their stored encodings are), so facts and map keys never conflate them.
        if tx is not ty:
            return False
        if tx is LMap or tx is ErrorValue:
            if x != y:
                return False
            continue
        if x != y:
            return False
    return True


def type_name(value: Any) -> str:
    """The Lisp name of a value's type, for error messages and ``type-of``."""
    t = type(value)
    return _TYPE_NAMES.get(t, t.__name__)


_TYPE_NAMES: dict[type, str] = {
    bool: "boolean", int: "integer", float: "float", str: "string",
    Symbol: "symbol", Keyword: "keyword", NilType: "nil", Pair: "list",
    tuple: "vector", LMap: "map", Closure: "function", Macro: "macro",
    Primitive: "function", Atom: "atom", ErrorValue: "error",
}
