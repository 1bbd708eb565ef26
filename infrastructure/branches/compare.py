"""``tape diff``: two session addresses -> their state differences and where their logs part."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import zip_longest

from tapevm.domain import lineage
from tapevm.domain.addresses import parse_address
from tapevm.domain.ports import EventStore
from tapevm.domain.state import State
from tapevm.infrastructure.branches.forks import resolve_address
from tapevm.infrastructure.session.time_travel import state_of
from tapevm.projections.state_diff import StateDiff, diff_states


@dataclass(frozen=True)
class Comparison:
    a: str                 # the addresses as given
    b: str
    a_state: State
    b_state: State
    diff: StateDiff
    common_ancestor: int   # last event both logs share by lineage (0: none)
    first_difference: int | None  # first event number at which the logs differ (None: identical)


def compare(store: EventStore, a: str, b: str, events: bool = False) -> Comparison:
    """States of ``a`` and ``b`` (``ID`` or ``ID@N``) and their differences; with ``events`` also where the logs part."""
    addr_a, addr_b = parse_address(a), parse_address(b)
    stream_a, at_a = resolve_address(store, addr_a)
    stream_b, at_b = resolve_address(store, addr_b)
    ancestor = min(lineage.common_ancestor(store, stream_a, stream_b), at_a, at_b)
    # each side from its nearest checkpoint (for events a fork shares with its source, the source's)
    sa, sb = state_of(store, stream_a, at_a, addr_a.session), state_of(store, stream_b, at_b, addr_b.session)
    first: int | None = None
    if events:
        first = _first_difference(store, stream_a, at_a, stream_b, at_b, ancestor)
    return Comparison(str(addr_a), str(addr_b), sa, sb, diff_states(sa, sb), ancestor, first)


def _first_difference(store: EventStore, a: str, at_a: int, b: str, at_b: int, shared: int) -> int | None:
    ea = lineage.read_fields(store, a, shared + 1, at_a)
    eb = lineage.read_fields(store, b, shared + 1, at_b)
    for x, y in zip_longest(ea, eb):
        if x is None or y is None or x[1:] != y[1:]:
            first = x if x is not None else y
            return int(first[0]) if first is not None else None
    return None
