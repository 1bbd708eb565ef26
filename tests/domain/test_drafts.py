"""Drafts: events on the write path as (type, version, fields), checked against the models."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from pydantic import ValidationError

from tapevm.domain.events import (
    Defined,
    FormEvaluated,
    OutputWritten,
    RecordedEvent,
    defined_draft,
    draft_of,
    event_of,
)
from tapevm.domain.fold import fold_drafts, fold_fields
from tapevm.domain.ports import EventStore, SessionHead
from tapevm.domain.state import State

VALUES: list[Any] = [0, -7, 2**52, "text", None, True, ["f", 1.5], ["s", "sym"], ["@", "ab" * 16], ["I", "9" * 30]]


@pytest.mark.parametrize("value", VALUES)
def test_defined_draft_is_the_validated_models_fields(value: Any) -> None:
    model = Defined(ns="user", name="x", value=value)
    draft = defined_draft("user", "x", value)
    assert draft[:2] == (Defined.type_name, Defined.version)
    assert list(draft[2].items()) == list(model.__dict__.items())  # same keys, same order, same values
    assert draft == draft_of(model)
    assert event_of(draft) == model


def test_draft_of_shares_the_models_fields_including_defaults() -> None:
    model = FormEvaluated(ok=True, printed="42")
    draft = draft_of(model)
    assert draft == ("FormEvaluated", 1, {"ok": True, "result": None, "printed": "42",
                                          "error_kind": None, "error_message": None})
    assert draft[2] is model.__dict__


def test_event_of_validates() -> None:
    with pytest.raises(ValidationError):
        event_of(("Defined", 1, {"ns": 5, "name": "x", "value": 1}))
    with pytest.raises(ValidationError):
        event_of(("OutputWritten", 1, {"text": "a", "extra": 1}))


def test_fold_drafts_equals_fold_fields() -> None:
    drafts = [draft_of(OutputWritten(text="hi")), defined_draft("user", "a", 1), defined_draft("tools", "b", "s"),
              defined_draft("user", "a", 2)]
    fast = fold_drafts(5, drafts, State(seq=4))
    slow = fold_fields([(5 + i, t, f) for i, (t, _, f) in enumerate(drafts)], State(seq=4))
    assert fast.semantic() == slow.semantic()
    assert fast.seq == slow.seq == 8
    assert fold_drafts(9, [], fast).seq == 8  # nothing committed: the head stays


class _ModelStore(EventStore):
    """A store that only knows ``append`` of models (like replay's VerifyingStore)."""

    url_for_display = "memory"

    def __init__(self) -> None:
        self.appended: list[RecordedEvent] = []

    def append(self, events: Sequence[RecordedEvent], *, fork_start: bool = False) -> None:
        self.appended.extend(events)

    def read(self, session: str, start: int = 1, stop: int | None = None) -> Iterator[RecordedEvent]:
        return iter(self.appended)

    def read_fields(self, session: str, start: int = 1, stop: int | None = None) -> Iterator[tuple[int, str, dict[str, Any]]]:
        return iter([])

    def last_seq(self, session: str) -> int:
        return len(self.appended)

    def sessions(self) -> list[SessionHead]:
        return []

    def close(self) -> None:
        pass


def test_default_append_drafts_hands_validated_models_to_append() -> None:
    store = _ModelStore()
    store.append_drafts("s", 3, 3, 1.5, [defined_draft("user", "x", 1), draft_of(OutputWritten(text="t"))])
    assert store.appended == [RecordedEvent("s", 3, 3, 1.5, Defined(ns="user", name="x", value=1)),
                              RecordedEvent("s", 4, 3, 1.5, OutputWritten(text="t"))]
    with pytest.raises(ValidationError):  # a draft the model refuses never reaches the store
        store.append_drafts("s", 5, 5, 1.5, [("Defined", 1, {"ns": "user", "name": 1, "value": 1})])
    assert len(store.appended) == 2
