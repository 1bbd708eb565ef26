"""Fuzz the record decoder and the store opener: bad bytes are CorruptRecord/StoreError, never a traceback.

* ``RecordCodec.decode`` on arbitrary topics and states; on states with a
  *valid* checksum around arbitrary bodies (so decoding gets past the checksum
  into decompression, JSON and event validation); and on single-byte damage
  and truncation of real records.  10,000 inputs each in the ci profile.
* ``open_store`` on files that are random bytes, a SQLite header followed by
  garbage, and real store files with bytes overwritten.
* the fold on events that decode but whose fields have the wrong shape (what a
  writer other than tapevm could store): CorruptRecord naming the event.
"""

from __future__ import annotations

import random
from pathlib import Path

import orjson
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tapevm.domain.errors import CorruptRecord, StoreError, TapeError
from tapevm.domain.events import EVENT_TYPES, Defined, FormSubmitted, OutputWritten, RecordedEvent
from tapevm.domain.fold import HANDLERS, fold_fields
from tapevm.domain.state import State
from tapevm.infrastructure.session.service import open_session
from tapevm.infrastructure.stores.factory import open_store
from tapevm.infrastructure.stores.records.record_codec import (
    HEADER_SIZE,
    PLAIN,
    ZSTD,
    RecordCodec,
    _checksum,
    commit_topic,
)

from ._fuzz import EXAMPLES_FOR_SLOW_TARGETS, FUZZ_EXAMPLES

RUN = settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
CODEC = RecordCodec()
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=20,
)
EVENT_ENTRY = st.tuples(
    st.sampled_from(["Defined", "FormSubmitted", "OutputWritten", "FormEvaluated", "Nope", ""]),
    st.integers(-2, 3), JSON,
)
BODY = st.one_of(
    JSON,
    st.fixed_dictionaries({"c": JSON, "t": JSON, "e": st.lists(EVENT_ENTRY, max_size=4)}),
    st.fixed_dictionaries({"cs": JSON, "ts": JSON, "e": st.lists(st.one_of(EVENT_ENTRY, JSON), max_size=4)}),
)


def decodes_or_fails_cleanly(stream: str, first: int, topic: str, state: bytes) -> None:
    try:
        CODEC.decode(stream, first, topic, state)
    except TapeError as e:
        assert str(e) and "\n" not in str(e)


def sealed(stream: str, first: int, topic: str, body: bytes, flags: int = PLAIN) -> bytes:
    """A state whose checksum is right for ``body``: decoding goes past the checksum."""
    return bytes((flags,)) + _checksum(stream, first, topic, body).to_bytes(8, "big") + body


def real_records() -> list[tuple[str, int, str, bytes]]:
    small = [RecordedEvent("s", 1, 1, 0.0, Defined(ns="user", name="x", value=1))]
    big = [RecordedEvent("s", 5, 5, 0.0, FormSubmitted(source="(x)" * 200, file="f", line=1, column=1)),
           RecordedEvent("s", 6, 5, 0.0, OutputWritten(text="out " * 200))]
    return [(r.originator_id, r.originator_version, r.topic, r.state) for r in (CODEC.encode(small), CODEC.encode(big))]


REAL = real_records()


@RUN
@given(st.text(max_size=30), st.integers(-5, 2**70), st.text(max_size=30), st.binary(max_size=300))
def test_decode_arbitrary_rows(stream: str, first: int, topic: str, state: bytes) -> None:
    decodes_or_fails_cleanly(stream, first, topic, state)


@RUN
@given(st.integers(0, 5), BODY, st.booleans(), st.integers(1, 4))
def test_decode_checksummed_garbage(count: int, body: object, compress: bool, flags_noise: int) -> None:
    topic = commit_topic(count)
    data = orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS)
    flags = PLAIN
    if compress:
        data, flags = zstandard.ZstdCompressor().compress(data), ZSTD
    elif flags_noise == 4:
        flags = 7
    decodes_or_fails_cleanly("s", 3, topic, sealed("s", 3, topic, data, flags))


@RUN
@given(st.sampled_from(range(len(REAL))), st.integers(0, 10_000), st.integers(1, 255), st.integers(0, 10_000))
def test_decode_damaged_real_records(which: int, pos: int, xor: int, cut: int) -> None:
    stream, first, topic, state = REAL[which]
    damaged = bytearray(state)
    damaged[pos % len(damaged)] ^= xor
    decodes_or_fails_cleanly(stream, first, topic, bytes(damaged))
    decodes_or_fails_cleanly(stream, first, topic, state[: cut % len(state)])
    # and a checksum recomputed over the damaged body: the damage must still be caught or harmless
    body = bytes(damaged[HEADER_SIZE:])
    decodes_or_fails_cleanly(stream, first, topic, sealed(stream, first, topic, body, state[0]))


_REAL_STORE: list[bytes] = []


