"""Fuzz the reader: any text either reads or fails with a ReadError (a TapeError) that says where.

Inputs are arbitrary Unicode and Lisp-shaped token soup (brackets, quotes,
escapes, numbers, dots, reader prefixes), 10,000 of each in the ci profile.
No input may raise anything but a TapeError: no Python traceback.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tapevm.domain.errors import TapeError
from tapevm.vm.reader import read_forms

from ._fuzz import FUZZ_EXAMPLES

TOKENS = st.sampled_from([
    "(", ")", "[", "]", "{", "}", "'", "`", ",", ",@", "#", "#t", "#f", ".", " . ", '"', '\\"', "\\", "\\u",
    "\\u{", "\\uD800", "\\u00e9", "|", ";", "\n", " ", ":", "::", "-", "+", "1", "1.5", "1e309", "-0", "0x10",
    "1/2", "999999999999999999999999", "nil", "a", "ns/x", "/", "@", "\x00", "\ud7ff", "é", "🙂",
])
SOUP = st.lists(st.one_of(TOKENS, st.text(max_size=3)), max_size=40).map("".join)
RUN = settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))


def check(text: str) -> None:
    try:
        read_forms(text, "<fuzz>")
    except TapeError as e:
        message = str(e)
        assert message and "Traceback" not in message


@RUN
@given(st.text(max_size=200))
def test_reader_on_arbitrary_text(text: str) -> None:
    check(text)


@RUN
@given(SOUP)
def test_reader_on_lisp_shaped_soup(text: str) -> None:
    check(text)


def test_reader_on_deep_nesting() -> None:
    for depth in (10_000, 200_000):
        check("(" * depth)
        check("(" * depth + ")" * depth)
        check("'" * depth + "x")
