"""Stateful law test: random forms, forks, merges and takes across several sessions.

After every step each session's state must equal the reference model (plain
dicts), a fork must never change its source, and every merge must follow the
three-way rules against the base it reports (which must be a state of the
source's history, and the fork point for a first merge of a direct fork).
Snapshots and restores (issue 3) are part of it: a restore rolls the model
back to the snapshot's dict, and a fork inherits the snapshots taken before
its fork point.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, precondition, rule

from tapevm.domain.errors import MergeConflict
from tapevm.infrastructure.branches.forks import fork
from tapevm.infrastructure.branches.merging import merge, take
from tapevm.infrastructure.session.checkpoints import checkpoints_of
from tapevm.infrastructure.session.service import open_session
from tapevm.infrastructure.stores.checkpoint_tables import checkpoint_store_for
from tapevm.infrastructure.stores.factory import open_store
from tapevm.projections.checkpoints import policy as checkpoints

NAMES = ["a", "b", "c", "d"]
MISSING = object()


def _three_way(base: dict[str, int], ours: dict[str, int], theirs: dict[str, int], prefer: str
               ) -> tuple[dict[str, int], list[str]]:
    out, conflicts = dict(ours), []
    for k in sorted(set(base) | set(ours) | set(theirs)):
        b, o, t = base.get(k, MISSING), ours.get(k, MISSING), theirs.get(k, MISSING)
        if t == b or o == t:
            continue
        if o != b:
            conflicts.append(k)
            if prefer != "take":
                continue
        if t is MISSING:
            out.pop(k, None)
        else:
            out[k] = t  # type: ignore[assignment]
    return out, conflicts


class Sessions(RuleBasedStateMachine):
    sessions = Bundle("sessions")

    @initialize(target=sessions)
    def start(self) -> str:
        self.dir = tempfile.TemporaryDirectory()
        self.store = open_store(str(Path(self.dir.name) / "s.db"))
        self.model: dict[str, dict[str, int]] = {}
        self.history: dict[str, dict[int, dict[str, int]]] = {}  # session -> head seq -> state
        self.forked_from: dict[str, tuple[str, int]] = {}
        self.merged: set[tuple[str, str]] = set()
        self.snaps: dict[str, list[tuple[str, int, dict[str, int]]]] = {}  # session -> (name, at, values)
        self.count = 0
        # a checkpoint every 3 events, so forks start from their source's and chain their own on them;
        # small states get delta keyframes too (P-frames then name bindings by position in them)
        checkpoint_store_for(self.store).set_setting("checkpoint_interval", "3")  # type: ignore[union-attr]
        self._promote_min, checkpoints.PROMOTE_MIN = checkpoints.PROMOTE_MIN, 2
        with open_session("s0", self.store):
            pass  # SessionStarted
        return self._new("s0", {})

    def _new(self, name: str, values: dict[str, int]) -> str:
        self.model[name] = dict(values)
        self.history[name] = {}
        self.snaps.setdefault(name, [])
        self._remember(name)
        return name

    def _remember(self, name: str) -> None:
        self.history[name][self.store.last_seq(self._stream(name))] = dict(self.model[name])

    def _stream(self, name: str) -> str:
        return name  # no -f in this machine: names are their streams

    def _define(self, name: str, var: str, value: int) -> None:
        with open_session(name, self.store) as s:
            s.eval(f"(define {var} {value})")
        self.model[name][var] = value
        self._remember(name)

    @rule(s=sessions, var=st.sampled_from(NAMES), value=st.integers(0, 3))
    def define(self, s: str, var: str, value: int) -> None:
        self._define(s, var, value)

    @rule(target=sessions, s=sessions)
    def fork_head(self, s: str) -> str:
        self.count += 1
        new = f"s{self.count}"
        before = dict(self.model[s])
        r = fork(self.store, s, new)
        self.forked_from[new] = (s, r.at)
        self._new(new, self.model[s])
        # the fork's history includes its source's up to the fork point (read through its lineage)
        self.history[new].update({k: v for k, v in self.history[s].items() if k <= r.at})
        self.snaps[new] = [snap for snap in self.snaps[s] if snap[1] <= r.at]
        assert self._actual(s) == before  # a fork never changes its source
        return new

    @rule(src=sessions, dst=sessions, prefer=st.sampled_from(["keep", "take", "fail"]))
    def merge_into(self, src: str, dst: str, prefer: str) -> None:
        if src == dst:
            return
        theirs, ours = dict(self.model[src]), dict(self.model[dst])
        try:
            r = merge(self.store, src, dst, prefer)
        except MergeConflict:
            assert prefer == "fail"
            assert self._actual(dst) == ours  # nothing written
            return
        assert r.ancestor in self.history[src] or r.ancestor == 0, "the base is a state of the source"
        base = self.history[src].get(r.ancestor, {})
        if self.forked_from.get(src, ("", 0))[0] == dst and (src, dst) not in self.merged:
            assert r.ancestor == self.forked_from[src][1]
        expected, conflicts = _three_way(base, ours, theirs, prefer)
        assert sorted(c.key[1] for c in r.conflicts) == conflicts
        self.model[dst] = expected
        self._remember(dst)
        self.merged.add((src, dst))

    @rule(src=sessions, dst=sessions, var=st.sampled_from(NAMES))
    def take_one(self, src: str, dst: str, var: str) -> None:
        if src == dst or var not in self.model[src]:
            return
        take(self.store, src, f"user/{var}", dst)
        self.model[dst][var] = self.model[src][var]
        self._remember(dst)

    @rule(s=sessions)
    def snapshot(self, s: str) -> None:
        self.count += 1
        name = f"p{self.count}"
        with open_session(s, self.store) as session:
            info = session.snapshot(name)
        self.snaps[s].append((name, info.at, dict(self.model[s])))
        self._remember(s)

    @precondition(lambda self: any(self.snaps.values()))
    @rule(s=sessions, data=st.data())
    def restore(self, s: str, data: st.DataObject) -> None:
        if not self.snaps[s]:
            return
        name, _, values = data.draw(st.sampled_from(self.snaps[s]))
        with open_session(s, self.store) as session:
            session.restore(name)
        self.model[s] = dict(values)
        self._remember(s)

    def _actual(self, name: str) -> dict[str, Any]:
        with open_session(name, self.store, writable=False, create=False) as s:
            return dict(s.state.namespaces.get("user", {}))

    @invariant()
    def every_session_matches_the_model(self) -> None:
        if not hasattr(self, "model"):
            return
        for name, values in self.model.items():
            assert self._actual(name) == values, name

    @invariant()
    def every_checkpoint_is_valid_and_every_past_state_is_its_model(self) -> None:
        if not hasattr(self, "model"):
            return
        for name, history in self.history.items():
            cp = checkpoints_of(self.store, self._stream(name))
            assert [reason for _, reason in cp.verify()] == [None] * len(cp.metas()), name
            for at, values in history.items():
                assert dict(cp.state_at(at).namespaces.get("user", {})) == values, (name, at)

    def teardown(self) -> None:
        if hasattr(self, "_promote_min"):
            checkpoints.PROMOTE_MIN = self._promote_min
        if hasattr(self, "store"):
            self.store.close()
            self.dir.cleanup()


Sessions.TestCase.settings = settings(max_examples=15, stateful_step_count=15, deadline=None)
test_sessions_stateful = Sessions.TestCase


@pytest.mark.slow
class TestSessionsStatefulLong(Sessions.TestCase):  # type: ignore[misc,valid-type]
    settings = settings(max_examples=25, stateful_step_count=25, deadline=None)