def real_store_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A small real store file, made once (not a fixture: hypothesis would print its 40 kB in every report)."""
    if _REAL_STORE:
        return _REAL_STORE[0]
    path = tmp_path_factory.mktemp("real") / "store.db"
    with open_session("s", str(path)) as s:
        s.run('(define x (list 1 2 3)) (assert! (quote (a b))) (println "hi") (write-file! "f" "data")')
    with open_store(str(path)):
        pass  # checkpoints the WAL into the main file
    _REAL_STORE.append(path.read_bytes())
    return _REAL_STORE[0]


def opens_or_fails_cleanly(path: Path) -> None:
    try:
        with open_store(str(path)) as store:
            for head in store.sessions():
                list(store.read(head.session))
    except StoreError as e:
        assert str(e) and "\n" not in str(e)
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)


@settings(max_examples=EXAMPLES_FOR_SLOW_TARGETS, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.binary(max_size=5000), st.booleans())
def test_open_store_on_garbage_files(tmp_path_factory: pytest.TempPathFactory, data: bytes, header: bool) -> None:
    path = tmp_path_factory.mktemp("garbage", numbered=True) / "store.db"
    path.write_bytes((b"SQLite format 3\x00" if header else b"") + data)
    opens_or_fails_cleanly(path)


@settings(max_examples=EXAMPLES_FOR_SLOW_TARGETS, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.integers(0, 2**32), st.integers(1, 64))
def test_open_store_on_damaged_real_files(tmp_path_factory: pytest.TempPathFactory, seed: int, hits: int) -> None:
    rng = random.Random(seed)
    data = bytearray(real_store_bytes(tmp_path_factory))
    for _ in range(hits):
        data[rng.randrange(len(data))] = rng.randrange(256)
    path = tmp_path_factory.mktemp("damaged", numbered=True) / "store.db"
    path.write_bytes(bytes(data))
    opens_or_fails_cleanly(path)


# -- the fold: events that decode (a valid record) but whose fields have the wrong shape ---------------
FOLDED = sorted(t for t, handler in HANDLERS.items() if handler is not None)  # the events that change the state
BLOB_ENTRY = st.lists(st.one_of(st.text(max_size=6), st.integers(-3, 3), st.sampled_from(["utf8", "base64", "zstd"])),
                      max_size=7)


@settings(max_examples=EXAMPLES_FOR_SLOW_TARGETS, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(FOLDED), st.data())
def test_fold_of_malformed_fields_is_a_clear_error(type_name: str, data: st.DataObject) -> None:
    """Every field of the event's model, each a random JSON value (ContentStored: random blob entries,
    over a real entry so edits have a base); the fold either applies them or says which event it
    could not fold, in one line; so does reading every file the state then names."""
    names = list(EVENT_TYPES[type_name].model_fields)
    fields = {name: data.draw(JSON, label=name) for name in names}
    if type_name == "ContentStored":
        fields["blobs"] = data.draw(st.lists(BLOB_ENTRY, max_size=3), label="blobs")
    if type_name in ("FileWritten", "FileImported") and data.draw(st.booleans(), label="stored content"):
        fields["content"] = data.draw(st.sampled_from(["base", "k"]), label="content")
    real = [(1, "ContentStored", {"nodes": [], "blobs": [["base", "utf8", "x" * 50]]}),
            (2, "FileWritten", {"path": "f", "content": "base", "size": 50})]
    state = State()
    try:
        fold_fields([*real, (3, type_name, fields)], state)
        for path in list(state.files):
            state.file_bytes(path)
    except CorruptRecord as e:
        assert str(e) and "\n" not in str(e)


# -- blame: the same malformed fields, read without event models ------------------------------------------
BLAMED = ["Defined", "Assigned", "MergeApplied", "StateRestored", "ImageLoaded", "FactAsserted", "FactRetracted",
          "FileWritten", "FileImported", "FileDeleted"]


@settings(max_examples=EXAMPLES_FOR_SLOW_TARGETS, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(BLAMED), st.data())
def test_blame_of_malformed_fields_is_a_clear_error(type_name: str, data: st.DataObject) -> None:
    """Blame reads stored fields as they are: whatever shape they have, what it raises is what its
    scan turns into a one-line CorruptRecord, and the history it builds from the rest (and from a
    malformed form) never raises."""
    from tapevm.domain.state import fact_key
    from tapevm.projections.provenance import (
        MALFORMED,
        _binding_changes,
        _fact_changes,
        _file_changes,
        _history,
        _Hit,
    )

    fields = {name: data.draw(JSON, label=name) for name in EVENT_TYPES[type_name].model_fields}
    for name, target in (("name", "x"), ("path", "f")):  # often the target, so the rest is read too
        if name in fields and data.draw(st.booleans(), label=f"{name} is the target"):
            fields[name] = target
    form = {name: data.draw(JSON, label=f"form {name}") for name in FormSubmitted.model_fields}
    for changes in (_binding_changes("x"), _fact_changes(fact_key(["x"])), _file_changes("f")):
        try:
            found = changes(type_name, fields)
        except MALFORMED:
            continue
        for entry in _history([_Hit(5, 4, c) for c in found], {4: form}):
            assert isinstance(entry.form_line, int) and isinstance(entry.form_source, str)
