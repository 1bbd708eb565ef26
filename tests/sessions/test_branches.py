"""Forks, lineage, diff, merge and take against real stores (SQLite file and PostgreSQL)."""

from __future__ import annotations

import pytest

from tapevm.domain import lineage
from tapevm.domain.addresses import SessionAddress, parse_address
from tapevm.domain.errors import BadAddress, MergeConflict, SessionExists, SessionNotFound, UsageError
from tapevm.domain.form_points import commit_around
from tapevm.infrastructure.branches.compare import compare
from tapevm.infrastructure.branches.forks import clone, fork
from tapevm.infrastructure.branches.merging import merge, take
from tapevm.infrastructure.session.service import open_session
from tapevm.infrastructure.stores.factory import open_store


@pytest.mark.parametrize(("text", "expected"), [
    ("work", SessionAddress("work")),
    ("work@12", SessionAddress("work", 12)),
    ("a.1@0", SessionAddress("a.1", 0)),
])
def test_parse_address(text: str, expected: SessionAddress) -> None:
    assert parse_address(text) == expected
    assert str(expected) == text


@pytest.mark.parametrize("text", ["", "@3", "work@", "work@x", "work@-1", "work@1@2", "w@１"])
def test_bad_addresses_are_refused(text: str) -> None:
    with pytest.raises(BadAddress):
        parse_address(text)



def test_fork_reads_its_prefix_from_the_source_and_copies_nothing(store_url: str) -> None:
    with open_store(store_url) as store:
        with open_session("a", store) as a:
            a.eval("(define x 1) (define lst (list 1 2 3))")
            a.eval("(define x 2)")
            head = a.head
            at_x1 = a.head - 3
        before = {h.session: h.stored_bytes for h in store.sessions()}
        r = fork(store, f"a@{at_x1}", "b")
        assert r.at == at_x1
        heads = {h.session: h for h in store.sessions()}
        assert heads["a"].stored_bytes == before["a"]  # the source is untouched
        assert heads["b"].stored_bytes < 300  # one small record
        with open_session("b", store) as b:
            assert b.head == at_x1 + 1
            assert b.eval("x") == 1
            assert b.eval("(car lst)") == 1
            events = list(b.events())
            assert [e.seq for e in events] == list(range(1, b.head + 1))
            assert events[at_x1].type_name == "SessionForked"
            assert events[0].session == "a"  # inherited
            b.eval("(define x 10)")
            assert b.state_at(at_x1).namespaces["user"]["x"] == 1
        with open_session("a", store) as a:
            assert a.head == head and a.eval("x") == 2
        # forks of forks, at a point before the parent's own fork point
        fork(store, "b", "c")
        fork(store, "c@4", "d")
        with open_session("c", store) as c:
            assert c.eval("x") == 10
        with open_session("d", store, writable=False, create=False) as d:
            assert d.head == 5
            assert [s.stream for s in d.segments] == ["a", "d"]
        clone(store, "a", "e")
        with open_session("e", store, writable=False, create=False) as e:
            assert e.state.same_as(open_session("a", store, writable=False, create=False).state)


def test_fork_errors(store_url: str) -> None:
    with open_store(store_url) as store:
        with open_session("a", store) as a:
            a.eval("(define x 1)")
        with pytest.raises(SessionNotFound):
            fork(store, "nope", "b")
        with pytest.raises(BadAddress, match="has events 1..4"):
            fork(store, "a@99", "b")
        with pytest.raises(UsageError):
            fork(store, "a", "bad/name")
        fork(store, "a", "b")
        with pytest.raises(SessionExists):
            fork(store, "a", "b")


def test_diff_and_events(store_url: str) -> None:
    with open_store(store_url) as store:
        with open_session("a", store) as a:
            a.eval("(define x 1) (define y 2) (assert! '(likes a b))")
        fork(store, "a", "b")
        with open_session("b", store) as b:
            b.eval("(define x 5) (define z 3) (retract! '(likes a b))")
            b.eval("(write-file! \"f.txt\" \"hi\")")
        cmp = compare(store, "a", "b", events=True)
        got = {(c.kind, c.key[-1] if c.kind != "fact" else "fact", c.status) for c in cmp.diff.changes}
        assert got == {("binding", "x", "changed"), ("binding", "z", "added"), ("fact", "fact", "removed"),
                       ("file", "f.txt", "added")}
        head_a = store.last_seq("a")
        assert cmp.common_ancestor == head_a
        assert cmp.first_difference == head_a + 1
        same = compare(store, "a", f"b@{head_a}", events=True)
        assert not same.diff and same.first_difference is None


