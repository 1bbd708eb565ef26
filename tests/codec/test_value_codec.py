"""Value codec: exact round trips (closures, sharing, cycles), determinism, structural sharing."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from tapevm.domain.content import ContentTable
from tapevm.vm.value_codec import CHUNK, ValueDecoder, ValueEncoder
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
    Symbol,
    lisp_equal,
    make_list,
)


def codec() -> tuple[ValueEncoder, Any]:
    table = ContentTable()
    enc = ValueEncoder(table)
    atoms: dict[int, Atom] = {}

    def decoder() -> ValueDecoder:
        return ValueDecoder(
            lambda k: table.get(k),
            lambda p, b, e, n, ns: Closure(p, b, e, n, ns),
            lambda name: Primitive(name, print),
            lambda i: atoms.setdefault(i, Atom(i, None)),
        )

    return enc, decoder


def roundtrip(value: Any) -> tuple[Any, Any, Any]:
    enc, decoder = codec()
    e = enc.encode(value)
    enc.commit()
    back = decoder().decode(e)
    again = enc.encode(back)
    return e, back, again


scalars = st.one_of(
    st.integers(), st.floats(allow_nan=False), st.text(max_size=20), st.booleans(), st.just(NIL),
    st.sampled_from([Symbol("a"), Symbol("ns/b"), Keyword("k"), Symbol("@")]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=70).map(make_list),
        st.lists(inner, max_size=70).map(tuple),
        st.lists(st.tuples(st.one_of(st.integers(), st.text(max_size=5)), inner), max_size=40).map(LMap),
        st.tuples(inner, inner).map(lambda t: Pair(t[0], t[1])),
        inner.map(lambda d: ErrorValue("user", "boom", d)),
    ),
    max_leaves=200,
)


@given(values)
def test_every_data_value_round_trips_exactly(value: Any) -> None:
    e, back, again = roundtrip(value)
    assert lisp_equal(back, value)
    assert again == e


@given(values)
def test_encoding_does_not_depend_on_table_history(value: Any) -> None:
    enc1, _ = codec()
    enc2, _ = codec()
    enc2.encode(make_list([value, 1, 2]))  # warm caches with related content
    enc2.commit()
    assert enc1.encode(value) == enc2.encode(value)


def test_floats_ints_and_bools_stay_distinct() -> None:
    for v in (1, 1.0, True, float("inf"), float("-inf"), 2**80, -(2**80)):
        _e, back, _ = roundtrip(v)
        assert type(back) is type(v) and back == v
    _e, back, _ = roundtrip(float("nan"))
    assert back != back


def test_closure_with_environment_round_trips() -> None:
    outer = Env({Symbol("n"): 10, Symbol("xs"): make_list([1, 2, 3])}, None)
    inner = Env({Symbol("m"): (1, 2)}, outer)
    f = Closure(make_list([Symbol("x")]), (make_list([Symbol("+"), Symbol("x"), Symbol("n")]),), inner, "adder", "user")
    e, back, again = roundtrip(f)
    assert again == e
    assert back.name == "adder" and back.ns == "user"
    assert back.env.vars[Symbol("m")] == (1, 2)
    assert lisp_equal(back.env.parent.vars[Symbol("xs")], make_list([1, 2, 3]))
    assert lisp_equal(back.body[0], f.body[0])


def test_shared_structure_and_cycles_are_preserved() -> None:
    env = Env({}, None)
    f = Closure(NIL, (Symbol("f"),), env, "f", "user")
    env.vars[Symbol("f")] = f                     # letrec-style cycle
    env.vars[Symbol("fs")] = make_list([f, (f,)])  # a cycle through a list and a vector
    m = Macro(f)
    value = make_list([f, f, m, env.vars[Symbol("fs")]])
    e, back, again = roundtrip(value)
    assert again == e
    items = list(back)
    assert items[0] is items[1]
    g = items[0]
    assert g.env.vars[Symbol("f")] is g
    assert next(iter(g.env.vars[Symbol("fs")])) is g
    assert list(g.env.vars[Symbol("fs")])[1][0] is g
    assert items[2].closure is g


def test_atoms_and_primitives_are_references() -> None:
    enc, _ = codec()
    assert enc.encode(Atom(7, "ignored")) == ["a", 7]
    assert enc.encode(Primitive("car", print)) == ["p", "car"]


def test_deeply_nested_values_do_not_recurse() -> None:
    deep: Any = NIL
    for _ in range(100_000):
        deep = Pair(deep, NIL)
    e, back, again = roundtrip(deep)
    assert again == e
    depth = 0
    while back is not NIL:
        back = back.car
        depth += 1
    assert depth == 100_000


def _new_bytes(enc: ValueEncoder, value: Any) -> int:
    enc.encode(value)
    size = sum(len(orjson.dumps(n)) for n in enc.take_new_nodes())
    enc.commit()
    return size


def test_consing_onto_a_list_stores_only_the_new_chunk() -> None:
    enc, decoder = codec()
    lst: Any = NIL
    total = 0
    for i in range(5000):
        lst = Pair(i, lst)
        total += _new_bytes(enc, lst)
    fresh, _ = codec()
    fresh.encode(lst)
    final_alone = sum(len(orjson.dumps(n)) for n in fresh.take_new_nodes())
    # A copy per step would be ~2,500x the final list; chunking costs one chunk per step.
    assert total < 3 * final_alone + 5000 * (CHUNK * 6 + 60)
    assert lisp_equal(decoder().decode(enc.encode(lst)), lst)


def test_appending_to_a_vector_and_taking_cdr_are_cheap() -> None:
    enc, _ = codec()
    vec: tuple[Any, ...] = ()
    sizes = []
    for i in range(2000):
        vec = vec + (i,)
        sizes.append(_new_bytes(enc, vec))
    assert max(sizes[100:]) < CHUNK * 6 + 80
    lst = make_list(range(3000))
    _new_bytes(enc, lst)
    while lst is not NIL:
        lst = lst.cdr
        assert _new_bytes(enc, lst) < CHUNK * 6 + 80


def test_failed_commit_never_leaves_dangling_cached_keys() -> None:
    enc, decoder = codec()
    base = make_list(range(100))
    enc.encode(base)
    enc.discard()  # the form's transaction failed: nothing was stored
    e = enc.encode(Pair(-1, base))
    nodes = enc.take_new_nodes()
    enc.commit()
    assert nodes, "the discarded chunks must be stored again"
    assert lisp_equal(decoder().decode(e), Pair(-1, base))


def test_encoding_is_identical_across_processes_and_hash_seeds() -> None:
    script = (
        "from tapevm.domain.content import ContentTable\n"
        "from tapevm.vm.value_codec import ValueEncoder\n"
        "from tapevm.vm.values import *\n"
        "v = LMap([(Keyword('b'), make_list([Symbol('x'), 1.5, 'é'])), ('a', (1, 2, 3))])\n"
        "print(ValueEncoder(ContentTable()).encode(v))\n"
    )
    outs = set()
    for seed in ("1", "2", "987"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        outs.add(subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                                check=True).stdout)
    assert len(outs) == 1


def test_integers_past_the_decimal_digit_limit_round_trip() -> None:
    """CPython refuses str(n) and int(text) past 4,300 digits; the VM's integers have no such limit,
    so a value of 5,000 or 50,000 digits is recorded and read back like any other (it was an
    internal error at the commit of the form that made it)."""
    import pytest

    from tapevm.domain.errors import ValueCodecError

    for n in (10**5000, -(7 * 10**50000 + 3), 2**20000 + 1):
        e, back, again = roundtrip(n)
        assert back == n and e == again and type(back) is int
    _, decoder = codec()
    for bad in (["I", "12x"], ["I", 12], ["I", "1\n"]):
        with pytest.raises(ValueCodecError, match="malformed big integer"):
            decoder().decode(bad)


def test_a_form_whose_value_cannot_be_printed_leaves_nothing_in_the_live_vm(tmp_path, monkeypatch) -> None:
    """Printing and encoding happen after the form has run: when they fail, the form's definitions are
    rolled back with it, not left in the live VM without being in the log."""
    import pytest

    from tapevm.infrastructure.session import service as session_module
    from tapevm.infrastructure.session.service import open_session

    def failing(value: Any, limit: int | None = None) -> str:
        raise ValueError("cannot print")

    with open_session("s", str(tmp_path / "s.db")) as s:
        monkeypatch.setattr(session_module, "to_source", failing)
        with pytest.raises(ValueError, match="cannot print"):
            s.run("(begin (define y 5) 1)")
        monkeypatch.undo()
        assert s.run("(define z 1)")[0].ok
        assert not s.run("y")[0].ok, "y was rolled back with its form"
        assert "y" not in s.state.namespaces["user"]


# Small trees (the commonest stored values) take a faster path than the general walk; the stored
# encoding must not depend on which path a value took: same encodings, same new nodes, same order.
closures = st.builds(
    lambda params, body, name: Closure(params, tuple(body), None, name, "user"),
    st.one_of(st.just(NIL), st.just(Symbol("args")), st.lists(st.sampled_from([Symbol("x"), Symbol("y")]),
                                                                max_size=3).map(make_list)),
    st.lists(values, min_size=1, max_size=3),
    st.one_of(st.none(), st.text(max_size=5)),
)
tree_values = st.recursive(
    st.one_of(scalars, st.text(min_size=60, max_size=80), closures),
    lambda inner: st.one_of(
        st.lists(inner, max_size=40).map(make_list),
        st.lists(inner, max_size=40).map(tuple),
        st.lists(inner, min_size=1, max_size=3).map(lambda xs: Closure(make_list([Symbol("x")]), tuple(xs), None,
                                                                        "f", "user")),
    ),
    max_leaves=60,
)


def _both_paths(values_in_order: list[Any]) -> tuple[list[Any], list[Any]]:
    """Each path's (encodings, new nodes) for the same values encoded in turn in one form."""
    out = []
    for tree_path in (True, False):
        enc = ValueEncoder(ContentTable(), tree_path=tree_path)
        encodings = [enc.encode(v) for v in values_in_order]
        out.append((encodings, enc.take_new_nodes()))
    return out[0], out[1]


