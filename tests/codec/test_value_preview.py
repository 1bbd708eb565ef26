"""A stored value's bounded preview: the printer's text of the decoded value, at a bounded cost."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tapevm.domain.content import TEXT_NODE_MIN, ContentTable
from tapevm.vm.printer import to_source
from tapevm.vm.value_codec import ValueDecoder, ValueEncoder
from tapevm.vm.value_preview import preview
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
)


class Counting:
    """A content table's lookup that counts the nodes it hands out."""

    def __init__(self, table: ContentTable) -> None:
        self.table, self.count = table, 0

    def __call__(self, key: str) -> bytes:
        self.count += 1
        return self.table.get(key)


def stored(value: Any) -> tuple[Any, ValueDecoder, Counting]:
    """``value`` encoded into a fresh content table, a decoder over it, and its counted lookup."""
    table = ContentTable()
    encoder = ValueEncoder(table)
    enc = encoder.encode(value)
    encoder.commit()
    lookup = Counting(table)
    atoms: dict[int, Atom] = {}
    decoder = ValueDecoder(lookup, lambda p, b, e, n, ns: Closure(p, b, e, n, ns),
                           lambda name: Primitive(name, print), lambda i: atoms.setdefault(i, Atom(i, None)))
    return enc, decoder, lookup


def whole_text(value: Any) -> str:
    enc, decoder, _ = stored(value)
    return to_source(decoder.decode(enc))


def lisp_list(items: list[Any], tail: Any = NIL) -> Any:
    node = tail
    for item in reversed(items):
        node = Pair(item, node)
    return node


scalars = st.one_of(
    st.integers(), st.integers(min_value=2**60), st.floats(), st.text(max_size=12), st.booleans(), st.just(NIL),
    st.text(alphabet="ab\"\\\n\u2028é", min_size=TEXT_NODE_MIN, max_size=TEXT_NODE_MIN + 40),
    st.sampled_from([Symbol("quote"), Symbol("unquote-splicing"), Symbol("a b"), Keyword("k"), Atom(3, None)]),
)


def shapes(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    items = st.lists(children, max_size=70)
    return st.one_of(
        items.map(lisp_list),
        st.tuples(items, children).map(lambda x: lisp_list(x[0], x[1])),  # dotted, when the tail is no list
        items.map(tuple),
        st.lists(st.tuples(st.one_of(st.integers(), st.text(max_size=5)), children), max_size=70).map(LMap),
        children.map(lambda x: lisp_list([Symbol("quote"), x])),
    )


@settings(max_examples=300, deadline=None)
@given(st.recursive(scalars, shapes, max_leaves=150), st.integers(min_value=0, max_value=300))
def test_a_preview_is_the_printed_value_cut(value: Any, limit: int) -> None:
    enc, decoder, _ = stored(value)
    whole = to_source(decoder.decode(enc))
    enc, decoder, _ = stored(value)  # (a fresh decoder: nothing decoded before the preview)
    shown = preview(decoder, enc, limit)
    assert shown.text == (whole if len(whole) <= limit else whole[:limit] + "...")
    assert shown.truncated == (len(whole) > limit)
    assert shown.ref == (enc[1] if isinstance(enc, list) and enc[0] == "@" else None)
    assert preview(decoder, enc, None).text == whole


def test_objects_print_from_their_nodes() -> None:
    f = Closure(lisp_list([Symbol("x")]), (Symbol("x"),), Env({Symbol("big"): lisp_list(list(range(5000)))}, None),
                "f", "user")
    values = [f, Closure(NIL, (1,), None, None, "user"), Macro(f), ErrorValue("type-error", "bad", 1),
              lisp_list([f, Macro(f), ErrorValue("k", "m", NIL), (1, 2)]), LMap([(Keyword("f"), f)])]
    for value in values:
        enc, decoder, _ = stored(value)
        assert preview(decoder, enc, 200).text == whole_text(value)


def test_a_cycle_is_decoded_and_printed_under_the_limit() -> None:
    env = Env({}, None)
    f = Closure(NIL, (Symbol("f"),), env, "f", "user")
    env.vars[Symbol("f")] = f
    env.vars[Symbol("data")] = lisp_list([f, 1, 2])
    value = lisp_list([1, env.vars[Symbol("data")], f], lisp_list([f]))
    for limit in (0, 5, 12, 200):
        enc, decoder, _ = stored(value)
        whole = whole_text(value)
        assert preview(decoder, enc, limit).text == (whole if len(whole) <= limit else whole[:limit] + "...")


def test_a_long_list_is_previewed_from_its_first_nodes() -> None:
    """The log showed a value by decoding it whole: 100,000 elements for 200 characters of text."""
    enc, decoder, lookup = stored(lisp_list(list(range(100_000))))
    shown = preview(decoder, enc, 200)
    assert shown.text.startswith("(0 1 2 3 ") and shown.truncated
    assert lookup.count <= 3  # 200 characters are at most 3 chunks of 32 numbers


def test_a_long_vector_or_map_parses_only_the_chunks_it_shows(monkeypatch: Any) -> None:
    """A vector's chain is followed from its last chunk by key: no chunk before the shown ones is parsed."""
    parsed: list[str] = []
    for value in (tuple(range(100_000)), LMap((i, i) for i in range(50_000))):
        enc, decoder, _ = stored(value)

        def counted(key: str, real: Any = decoder.parse_node) -> Any:
            parsed.append(key)
            return real(key)

        monkeypatch.setattr(decoder, "parse_node", counted)
        parsed.clear()
        shown = preview(decoder, enc, 200)
        assert shown.text.startswith(("[0 1 2 ", "{0 0 1 1 ")) and shown.truncated
        assert len(parsed) <= 4