def test_three_way_merge_and_conflicts(store_url: str) -> None:
    with open_store(store_url) as store:
        with open_session("main", store) as m:
            m.eval("(define shared 1) (define mine 1) (define theirs 1) (define gone 1)")
        fork(store, "main", "feature")
        with open_session("feature", store) as f:
            f.eval("(define theirs (list 'from 'feature)) (define shared 'feature) (define new-one 7)")
            f.eval("(write-file! \"notes\" \"from feature\")")
        with open_session("main", store) as m:
            m.eval("(define mine 2) (define shared 'main)")
        with pytest.raises(MergeConflict, match="user/shared"):
            merge(store, "feature", "main")
        head = store.last_seq("main")
        assert store.last_seq("main") == head  # nothing written
        r = merge(store, "feature", "main", prefer="keep")
        assert [c.key for c in r.conflicts] == [("user", "shared")]
        with open_session("main", store) as m:
            assert m.run("(list mine (car theirs) shared new-one (read-file \"notes\"))")[0].printed == \
                '(2 from main 7 "from feature")'
            log = [e for e in m.events() if e.type_name == "MergeApplied"]
            assert log[-1].event.source_name == "feature"
        # a second merge starts from what was merged: nothing new, no conflict again
        assert merge(store, "feature", "main").seq == 0
        with open_session("feature", store) as f:
            f.eval("(define shared 'again)")
        r = merge(store, "feature", "main", prefer="take")
        with open_session("main", store) as m:
            assert m.run("shared")[0].printed == "again"


def test_take_copies_one_binding_with_its_content(store_url: str) -> None:
    with open_store(store_url) as store:
        with open_session("src", store) as s:
            s.eval("(in-ns 'lib) (define (twice f x) (f (f x))) (define data (list 1 2 3))")
        with open_session("dst", store) as d:
            d.eval("(define y 1)")
        take(store, "src", "lib/data", "dst")
        take(store, "src", "twice", "dst")
        with open_session("dst", store) as d:
            assert d.run("(lib/twice (lambda (n) (* n 3)) (car lib/data))")[0].printed == "9"
        with pytest.raises(UsageError, match="no binding"):
            take(store, "src", "lib/nothing", "dst")


def test_a_fork_of_a_merged_fork_merges_against_what_was_merged(store_url: str) -> None:
    # main merged feat@12, and f2 forked feat@12: the base was main@4, the fork point of the lineage,
    # so f2's change of b was a false conflict and its retraction of (p) never reached main
    with open_store(store_url) as store:
        with open_session("main", store) as m:
            m.eval("(define a 1)")
        fork(store, "main", "feat")
        with open_session("feat", store) as f:
            f.eval("(assert! '(p)) (define b 1)")
            merged_at = f.head
        merge(store, "feat", "main")
        fork(store, "feat", "f2")
        with open_session("feat", store) as f:  # feat goes on past the fork point: not f2's
            f.eval("(define late 1)")
        merge(store, "feat", "main")
        with open_session("f2", store) as f2:
            f2.eval("(retract! '(p)) (set! b 2)")
        result = merge(store, "f2", "main")
        assert result.ancestor == merged_at and result.conflicts == []
        assert compare(store, "main", "f2").diff.changes[0].key == ("user", "late")  # the only difference
        assert len(compare(store, "main", "f2").diff.changes) == 1


def test_take_refuses_a_value_that_refers_to_an_atom(store_url: str) -> None:
    # atoms are named by session-wide ids: a taken (atom 5) showed the destination's own atom #1,
    # or, where it had none, a Python None that no primitive accepts
    with open_store(store_url) as store:
        with open_session("src", store) as s:
            s.eval("(define c (atom 5))")
            s.eval("(define f (let ((a (atom 1))) (lambda () @a)))")
            s.eval("(define nested (list 1 (list 2 c)))")
            s.eval('(define plain (list "a" 5 (list "a" 7)))')  # lists that look like an atom's encoding
        with open_session("dst", store) as d:
            d.eval('(define mine (atom "dst"))')
            head = d.head
        for name, atoms in (("c", "#1"), ("f", "#2"), ("nested", "#1")):
            with pytest.raises(UsageError, match=f"cannot take user/{name} from session src: its value refers to "
                                                 f"atom {atoms}, .* merge the sessions instead"):
                take(store, "src", name, "dst")
        assert store.last_seq("dst") == head
        take(store, "src", "plain", "dst")
        with open_session("dst", store) as d:
            assert d.run("plain")[0].printed == '("a" 5 ("a" 7))' and d.run("@mine")[0].printed == '"dst"'


