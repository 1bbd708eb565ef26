"""Functions that call functions: map, filter, reduce, apply, sort, swap!...

When the function argument is a plain primitive it is called directly.
Otherwise these primitives do not call back into the evaluator: they return a
request (:mod:`tapevm.vm.requests`) - "call f with these arguments, then
resume me with this state" - so a Lisp recursion that goes through ``map``
uses the machine's stack, not Python's, and the continuation stays data.
Each resumer's state is plain data: tuples and lists of Lisp values and ints.
"""

from __future__ import annotations

from functools import cmp_to_key
from typing import Any

from tapevm.vm.errors import TYPE_ERROR, VALUE_ERROR, lisp_error, type_error
from tapevm.vm.primitives.registry import primitive
from tapevm.vm.primitives.support import (
    NO_ARG,
    call_plain,
    integer,
    list_items,
    plain,
    seq_items,
    truthy,
)
from tapevm.vm.printer import describe
from tapevm.vm.requests import CallThen, TailCall, resumer
from tapevm.vm.values import NIL, Atom, Keyword, LMap, Pair, Symbol, make_list

MAX_RANGE = 10_000_000


def _rows(seqs: list[list[Any]], i: int) -> list[Any]:
    return [s[i] for s in seqs]


# -- apply -------------------------------------------------------------------------
@primitive("apply", needs_machine=True)
def apply(m: Any, fn: Any, *args: Any) -> Any:
    """``(apply f a b '(c d))`` calls ``(f a b c d)`` (a proper tail call)."""
    if not args:
        return TailCall(fn, [])
    spread = seq_items(args[-1], "apply")
    return TailCall(fn, [*args[:-1], *spread])


# -- map / for-each --------------------------------------------------------------------
@primitive("map", needs_machine=True)
def map_(m: Any, fn: Any, coll: Any, *colls: Any) -> Any:
    """``(map f xs ys ...)``: a list of ``(f x y ...)``, as long as the shortest input."""
    seqs = [seq_items(c, "map") for c in (coll, *colls)]
    n = min(len(s) for s in seqs)
    if plain(fn):
        return make_list([call_plain(fn, _rows(seqs, i)) for i in range(n)])
    if n == 0:
        return NIL
    return CallThen(fn, _rows(seqs, 0), "map", (fn, seqs, n, 0, []))


@resumer("map")
def _map_next(m: Any, state: Any, value: Any) -> Any:
    fn, seqs, n, i, acc = state
    acc.append(value)
    i += 1
    if i == n:
        return make_list(acc)
    return CallThen(fn, _rows(seqs, i), "map", (fn, seqs, n, i, acc))


@primitive("for-each", needs_machine=True)
def for_each(m: Any, fn: Any, coll: Any, *colls: Any) -> Any:
    """Call ``f`` on each element (of several sequences in step) for its effects; nil."""
    seqs = [seq_items(c, "for-each") for c in (coll, *colls)]
    n = min(len(s) for s in seqs)
    if plain(fn):
        for i in range(n):
            call_plain(fn, _rows(seqs, i))
        return NIL
    if n == 0:
        return NIL
    return CallThen(fn, _rows(seqs, 0), "for-each", (fn, seqs, n, 0))


@resumer("for-each")
def _for_each_next(m: Any, state: Any, value: Any) -> Any:
    fn, seqs, n, i = state
    i += 1
    if i == n:
        return NIL
    return CallThen(fn, _rows(seqs, i), "for-each", (fn, seqs, n, i))


# -- filter / remove ----------------------------------------------------------------------
def _select(fn: Any, coll: Any, keep: bool, who: str) -> Any:
    items = seq_items(coll, who)
    if plain(fn):
        return make_list([x for x in items if truthy(call_plain(fn, [x])) is keep])
    if not items:
        return NIL
    return CallThen(fn, [items[0]], "filter", (fn, items, 0, [], keep))


@primitive("filter", needs_machine=True)
def filter_(m: Any, pred: Any, coll: Any) -> Any:
    """The elements for which ``pred`` is true, as a list."""
    return _select(pred, coll, True, "filter")


@primitive("remove", needs_machine=True)
def remove(m: Any, pred: Any, coll: Any) -> Any:
    """The elements for which ``pred`` is false, as a list."""
    return _select(pred, coll, False, "remove")


@resumer("filter")
def _filter_next(m: Any, state: Any, value: Any) -> Any:
    fn, items, i, acc, keep = state
    if truthy(value) is keep:
        acc.append(items[i])
    i += 1
    if i == len(items):
        return make_list(acc)
    return CallThen(fn, [items[i]], "filter", (fn, items, i, acc, keep))


