"""The state fold and event upcasting (pure, no store)."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from tapevm.domain.content import canonical_bytes
from tapevm.domain.errors import SchemaVersionError, UnknownEventType
from tapevm.domain.events import (
    AtomCreated,
    AtomReset,
    ContentStored,
    Defined,
    Event,
    FactAsserted,
    FactRetracted,
    FileDeleted,
    FileWritten,
    FormSubmitted,
    NamespaceEntered,
    RecordedEvent,
)
from tapevm.domain.fold import apply, fold
from tapevm.domain.state import State
from tapevm.domain.upcasting import upcast, upcaster


def rec(seq: int, event: Event) -> RecordedEvent:
    return RecordedEvent("s", seq, seq, 0.0, event)


def test_fold_applies_each_kind_of_mutation() -> None:
    events = [
        rec(1, FormSubmitted(source="x", file="f", line=1, column=1)),
        rec(2, ContentStored(nodes=[["k1", ["V", [1, 2], None]]], blobs=[["b1", "utf8", "hello"]])),
        rec(3, Defined(ns="user", name="x", value=["@", "k1"])),
        rec(4, NamespaceEntered(ns="tools")),
        rec(5, Defined(ns="tools", name="y", value=5)),
        rec(6, AtomCreated(atom=1, value=0)),
        rec(7, AtomReset(atom=1, value=9)),
        rec(8, FactAsserted(fact=["@", "k1"])),
        rec(9, FactAsserted(fact=3)),
        rec(10, FactRetracted(fact=["@", "k1"])),
        rec(11, FileWritten(path="notes.txt", content="b1", size=5)),
        rec(12, FileWritten(path="gone.txt", content="b1", size=5)),
        rec(13, FileDeleted(path="gone.txt")),
    ]
    state = fold(events)
    assert state.seq == 13
    assert state.current_ns == "tools"
    assert state.namespaces == {"user": {"x": ["@", "k1"]}, "tools": {"y": 5}}
    assert state.atoms == {1: 9}
    assert list(state.facts.values()) == [3]
    assert state.files == {"notes.txt": "b1"}
    assert state.file_bytes("notes.txt") == b"hello"
    assert state.nodes.get("k1") == canonical_bytes(["V", [1, 2], None])
    assert state.next_atom_id == 2


def test_apply_is_pure() -> None:
    before = State()
    after = apply(before, rec(1, Defined(ns="user", name="x", value=1)))
    assert before.namespaces == {"user": {}} and before.seq == 0
    assert after.namespaces == {"user": {"x": 1}} and after.seq == 1


def test_fold_prefix_gives_state_at_every_event_number() -> None:
    events = [rec(i, Defined(ns="user", name="x", value=i)) for i in range(1, 6)]
    for n in range(1, 6):
        assert fold(events[:n]).namespaces["user"]["x"] == n


class _Greeting(Event):
    """A test-only event at schema version 3 (v1 had ``text``; v2 renamed it ``message``)."""

    type_name: ClassVar[str] = "TestGreeting"
    version: ClassVar[int] = 3
    message: str
    loud: bool


@upcaster("TestGreeting", 1)
def _v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    return {"message": data["text"]}


@upcaster("TestGreeting", 2)
def _v2_to_v3(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "loud": False}


def test_upcasting_chains_old_versions_to_current() -> None:
    assert upcast("TestGreeting", 1, {"text": "hi"}) == {"message": "hi", "loud": False}
    assert upcast("TestGreeting", 3, {"message": "hi", "loud": True}) == {"message": "hi", "loud": True}


def test_newer_version_and_unknown_type_are_refused() -> None:
    with pytest.raises(SchemaVersionError, match="newer than this tapevm"):
        upcast("TestGreeting", 4, {})
    with pytest.raises(UnknownEventType, match="unknown event type 'Nope'"):
        upcast("Nope", 1, {})


def test_old_record_is_upcast_when_read() -> None:
    import orjson

    from tapevm.infrastructure.stores.records.record_codec import RecordCodec, _checksum, commit_topic

    codec = RecordCodec()
    stored = codec.encode([rec(1, _Greeting(message="x", loud=True))])
    # Forge what tapevm wrote when TestGreeting was at version 1.
    body = orjson.dumps({"c": 1, "t": 0, "e": [["TestGreeting", 1, {"text": "old hello"}]]})
    topic = commit_topic(1)
    state = bytes((0,)) + _checksum("s", 1, topic, body).to_bytes(8, "big") + body
    (decoded,) = codec.decode("s", 1, topic, state)
    assert decoded.event == _Greeting(message="old hello", loud=False)
    (again,) = codec.decode("s", 1, stored.topic, stored.state)
    assert again.event == _Greeting(message="x", loud=True)


@pytest.mark.parametrize("enabled", [True, False])
def test_fold_fields_leaves_the_cyclic_gc_as_it_found_it(enabled: bool) -> None:
    """The fold pauses the collector while it runs; a malformed record must not leave it off."""
    import gc

    from tapevm.domain.errors import CorruptRecord
    from tapevm.domain.fold import fold_fields

    def records() -> Any:
        assert not gc.isenabled()  # paused while the records are read and folded
        yield 1, "Defined", {"ns": "user", "name": "x", "value": 1}
        yield 2, "Defined", {"ns": "user"}  # no name, no value

    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        with pytest.raises(CorruptRecord):
            fold_fields(records())
        assert gc.isenabled() is enabled
        assert fold_fields(iter([(1, "Defined", {"ns": "user", "name": "x", "value": 1})])).binding("user", "x") == 1
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()
