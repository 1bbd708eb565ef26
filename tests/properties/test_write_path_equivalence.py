"""The write path's drafts are exactly what the validated models would have written.

A form's events travel from the builder to the record and the fold as drafts
(``(type, version, fields)``, domain/events.py) without a pydantic model per
event.  On random forms, on a real SQLite store, every draft a session
appends must be what the validated path produces:

* each draft's fields are, key by key and in order, the ``__dict__`` of the
  model built from them with full validation (``cls(**fields)``), at the
  model's current version;
* the commit record of the drafts is byte for byte the record the codec makes
  of the same events as validated models (``RecordCodec.encode``);
* reading the log back gives those models, numbered and caused as appended;
* the state the session folded from the drafts is the fold of the log read back.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tapevm.domain.events import EVENT_TYPES, RecordedEvent
from tapevm.domain.fold import fold
from tapevm.infrastructure.session.service import open_session
from tests.properties.test_event_stream_laws import form

# forms of many definitions, the shape the append benchmark stresses, next to the general ones
definitions = st.lists(st.tuples(st.sampled_from(["d0", "d1", "d2"]), st.integers(-2**60, 2**60)),
                       min_size=1, max_size=20).map(
    lambda ds: "(begin " + " ".join(f"(define {n} {v})" for n, v in ds) + ")")


@given(st.lists(st.one_of(form(), definitions), min_size=1, max_size=20))
def test_appended_drafts_are_what_validated_models_write(forms: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp, open_session("eq", str(Path(tmp) / "s.db")) as s:
        store = s.store
        appended: list[tuple[str, int, int, float, list[Any]]] = []
        original = store.append_drafts

        def spy(session: str, first: int, cause: int, at: float, drafts: Any, **kw: Any) -> None:
            appended.append((session, first, cause, at, list(drafts)))
            original(session, first, cause, at, drafts, **kw)

        store.append_drafts = spy  # type: ignore[method-assign]
        for text in forms:
            s.run(text)
        assert appended, "the forms appended nothing"
        codec = store.codec  # type: ignore[attr-defined]
        for session, first, cause, at, drafts in appended:
            models = []
            for type_name, version, fields in drafts:
                cls = EVENT_TYPES[type_name]
                model = cls(**fields)  # the validated path: pydantic checks every field
                assert version == cls.version
                assert list(model.__dict__.items()) == list(fields.items()), type_name
                models.append(model)
            recorded = [RecordedEvent(session, first + i, cause, at, m) for i, m in enumerate(models)]
            assert codec.encode_drafts(session, first, cause, at, drafts) == codec.encode(recorded)
            back = list(store.read(session, first, first + len(drafts) - 1))
            assert [(r.seq, r.cause, r.event) for r in back] == [(r.seq, r.cause, r.event) for r in recorded]
        assert s.state.semantic() == fold(s.events()).semantic()
        assert s.state.seq == s.head