# -- reduce ---------------------------------------------------------------------------------
@primitive("reduce", needs_machine=True)
def reduce(m: Any, fn: Any, init_or_coll: Any, coll: Any = NO_ARG) -> Any:
    """``(reduce f init xs)`` folds left: ``(f (f init x1) x2)``...  ``(reduce f xs)`` starts
    from the first element (and is ``(f)`` for an empty sequence)."""
    if coll is NO_ARG:
        items = seq_items(init_or_coll, "reduce")
        if not items:
            return TailCall(fn, [])
        acc, start = items[0], 1
    else:
        items = seq_items(coll, "reduce")
        acc, start = init_or_coll, 0
    if plain(fn):
        for x in items[start:]:
            acc = call_plain(fn, [acc, x])
        return acc
    if start >= len(items):
        return acc
    return CallThen(fn, [acc, items[start]], "reduce", (fn, items, start))


@resumer("reduce")
def _reduce_next(m: Any, state: Any, value: Any) -> Any:
    fn, items, i = state
    i += 1
    if i == len(items):
        return value
    return CallThen(fn, [value, items[i]], "reduce", (fn, items, i))


# -- some / every? -----------------------------------------------------------------------
@primitive("some", needs_machine=True)
def some(m: Any, pred: Any, coll: Any) -> Any:
    """The first true value of ``(pred x)``, or #f."""
    items = seq_items(coll, "some")
    if plain(pred):
        for x in items:
            r = call_plain(pred, [x])
            if truthy(r):
                return r
        return False
    if not items:
        return False
    return CallThen(pred, [items[0]], "some", (pred, items, 0))


@resumer("some")
def _some_next(m: Any, state: Any, value: Any) -> Any:
    pred, items, i = state
    if truthy(value):
        return value
    i += 1
    if i == len(items):
        return False
    return CallThen(pred, [items[i]], "some", (pred, items, i))


@primitive("every?", needs_machine=True)
def every(m: Any, pred: Any, coll: Any) -> Any:
    """#t if ``(pred x)`` is true for every element."""
    items = seq_items(coll, "every?")
    if plain(pred):
        return all(truthy(call_plain(pred, [x])) for x in items)
    if not items:
        return True
    return CallThen(pred, [items[0]], "every?", (pred, items, 0))


@resumer("every?")
def _every_next(m: Any, state: Any, value: Any) -> Any:
    pred, items, i = state
    if not truthy(value):
        return False
    i += 1
    if i == len(items):
        return True
    return CallThen(pred, [items[i]], "every?", (pred, items, i))


# -- atoms and maps -------------------------------------------------------------------------
@primitive("swap!", needs_machine=True)
def swap(m: Any, a: Any, fn: Any, *args: Any) -> Any:
    """Set the atom to ``(f old-value args...)`` and return the new value."""
    if type(a) is not Atom:
        raise type_error("swap!", "an atom", a)
    if plain(fn):
        value = call_plain(fn, [a.value, *args])
        m.world.atom_reset(a, value)
        return value
    return CallThen(fn, [a.value, *args], "swap!", (a,))


@resumer("swap!")
def _swap_done(m: Any, state: Any, value: Any) -> Any:
    m.world.atom_reset(state[0], value)
    return value


@primitive("update", needs_machine=True)
def update(m: Any, coll: Any, key: Any, fn: Any, *args: Any) -> Any:
    """A copy of the map with ``key`` set to ``(f old-value args...)`` (old value nil if absent)."""
    if coll is NIL:
        coll = LMap()
    if type(coll) is not LMap:
        raise type_error("update", "a map", coll)
    old = coll.get(key, NIL)
    if plain(fn):
        return coll.assoc(key, call_plain(fn, [old, *args]))
    return CallThen(fn, [old, *args], "update", (coll, key))


@resumer("update")
def _update_done(m: Any, state: Any, value: Any) -> Any:
    coll, key = state
    return coll.assoc(key, value)


# -- sorting ----------------------------------------------------------------------------------
def compare(a: Any, b: Any, who: str = "sort") -> int:
    """The default order: numbers, strings, symbols and keywords (by name) among their own
    kind; booleans (#f first); lists with lists and vectors with vectors, element by element."""
    ta, tb = type(a), type(b)
    if (ta is int or ta is float) and (tb is int or tb is float):
        return (a > b) - (a < b)  # type: ignore[no-any-return]
    if ta is tb and (ta is str or ta is bool):
        return (a > b) - (a < b)  # type: ignore[no-any-return]
    if ta is tb and (ta is Symbol or ta is Keyword):
        return (a.name > b.name) - (a.name < b.name)  # type: ignore[no-any-return]
    if ta is tuple and tb is tuple:
        return _compare_seqs(list(a), list(b), who)
    if (ta is Pair or a is NIL) and (tb is Pair or b is NIL):
        return _compare_seqs(list_items(a, who), list_items(b, who), who)
    raise lisp_error(TYPE_ERROR, f"{who}: cannot order {describe(a)} and {describe(b)}; give a comparison function")


def _compare_seqs(xs: list[Any], ys: list[Any], who: str) -> int:
    for x, y in zip(xs, ys):
        c = compare(x, y, who)
        if c:
            return c
    return (len(xs) > len(ys)) - (len(xs) < len(ys))


def _same_shape(coll: Any, items: list[Any]) -> Any:
    return tuple(items) if type(coll) is tuple else make_list(items)


