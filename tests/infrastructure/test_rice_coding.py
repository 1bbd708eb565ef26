"""Rice coding of the integer columns of checkpoint frames: round trips, sizes, and damaged input."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tapevm.projections.checkpoints import rice_coding

_COLUMNS = st.lists(st.one_of(st.integers(0, 300), st.integers(0, 2**70)), max_size=60)


@given(values=_COLUMNS, k=st.integers(0, 40))
def test_a_column_round_trips_through_bytes_with_any_parameter(values: list[int], k: int) -> None:
    bits = rice_coding.encode(values, k)
    assert len(bits) == rice_coding.coded_bits(values, k)
    back, end = rice_coding.decode(rice_coding.from_bytes(rice_coding.to_bytes(bits)), len(values), k)
    assert back == values
    assert end == len(bits)


@given(first=_COLUMNS, second=_COLUMNS)
def test_columns_coded_one_after_another_decode_in_turn(first: list[int], second: list[int]) -> None:
    k1, k2 = rice_coding.choose_k(first), rice_coding.choose_k(second)
    bits = rice_coding.from_bytes(rice_coding.to_bytes(rice_coding.encode(first, k1) + rice_coding.encode(second, k2)))
    a, pos = rice_coding.decode(bits, len(first), k1)
    b, _ = rice_coding.decode(bits, len(second), k2, pos)
    assert (a, b) == (first, second)


def test_ages_of_churning_counters_cost_about_their_entropy() -> None:
    """Geometric ages of mean ~100 carry ~8.1 bits each; decimal text under zstd took ~13."""
    rng = random.Random(5)
    ages = [int(rng.expovariate(1 / 100)) for _ in range(10_000)]
    k = rice_coding.choose_k(ages)
    assert rice_coding.coded_bits(ages, k) / len(ages) < 8.4
    assert min(rice_coding.coded_bits(ages, j) for j in range(20)) == rice_coding.coded_bits(ages, k)


def test_one_huge_value_among_small_ones_costs_a_few_dozen_bits() -> None:
    small = [3, 1, 4, 1, 5]
    k = rice_coding.choose_k(small)
    assert rice_coding.coded_bits([*small, 10**30], k) - rice_coding.coded_bits(small, k) < 250


@given(values=st.lists(st.integers(0, 5000), min_size=1, max_size=30), data=st.data())
def test_a_truncated_column_is_a_value_error(values: list[int], data: st.DataObject) -> None:
    k = rice_coding.choose_k(values)
    bits = rice_coding.encode(values, k)
    cut = data.draw(st.integers(0, len(bits) - 1))
    with pytest.raises(ValueError, match="truncated"):
        rice_coding.decode(bits[:cut], len(values), k)


def test_negative_integers_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        rice_coding.encode([1, -2], 0)
