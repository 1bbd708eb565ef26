"""Lists (pairs ending in nil) and vectors (Python tuples).

``car``/``cdr`` insist on a pair; ``first``/``rest`` also take nil and
vectors.  Functions that take "a sequence" accept a list or a vector; those
that build a new sequence of the same shape (``reverse``, ``sort``, ``take``,
``drop``) give a vector for a vector and a list otherwise.
"""

from __future__ import annotations

from typing import Any

from tapevm.vm.errors import INDEX_ERROR, TYPE_ERROR, lisp_error, type_error
from tapevm.vm.primitives.registry import primitive
from tapevm.vm.primitives.support import index, integer, list_items, seq_items
from tapevm.vm.printer import describe
from tapevm.vm.values import NIL, LMap, Pair, lisp_equal, make_list, map_items


def _pair(x: Any, who: str) -> Pair:
    if type(x) is Pair:
        return x
    raise type_error(who, "a non-empty list", x)


@primitive("cons")
def cons(a: Any, b: Any) -> Pair:
    return Pair(a, b)


@primitive("car")
def car(x: Any) -> Any:
    return _pair(x, "car").car


@primitive("cdr")
def cdr(x: Any) -> Any:
    return _pair(x, "cdr").cdr


@primitive("caar")
def caar(x: Any) -> Any:
    return _pair(_pair(x, "caar").car, "caar").car


@primitive("cadr")
def cadr(x: Any) -> Any:
    return _pair(_pair(x, "cadr").cdr, "cadr").car


@primitive("cdar")
def cdar(x: Any) -> Any:
    return _pair(_pair(x, "cdar").car, "cdar").cdr


@primitive("cddr")
def cddr(x: Any) -> Any:
    return _pair(_pair(x, "cddr").cdr, "cddr").cdr


@primitive("caddr")
def caddr(x: Any) -> Any:
    return _pair(_pair(_pair(x, "caddr").cdr, "caddr").cdr, "caddr").car


@primitive("first")
def first(x: Any) -> Any:
    """First element of a list or vector; nil when empty."""
    if type(x) is Pair:
        return x.car
    if type(x) is tuple:
        return x[0] if x else NIL
    if x is NIL:
        return NIL
    raise type_error("first", "a list or vector", x)


@primitive("second")
def second(x: Any) -> Any:
    items = seq_items(x, "second")
    return items[1] if len(items) > 1 else NIL


@primitive("rest")
def rest(x: Any) -> Any:
    """Everything after the first element, as a list; nil when empty."""
    if type(x) is Pair:
        return x.cdr
    if type(x) is tuple:
        return make_list(x[1:])
    if x is NIL:
        return NIL
    raise type_error("rest", "a list or vector", x)


@primitive("list")
def list_(*xs: Any) -> Any:
    return make_list(xs)


@primitive("list*")
def list_star(x: Any, *more: Any) -> Any:
    """``(list* 1 2 '(3 4))`` is ``(1 2 3 4)``: the last argument is the tail."""
    items = (x, *more)
    return make_list(items[:-1], items[-1])


@primitive("length")
def length(x: Any) -> int:
    """Number of elements of a list, vector, map or string."""
    t = type(x)
    if t is Pair:
        n = 0
        node: Any = x
        while type(node) is Pair:
            n += 1
            node = node.cdr
        if node is not NIL:
            raise lisp_error(TYPE_ERROR, f"length: expected a proper list, got the dotted list {describe(x)}")
        return n
    if x is NIL:
        return 0
    if t is tuple or t is str or t is LMap:
        return len(x)
    raise type_error("length", "a list, vector, map or string", x)


primitive("count")(length)


@primitive("append", "concat")
def append(*xs: Any) -> Any:
    """Concatenate lists or vectors into a list; the last argument becomes the tail as is."""
    if not xs:
        return NIL
    items: list[Any] = []
    for x in xs[:-1]:
        items.extend(seq_items(x, "append"))
    last = xs[-1]
    if type(last) is tuple:
        return make_list(items + list(last))
    return make_list(items, last)


@primitive("reverse")
def reverse(x: Any) -> Any:
    if type(x) is tuple:
        return x[::-1]
    result: Any = NIL
    for item in list_items(x, "reverse"):
        result = Pair(item, result)
    return result


@primitive("nth", "list-ref", "vector-ref")
def nth(coll: Any, i: Any) -> Any:
    if type(coll) is tuple:
        return coll[index(i, len(coll), "nth", "vector")]
    if type(coll) is str:
        return coll[index(i, len(coll), "nth", "string")]
    if type(i) is not int:
        raise type_error("nth", "an integer index", i)
    node = coll
    k = i
    while type(node) is Pair and k > 0:
        node = node.cdr
        k -= 1
    if type(node) is Pair and i >= 0:
        return node.car
    if node is NIL or type(node) is Pair:
        raise lisp_error(INDEX_ERROR, f"nth: index {i} is out of range for a list of length {length(coll)}")
    raise type_error("nth", "a list, vector or string", coll)