@primitive("sort", needs_machine=True)
def sort(m: Any, coll: Any, less: Any = NO_ARG) -> Any:
    """Sort a list or vector (stable); ``less`` is a two-argument "comes before" predicate.

    Without ``less``: the default order (numbers, strings, symbols... among
    their own kind).  Gives a vector for a vector, a list otherwise.
    """
    items = seq_items(coll, "sort")
    if less is NO_ARG:
        return _same_shape(coll, sorted(items, key=cmp_to_key(compare)))
    if len(items) < 2:
        return _same_shape(coll, items)
    state = _merge_sort_start(less, items, type(coll) is tuple)
    if plain(less):
        r = _merge_sort_step(state)
        while type(r) is CallThen:
            r = _merge_sort_resume(state, call_plain(less, r.args))
        return r
    return _merge_sort_step(state)


# The merge sort's state is a list:
# [less, src, dst, n, width, lo, mid, hi, i, j, k, as_vector]
_LESS, _SRC, _DST, _N, _WIDTH, _LO, _MID, _HI, _I, _J, _K, _VEC = range(12)


def _merge_sort_start(less: Any, items: list[Any], as_vector: bool) -> list[Any]:
    n = len(items)
    return [less, items, [None] * n, n, 1, 0, min(1, n), min(2, n), 0, min(1, n), 0, as_vector]


def _merge_sort_step(s: list[Any]) -> Any:
    """Advance the bottom-up merge until a comparison is needed (a request) or the end (the result)."""
    src, dst = s[_SRC], s[_DST]
    while True:
        i, j, mid, hi = s[_I], s[_J], s[_MID], s[_HI]
        if i < mid and j < hi:
            # Stable: take from the right run only when it is strictly less.
            return CallThen(s[_LESS], [src[j], src[i]], "sort", s)
        k = s[_K]
        while i < mid:
            dst[k] = src[i]
            i += 1
            k += 1
        while j < hi:
            dst[k] = src[j]
            j += 1
            k += 1
        n, width = s[_N], s[_WIDTH]
        lo = hi
        if lo >= n:
            src, dst = dst, src
            s[_SRC], s[_DST] = src, dst
            width *= 2
            s[_WIDTH] = width
            if width >= n:
                return tuple(src) if s[_VEC] else make_list(src)
            lo = 0
        mid = min(lo + width, n)
        s[_LO], s[_MID], s[_HI] = lo, mid, min(lo + 2 * width, n)
        s[_I], s[_J], s[_K] = lo, mid, lo


def _merge_sort_resume(s: list[Any], right_first: Any) -> Any:
    src, dst = s[_SRC], s[_DST]
    k = s[_K]
    if truthy(right_first):
        dst[k] = src[s[_J]]
        s[_J] += 1
    else:
        dst[k] = src[s[_I]]
        s[_I] += 1
    s[_K] = k + 1
    return _merge_sort_step(s)


@resumer("sort")
def _sort_next(m: Any, state: Any, value: Any) -> Any:
    return _merge_sort_resume(state, value)


@primitive("sort-by", needs_machine=True)
def sort_by(m: Any, keyfn: Any, coll: Any) -> Any:
    """Sort by the default order of ``(keyfn x)`` (stable); vector for a vector, else a list."""
    items = seq_items(coll, "sort-by")
    as_vector = type(coll) is tuple
    if plain(keyfn):
        return _sort_by_keys(items, [call_plain(keyfn, [x]) for x in items], as_vector)
    if not items:
        return _same_shape(coll, items)
    return CallThen(keyfn, [items[0]], "sort-by", (keyfn, items, [], as_vector))


@resumer("sort-by")
def _sort_by_next(m: Any, state: Any, value: Any) -> Any:
    keyfn, items, keys, as_vector = state
    keys.append(value)
    if len(keys) == len(items):
        return _sort_by_keys(items, keys, as_vector)
    return CallThen(keyfn, [items[len(keys)]], "sort-by", state)


def _sort_by_keys(items: list[Any], keys: list[Any], as_vector: bool) -> Any:
    def by_key(a: int, b: int) -> int:
        return compare(keys[a], keys[b], "sort-by")

    order = sorted(range(len(items)), key=cmp_to_key(by_key))
    result = [items[i] for i in order]
    return tuple(result) if as_vector else make_list(result)


# -- range ------------------------------------------------------------------------------------
@primitive("range")
def range_(a: Any, b: Any = NO_ARG, step: Any = 1) -> Any:
    """``(range 5)`` is ``(0 1 2 3 4)``; ``(range 2 5)``, ``(range 10 0 -3)``."""
    if b is NO_ARG:
        start, stop = 0, integer(a, "range")
    else:
        start, stop = integer(a, "range"), integer(b, "range")
    step = integer(step, "range")
    if step == 0:
        raise lisp_error(VALUE_ERROR, "range: the step must not be 0")
    r = range(start, stop, step)
    if len(r) > MAX_RANGE:
        raise lisp_error(VALUE_ERROR, f"range: {len(r)} elements is more than the limit of {MAX_RANGE}")
    return make_list(r)
