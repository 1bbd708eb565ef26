"""Followers: projections applied exactly once from the global log, on every backend (real stores)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tapevm.domain.errors import PositionMoved, UsageError
from tapevm.infrastructure.followers.catalog import follow, open_projection
from tapevm.infrastructure.followers.checkpoints import CheckpointProjection
from tapevm.infrastructure.followers.read_model import read_model_path
from tapevm.infrastructure.followers.runner import Follower
from tapevm.infrastructure.session.checkpoints import open_checkpoints as Checkpoints
from tapevm.infrastructure.session.service import open_session
from tapevm.infrastructure.stores.factory import open_store
from tapevm.infrastructure.stores.log_tail import LogTail
from tests.infrastructure._follow_checks import assert_checkpoints_valid, dump, fill, rebuilt


@pytest.fixture(autouse=True)
def _env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAPE_HOME", str(tmp_path / "home"))  # where a PostgreSQL store's read model goes
    monkeypatch.setenv("TAPE_CHECKPOINT_INTERVAL", "10")
    monkeypatch.setenv("TAPE_INLINE_CHECKPOINTS", "0")  # the follower alone writes checkpoints


def test_follow_once_equals_a_rebuild_and_writes_checkpoints(store_url: str, tmp_path: Path) -> None:
    with open_store(store_url) as store:
        fill(store)
        statuses = follow(store, once=True, batch=3)
        assert [s.projection for s in statuses] == ["sql", "checkpoints"]
        last = LogTail(store).last_position()  # type: ignore[arg-type]
        assert all(s.position == last and s.caught_up and s.records_behind == 0 for s in statuses)
        assert statuses[0].events == sum(1 for s in ("a", "b") for _ in store.read(s))
        assert dump(read_model_path(store)) == rebuilt(store, tmp_path)
        assert_checkpoints_valid(store)
        # again: nothing to do, nothing applied twice
        again = follow(store, once=True)
        assert [s.events for s in again] == [0, 0]
        assert dump(read_model_path(store)) == rebuilt(store, tmp_path)


def test_checkpoint_projection_keeps_what_sessions_wrote_inline(store_url: str, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAPE_INLINE_CHECKPOINTS", "1")
    with open_store(store_url) as store:
        fill(store)
        before = {s: Checkpoints(store, s).metas() for s in ("a", "b")}
        assert all(before.values())
        follow(store, ["checkpoints"], once=True, batch=4)
        after = {s: Checkpoints(store, s).metas() for s in ("a", "b")}
        for s in ("a", "b"):  # the inline ones are untouched; any the follower added are valid
            assert [m for m in after[s] if m in before[s]] == before[s]
        assert_checkpoints_valid(store)


def test_apply_refuses_a_moved_position_and_writes_nothing(store_url: str) -> None:
    with open_store(store_url) as store:
        fill(store, forms=4)
        tail = LogTail(store)  # type: ignore[arg-type]
        records = tail.read_after(0)
        for name in ("sql", "checkpoints"):
            projection = open_projection(store, name)
            try:
                projection.apply(records[:3], after=0)
                with pytest.raises(PositionMoved):
                    projection.apply(records[:3], after=0)  # someone (this one) already applied them
                with pytest.raises(PositionMoved):
                    projection.apply(records[3:], after=records[1].position)
                assert projection.position() == records[2].position
                projection.apply(records[3:], after=records[2].position)
                assert projection.position() == records[-1].position
            finally:
                projection.close()


def test_two_followers_of_the_same_projection_apply_each_commit_once(store_url: str, tmp_path: Path) -> None:
    with open_store(store_url) as store:
        fill(store, forms=20)
        errors: list[BaseException] = []
        moved: list[int] = []

        def run() -> None:
            try:
                with open_store(store_url) as own:
                    projections = [open_projection(own, "sql"), open_projection(own, "checkpoints")]
                    follower = Follower(own, projections, batch=2)
                    moved.extend(s.moved for s in follower.run_once())
                    follower.close()
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=run) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert errors == []
        assert dump(read_model_path(store)) == rebuilt(store, tmp_path)
        assert_checkpoints_valid(store)


def test_a_running_follower_sees_new_commits_promptly(store_url: str, tmp_path: Path) -> None:
    with open_store(store_url) as store, open_store(store_url) as writer_store:
        follower = Follower(store, [open_projection(store, "sql"), open_projection(store, "checkpoints")])
        stop = threading.Event()
        statuses: list[Any] = []
        thread = threading.Thread(target=lambda: statuses.extend(follower.run(stop, status_every=0.1)))
        thread.start()
        try:
            with open_session("w", writer_store) as writer:
                for i in range(15):
                    writer.eval(f"(define z{i} {i})")
                    time.sleep(0.02)
                written = time.monotonic()
                last = LogTail(writer_store).last_position()  # type: ignore[arg-type]
                while time.monotonic() - written < 10:
                    if all(w.position == last for w in follower.workers):
                        break
                    time.sleep(0.01)
                caught = time.monotonic() - written
        finally:
            stop.set()
            thread.join(timeout=30)
        follower.close()
        assert not thread.is_alive()
        # LISTEN/NOTIFY on PostgreSQL, a 50 ms poll on SQLite
        assert caught < 2.0, caught
        assert {s.projection for s in statuses} == {"sql", "checkpoints"}
        assert dump(read_model_path(store)) == rebuilt(store, tmp_path)
        assert_checkpoints_valid(store, ("w",))


def test_unknown_projection_and_bad_batch_are_usage_errors(sqlite_path: str) -> None:
    with open_store(sqlite_path) as store:
        with pytest.raises(UsageError, match="unknown projection"):
            follow(store, ["nope"], once=True)
        with pytest.raises(UsageError):
            follow(store, ["sql"], once=True, batch=0)
        assert isinstance(open_projection(store, "checkpoints"), CheckpointProjection)


def test_a_running_follower_retries_a_store_error_and_stops_on_damaged_data(sqlite_path: str,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from tapevm.domain.errors import CorruptRecord, StoreError
    from tapevm.infrastructure.followers.read_model import ReadModel

    with open_store(sqlite_path) as store:
        fill(store, forms=3)
        model = open_projection(store, "sql")
        real_apply = ReadModel.apply
        failures = [StoreError("database is locked"), CorruptRecord("session 'a' event 3: checksum mismatch")]

        def flaky(self: Any, records: Any, after: int) -> Any:
            if failures:
                raise failures.pop(0)
            return real_apply(self, records, after)

        monkeypatch.setattr(ReadModel, "apply", flaky)
        follower = Follower(store, [model])
        with pytest.raises(CorruptRecord):  # the first error is retried, the damaged record stops it
            follower.run(threading.Event(), status_every=0.05)
        assert failures == [] and model.position() == 0
        monkeypatch.setattr(ReadModel, "apply", real_apply)
        assert follower.run_once()[0].caught_up
        follower.close()


def test_checkpoints_stay_valid_when_a_rebuild_replaces_them_under_a_running_follower(store_url: str) -> None:
    with open_store(store_url) as store:
        fill(store, forms=12)
        follower = Follower(store, [open_projection(store, "checkpoints")])
        follower.run_once()  # its in-memory fold of "a" remembers the keyframe it wrote
        Checkpoints(store, "a").rebuild()  # every checkpoint of "a" replaced (at other events)
        with open_session("a", store) as s:
            for i in range(8):
                s.eval(f"(define later{i} {i})")
        follower.run_once()
        follower.close()
        assert_checkpoints_valid(store, ("a",))


def test_gc_under_a_running_read_model_follower_starts_it_over(store_url: str, tmp_path: Path) -> None:
    """``tape gc`` empties the read model in place: the running follower finds its position moved and
    rebuilds it, instead of writing on into a deleted file that no query would ever see."""
    from tapevm.infrastructure.housekeeping import collect_garbage

    with open_store(store_url) as store, open_store(store_url) as writer_store:
        fill(writer_store, forms=8)
        follower = Follower(store, [open_projection(store, "sql")])
        stop = threading.Event()
        thread = threading.Thread(target=lambda: list(follower.run(stop, status_every=0.1)))
        thread.start()

        def caught_up() -> None:
            last = LogTail(writer_store).last_position()  # type: ignore[arg-type]
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and any(w.position != last for w in follower.workers):
                time.sleep(0.02)

        try:
            caught_up()
            report = collect_garbage(store)
            assert report.freed_bytes > 0
            with open_session("later", writer_store) as s:
                s.eval("(define after-gc 1)")
            caught_up()
        finally:
            stop.set()
            thread.join(timeout=30)
        follower.close()
        assert not thread.is_alive()
        assert dump(read_model_path(store)) == rebuilt(store, tmp_path)


def test_a_second_follower_of_the_same_projections_stands_by_and_takes_over(
        store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tapevm.infrastructure.followers import runner as followers
    monkeypatch.setattr(followers, "STANDBY_POLL", 0.05)
    with open_store(store_url) as store, open_store(store_url) as writer_store:
        fill(writer_store, forms=8)
        runs = []
        for _ in range(2):
            own = open_store(store_url)
            follower = Follower(own, [open_projection(own, "sql"), open_projection(own, "checkpoints")])
            stop = threading.Event()
            thread = threading.Thread(target=follower.run, args=(stop,), kwargs={"status_every": 0.05})
            thread.start()
            runs.append((own, follower, stop, thread))

        def wait_for(check: Any) -> None:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not check():
                time.sleep(0.02)
            assert check()

        def standing_by(f: Follower) -> set[bool]:
            return {s.standby for s in f.status()}

        def one_active_per_projection() -> bool:
            # each projection's lease is its own: the two may split them (one follower applying
            # sql, the other checkpoints), and each projection is still applied by exactly one
            per = [{s.projection: s.standby for s in f.status()} for _, f, _, _ in runs]
            return all(len(p) == 2 for p in per) and all(per[0][name] != per[1][name] for name in per[0])

        try:
            wait_for(one_active_per_projection)
            for _, f, _, _ in runs:  # a projection stood by for has applied nothing here, nor raced
                assert all(s.events == 0 for s in f.status() if s.standby)
                assert all(s.moved == 0 for s in f.status() if not s.standby)
            # the first stops: the second takes over what it stood by for, and applies what comes next
            first, second = runs
            first[2].set()
            first[3].join(timeout=30)
            with open_session("later", writer_store) as s:
                s.eval("(define after-takeover 1)")
            last = LogTail(writer_store).last_position()  # type: ignore[arg-type]
            wait_for(lambda: standing_by(second[1]) == {False}
                     and all(w.position == last for w in second[1].workers)
                     and all(s.events > 0 for s in second[1].status()))
        finally:
            for own, follower, stop, thread in runs:
                stop.set()
                thread.join(timeout=30)
                follower.close()
                own.close()
        assert dump(read_model_path(store)) == rebuilt(store, tmp_path)
        assert_checkpoints_valid(store, ("a", "b"))


@pytest.mark.parametrize("batch", [1, 50])
def test_a_follower_packs_p_frames_in_its_batches_transaction(store_url: str, batch: int) -> None:
    """A follower holds packs back with the rows of its batch and writes both in the batch's transaction:
    frames written in one batch are packed too (it used to pack only frames earlier batches committed)."""
    with open_store(store_url) as store:
        with open_session("churn", store) as s:
            s.run(" ".join(f"(define k{i} 0)" for i in range(30)))
            for step in range(120):
                s.run(f"(set! k{step * 7 % 30} {step})")
        follow(store, ["checkpoints"], once=True, batch=batch)
        metas = Checkpoints(store, "churn").metas()
        packed = [m for m in metas if m.pack]
        assert len({m.pack for m in packed}) >= 2 and len(packed) > len(metas) // 2
        assert_checkpoints_valid(store, ("churn",))