@primitive("last")
def last(x: Any) -> Any:
    """Last element of a list or vector; nil when empty."""
    items = seq_items(x, "last")
    return items[-1] if items else NIL


@primitive("butlast")
def butlast(x: Any) -> Any:
    items = seq_items(x, "butlast")
    return make_list(items[:-1])


def _same_shape(x: Any, items: list[Any]) -> Any:
    return tuple(items) if type(x) is tuple else make_list(items)


@primitive("take")
def take(n: Any, coll: Any) -> Any:
    """The first ``n`` elements (fewer if the sequence is shorter)."""
    count = integer(n, "take")
    items = seq_items(coll, "take")
    return _same_shape(coll, items[: max(count, 0)])


@primitive("drop")
def drop(n: Any, coll: Any) -> Any:
    """All but the first ``n`` elements."""
    count = integer(n, "drop")
    items = seq_items(coll, "drop")
    return _same_shape(coll, items[max(count, 0):])


@primitive("member")
def member(x: Any, lst: Any) -> Any:
    """The tail of ``lst`` starting at the first element equal to ``x``, else #f."""
    node = lst
    while type(node) is Pair:
        if lisp_equal(node.car, x):
            return node
        node = node.cdr
    if node is not NIL:
        raise type_error("member", "a list", lst)
    return False


@primitive("index-of")
def index_of(coll: Any, x: Any) -> Any:
    """Index of the first element equal to ``x`` in a list or vector, else -1."""
    for i, item in enumerate(seq_items(coll, "index-of")):
        if lisp_equal(item, x):
            return i
    return -1


@primitive("flatten")
def flatten(x: Any) -> Any:
    """All the non-list elements of nested lists and vectors, in order, as one list."""
    out: list[Any] = []
    stack = [iter(seq_items(x, "flatten"))]
    while stack:
        for item in stack[-1]:
            if type(item) is Pair or type(item) is tuple:
                stack.append(iter(seq_items(item, "flatten")))
                break
            if item is not NIL:
                out.append(item)
        else:
            stack.pop()
    return make_list(out)


@primitive("distinct")
def distinct(x: Any) -> Any:
    """The elements without repeats (first occurrence kept, order kept)."""
    # An LMap keeps the first occurrence of each key, in order, and keeps 1 and 1.0 apart.
    out = list(LMap((item, None) for item in seq_items(x, "distinct")))
    return _same_shape(x, out)


# -- vectors -----------------------------------------------------------------------
@primitive("vector")
def vector(*xs: Any) -> tuple[Any, ...]:
    return xs


@primitive("vec", "list->vector")
def vec(x: Any) -> tuple[Any, ...]:
    """A vector of the elements of a list or vector (a map gives its [key value] entries)."""
    return tuple(seq_items(x, "vec"))


@primitive("vector->list")
def vector_to_list(x: Any) -> Any:
    return make_list(seq_items(x, "vector->list"))


@primitive("conj")
def conj(coll: Any, *xs: Any) -> Any:
    """Add elements where the collection grows: front of a list, end of a vector, entries [k v] to a map."""
    t = type(coll)
    if t is tuple:
        return coll + xs
    if t is LMap:
        for entry in xs:
            if type(entry) is not tuple or len(entry) != 2:
                raise type_error("conj", "a [key value] vector to add to a map", entry)
            coll = coll.assoc(entry[0], entry[1])
        return coll
    if t is Pair or coll is NIL:
        for x in xs:
            coll = Pair(x, coll)
        return coll
    raise type_error("conj", "a list, vector or map", coll)


@primitive("subvec")
def subvec(v: Any, start: Any, end: Any = None) -> tuple[Any, ...]:
    if type(v) is not tuple:
        raise type_error("subvec", "a vector", v)
    stop = len(v) if end is None else integer(end, "subvec")
    begin = integer(start, "subvec")
    if not 0 <= begin <= stop <= len(v):
        raise lisp_error(INDEX_ERROR, f"subvec: range {begin}..{stop} is out of bounds for a vector of length {len(v)}")
    return v[begin:stop]


@primitive("entries")
def entries(m: Any) -> Any:
    """A map's entries as a list of [key value] vectors, in insertion order."""
    if type(m) is not LMap:
        raise type_error("entries", "a map", m)
    return make_list([(k, v) for k, v in map_items(m)])