@given(st.lists(tree_values, min_size=1, max_size=4))
def test_small_trees_store_the_same_nodes_as_the_general_walk(vals: list[Any]) -> None:
    shared = make_list([Symbol("shared"), 1])
    vals = [*vals, make_list([shared, shared, vals[0]])]  # shared parts, and parts seen before
    tree, general = _both_paths(vals)
    assert tree == general


def test_tree_path_keeps_cached_list_keys_and_falls_back_past_its_limits() -> None:
    deep: Any = NIL
    for _ in range(200):  # deeper than the tree path follows
        deep = make_list([deep])
    long_list = make_list(list(range(CHUNK + 1)))  # more than one chunk
    with_env = Closure(NIL, (Symbol("n"),), Env({Symbol("n"): 1}, None), "g", "user")
    vals = [long_list, make_list([long_list, 1]), deep, with_env, make_list([with_env]), Pair(1, 2)]
    tree, general = _both_paths(vals)
    assert tree == general
    enc = ValueEncoder(ContentTable())
    small = make_list([1, 2, 3])
    first = enc.encode(small)
    assert small._hash is not None and first == ["@", small._hash[0]]
    before = len(enc.pending_nodes)
    assert enc.encode(make_list([small, small])) == enc.encode(make_list([small, small]))
    assert len(enc.pending_nodes) == before + 1  # only the new outer list: ``small`` is referred to by its key