def test_fresh_keeps_the_old_session_under_a_free_name(store_url: str) -> None:
    with open_store(store_url) as store:
        with open_session("w", store) as s:
            s.eval("(define x 1)")
        for expected in ("w.1", "w.2"):
            with open_session("w", store, fresh=True) as s:
                assert s.kept_as == expected
                assert "x" not in s.state.namespaces["user"]
                s.eval("(define x 2)")
        with open_session("w.1", store, create=False) as old:
            assert old.eval("x") == 1
        with open_session("w.2", store, create=False) as old:
            assert old.eval("x") == 2
        streams = {h.session for h in store.sessions()}
        assert "w" in streams and len(streams) == 3
        assert lineage.lineage(store, "w")[0].stream == "w"


def test_state_of_any_point_of_a_fork_is_the_fold_of_its_lineage(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """``state_of`` starts from checkpoints (the source's for the events a fork shares with it, the
    fork's own after them); whichever it uses, the state is the fold of the log from event 1."""
    from tapevm.domain.fold import fold_fields
    from tapevm.domain.state import State
    from tapevm.infrastructure.session.time_travel import state_of
    from tapevm.projections.state_codec import canonical_state_bytes

    monkeypatch.setenv("TAPE_CHECKPOINT_INTERVAL", "10")
    with open_store(store_url) as store:
        with open_session("src", store) as s:
            fork_at = 0
            for i in range(12):
                s.eval(f"(define x{i % 4} {i}) (assert! '(step {i}))")
                if i == 10:
                    fork_at = s.head  # a form boundary, not the head
        fork(store, f"src@{fork_at}", "f")
        with open_session("f", store) as f:
            for i in range(8):
                f.eval(f"(define y {i})")
            stream, head = f.stream, f.head
        assert lineage.lineage(store, stream)[0].stream != stream
        for at in (1, 7, fork_at - 3, fork_at, fork_at + 1, head - 6, head):
            folded = fold_fields(lineage.read_fields(store, stream, 1, at), State(session="f"))
            assert canonical_state_bytes(state_of(store, stream, at, "f")) == canonical_state_bytes(folded), at


def test_a_fork_opens_from_its_source_checkpoint_and_chains_its_own_on_it(
        store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Opening a fork of a long session reads the source's nearest checkpoint + the tail, not the log
    from event 1; the fork's first checkpoint chains its events hash on the source's checkpoint, and
    is still the hash of every event from 1 (``verify`` checks that from zero)."""
    from tapevm.domain.fold import fold_fields
    from tapevm.domain.state import State
    from tapevm.infrastructure.session.checkpoints import checkpoints_of
    from tapevm.projections.state_codec import canonical_state_bytes

    monkeypatch.setenv("TAPE_CHECKPOINT_INTERVAL", "10")
    with open_store(store_url) as store:
        with open_session("src", store) as s:
            for i in range(30):
                s.eval(f"(define x{i % 5} {i}) (assert! '(step {i}))")
            head = s.head
        nearest = max(m.seq for m in checkpoints_of(store, "src").metas() if m.seq <= head - 5)
        inside = commit_around(store, "src", nearest + 3)  # the end of the form that holds nearest + 3
        fork_at = nearest + 3 if inside is None else inside[1]
        fork(store, f"src@{fork_at}", "f")
        stream = lineage.lineage(store, "f")[-1].stream

        events_read: list[int] = []
        content_read: list[int] = []
        read_fields, read = store.read_fields, store.read

        def spy_fields(session: str, start: int = 1, stop: int | None = None):  # type: ignore[no-untyped-def]
            for event in read_fields(session, start, stop):
                # (the events that store the values the VM decodes at open: its 30 facts, through the index)
                (content_read if start == stop and event[1] == "ContentStored" else events_read).append(event[0])
                yield event

        def spy_read(session: str, start: int = 1, stop: int | None = None):  # type: ignore[no-untyped-def]
            for event in read(session, start, stop):
                events_read.append(event.seq)
                yield event

        monkeypatch.setattr(store, "read_fields", spy_fields)
        monkeypatch.setattr(store, "read", spy_read)
        with open_session("f", store) as f:
            assert f.head == fork_at + 1 and f.eval("x0") is not None
            # the tail after the source's checkpoint, and one event per checkpoint checked (its tip)
            assert len(events_read) <= (f.head - nearest) + 8 < fork_at / 4, events_read
            assert len(content_read) <= 30, content_read
            assert f.checkpoints.metas() == []  # fewer than K events past the source's checkpoint
            for i in range(12):
                f.eval(f"(define y {i})")
            head = f.head
        monkeypatch.undo()

        own = checkpoints_of(store, stream)
        first = own.metas()[0]
        # a small patch on the source's keyframe, not a keyframe of the whole state
        assert first.seq > fork_at and first.kind == "P" and first.base <= fork_at
        assert [reason for _, reason in own.verify()] == [None] * len(own.metas())

        def assert_states_are_the_fold() -> None:
            for at in (nearest - 1, nearest, fork_at, fork_at + 1, first.seq, head):
                folded = fold_fields(lineage.read_fields(store, stream, 1, at), State(session=stream))
                assert canonical_state_bytes(checkpoints_of(store, stream).state_at(at)) == \
                    canonical_state_bytes(folded), at

        assert_states_are_the_fold()
        # the source's checkpoints rebuilt at other event numbers: the fork's patches lose their
        # keyframe, are dropped, and the states are still the fold
        monkeypatch.setenv("TAPE_CHECKPOINT_INTERVAL", "7")
        checkpoints_of(store, "src").rebuild()
        assert first.base not in [m.seq for m in checkpoints_of(store, "src").metas()]
        assert_states_are_the_fold()
        with open_session("f", store) as f:  # opening writes a checkpoint again
            assert f.checkpoints.metas() and f.eval("y") == 11
        assert [reason for _, reason in checkpoints_of(store, stream).verify()] == \
            [None] * len(checkpoints_of(store, stream).metas())


def test_the_next_merge_base_is_kept_in_the_state_not_found_by_reading_the_log(
        store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """``tape merge`` takes its base from ``State.merged`` (folded from MergeApplied, carried by every
    kind of checkpoint frame), so it reads the destination's checkpoint + tail, not its whole log."""
    from tapevm.domain.fold import fold_fields
    from tapevm.domain.state import State
    from tapevm.infrastructure.session.checkpoints import checkpoints_of

    monkeypatch.setenv("TAPE_CHECKPOINT_INTERVAL", "4")
    with open_store(store_url) as store:
        with open_session("dst", store) as d:
            for i in range(40):
                d.eval(f"(define a{i % 7} {i})")
        fork(store, "dst", "src")
        src_stream = lineage.lineage(store, "src")[-1].stream
        merges = []
        events_read: list[int] = []
        read_fields = store.read_fields

        def spy(session: str, start: int = 1, stop: int | None = None):  # type: ignore[no-untyped-def]
            for event in read_fields(session, start, stop):
                if session == "dst":
                    events_read.append(event[0])
                yield event

        for round_ in range(3):
            with open_session("src", store) as s:
                s.eval(f"(define y {round_}) (define z{round_} 1)")
            with open_session("dst", store) as d:
                d.eval(f"(define a0 {100 + round_})")  # the destination moves on too
            events_read.clear()
            monkeypatch.setattr(store, "read_fields", spy)
            merges.append(merge(store, "src", "dst"))
            monkeypatch.undo()
            monkeypatch.setenv("TAPE_CHECKPOINT_INTERVAL", "4")
            assert len(events_read) < 20, events_read  # checkpoints' tips + the tail, not ~130 events
        assert merges[0].ancestor == lineage.lineage(store, "src")[-1].first - 1  # the fork point
        assert [m.ancestor for m in merges[1:]] == [m.source_seq for m in merges[:-1]]
        assert [sorted(item.key[1] for item in m.applied) for m in merges] == [["y", "z0"], ["y", "z1"], ["y", "z2"]]
        with open_session("dst", store) as d:
            assert d.state.merged == {src_stream: merges[-1].source_seq}
            head = d.head
        cp = checkpoints_of(store, "dst")
        assert {m.kind for m in cp.metas()} >= {"I", "P"}
        for at in [m.seq for m in cp.metas()] + [head]:
            folded = fold_fields(store.read_fields("dst", 1, at), State(session="dst"))
            assert checkpoints_of(store, "dst").state_at(at).merged == folded.merged, at


def test_a_change_shows_an_absent_side_as_missing_and_keeps_it_through_copies(store_url: str) -> None:
    import copy

    with open_store(store_url) as store:
        with open_session("a", store) as s:
            s.run("(define kept 1) (define gone 2)")
        fork(store, "a", "b")
        with open_session("b", store) as s:
            s.run("(define new 3)")
        changes = compare(store, "a", "b").diff.changes
        added = next(c for c in changes if c.key == ("user", "new"))
        assert added.status == "added" and "a=MISSING" in repr(added)
        assert copy.deepcopy(added).status == "added"
