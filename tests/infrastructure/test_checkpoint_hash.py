"""The running events hash: a commit at a time equals an event at a time equals ``chain_hash``."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tapevm.projections.checkpoints.events_hash import ZERO_HASH, RunningEventsHash, chain_hash, event_digest

fields = st.dictionaries(st.text(max_size=5), st.one_of(st.integers(-(2**63), 2**63 - 1), st.text(max_size=8), st.none()), max_size=3)
events = st.lists(st.tuples(st.sampled_from(["Defined", "Assigned", "FormEvaluated"]), fields), max_size=30)


@given(events, st.lists(st.integers(1, 7), max_size=10))
def test_commits_hash_like_single_events_and_like_verify(evs: list[tuple[str, dict[str, object]]],
                                                          cuts: list[int]) -> None:
    numbered = [(i + 1, t, f) for i, (t, f) in enumerate(evs)]
    one_by_one, by_commit = RunningEventsHash(), RunningEventsHash()
    for e in numbered:
        assert one_by_one.add(*e)
    i = 0
    for n in cuts + [len(numbered)]:
        by_commit.add_all(numbered[i:i + n])
        i += n
    by_commit.add_all(numbered[i:])
    expected = chain_hash(ZERO_HASH, numbered).hex()
    assert by_commit.valid and by_commit.upto == len(numbered)
    assert by_commit.events_hash() == one_by_one.events_hash() == expected
    assert by_commit.tip == one_by_one.tip
    if numbered:
        assert by_commit.tip == event_digest(*numbered[-1][1:]).hex()


def test_a_commit_with_a_gap_or_out_of_order_makes_the_hash_unusable() -> None:
    gap = RunningEventsHash()
    gap.add_all([(1, "Defined", {}), (3, "Defined", {})])
    assert not gap.valid and not gap.covers(0, 3)
    late = RunningEventsHash(after=5)
    late.add_all([(7, "Defined", {})])
    assert not late.valid


@given(events, st.integers(0, 5))
def test_a_commit_of_drafts_hashes_like_its_numbered_events(evs: list[tuple[str, dict[str, object]]],
                                                             before: int) -> None:
    """The session's path (drafts numbered from ``first``) and the general one agree, after earlier events."""
    earlier = [(i + 1, "Defined", {"n": i}) for i in range(before)]
    numbered = [(before + i + 1, t, f) for i, (t, f) in enumerate(evs)]
    drafts, general = RunningEventsHash(), RunningEventsHash()
    drafts.add_all(earlier)
    general.add_all(earlier)
    drafts.add_drafts(before + 1, [(t, 1, f) for _, t, f in numbered])
    general.add_all(numbered)
    assert drafts.valid and drafts.upto == general.upto == before + len(evs)
    assert drafts.events_hash() == general.events_hash() and drafts.tip == general.tip
    drafts.add_drafts(before + len(evs) + 5, [("Defined", 1, {})])  # not the next event: unusable
    assert not drafts.valid
