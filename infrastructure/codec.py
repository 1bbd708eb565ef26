"""The record codec: an event <-> the bytes stored in a recorder's ``state`` column.

Pipeline on write (reversed on read), as in the eventsourcing library's mapper:
pydantic model -> JSON (orjson) -> zstd when over a size threshold -> an
xxh3-64 checksum in front.  No pickle anywhere: a record is JSON you can read
with ``zstd -d`` and ``jq`` once the 9-byte header is skipped.

Record layout::

    byte 0      format: 0 = plain JSON, 1 = zstd-compressed JSON
    bytes 1-8   xxh3-64 (big-endian) of  session \\0 seq \\0 topic \\0 body
    bytes 9-    body: {"c": cause, "t": recorded_at_ms, "d": {event fields}}

The checksum covers the session id and event number too, so a record copied
or moved to another place in the log fails its check.  The topic column holds
``TypeName:version`` so the type and schema version are visible to SQL.
"""

from __future__ import annotations

from typing import Any

import orjson
import xxhash
import zstandard
from eventsourcing.persistence import StoredEvent

from tapevm.domain.errors import CorruptRecord, TapeError
from tapevm.domain.events import Event, RecordedEvent
from tapevm.domain.upcasting import event_class, upcast

PLAIN = 0
ZSTD = 1
HEADER_SIZE = 9
COMPRESS_THRESHOLD = 512  # bytes of JSON; below this zstd's frame overhead is not worth it
ZSTD_LEVEL = 3


class RecordCodec:
    """Encodes and decodes one session event record; stateless apart from zstd contexts."""

    def __init__(self, compress_threshold: int = COMPRESS_THRESHOLD) -> None:
        self.compress_threshold = compress_threshold
        self._compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
        self._decompressor = zstandard.ZstdDecompressor()
        self._current: dict[str, str] = {}  # topic -> type name, for topics at the current version

    # -- write ----------------------------------------------------------------
    def encode(self, recorded: RecordedEvent) -> StoredEvent:
        event = recorded.event
        topic = f"{event.type_name}:{event.version}"
        body = orjson.dumps(
            {"c": recorded.cause, "t": int(recorded.recorded_at * 1000), "d": event.__dict__}
        )
        fmt = PLAIN
        if len(body) >= self.compress_threshold:
            body = self._compressor.compress(body)
            fmt = ZSTD
        checksum = _checksum(recorded.session, recorded.seq, topic, body)
        return StoredEvent(
            originator_id=recorded.session,
            originator_version=recorded.seq,
            topic=topic,
            state=bytes((fmt,)) + checksum.to_bytes(8, "big") + body,
        )

    # -- read -----------------------------------------------------------------
    def decode_fields(self, session: str, seq: int, topic: str, state: bytes) -> tuple[str, dict[str, Any], int, int]:
        """Check one record and return ``(type name, fields at the current version, cause, time ms)``.

        Any defect is a CorruptRecord naming the session and event number.
        This is the hot path of every fold: no model objects are built here.
        """
        try:
            if len(state) < HEADER_SIZE:
                raise CorruptRecord(f"record is truncated ({len(state)} bytes)")
            body = state[HEADER_SIZE:]
            if xxhash.xxh3_64_intdigest(f"{session}\0{seq}\0{topic}\0".encode() + body) != int.from_bytes(
                state[1:HEADER_SIZE], "big"
            ):
                raise CorruptRecord("checksum mismatch (the record was altered or damaged)")
            fmt = state[0]
            if fmt == ZSTD:
                body = self._decompressor.decompress(body)
            elif fmt != PLAIN:
                raise CorruptRecord(f"unknown record format {fmt}")
            payload = orjson.loads(body)
            type_name = self._current.get(topic)
            if type_name is not None:
                return type_name, payload["d"], payload["c"], payload["t"]
            type_name, _, version = topic.rpartition(":")
            cls = event_class(type_name)
            if int(version) == cls.version:
                self._current[topic] = type_name
                return type_name, payload["d"], payload["c"], payload["t"]
            return type_name, upcast(type_name, int(version), payload["d"]), payload["c"], payload["t"]
        except CorruptRecord as e:
            raise CorruptRecord(f"session {session!r} event {seq}: {e}") from None
        except TapeError:
            raise
        except (ValueError, KeyError, TypeError, zstandard.ZstdError) as e:
            raise CorruptRecord(f"session {session!r} event {seq}: undecodable record ({e})") from e

    def decode(self, session: str, seq: int, topic: str, state: bytes) -> RecordedEvent:
        """Check and decode one record into a RecordedEvent."""
        type_name, fields, cause, ms = self.decode_fields(session, seq, topic, state)
        try:
            event = _construct(event_class(type_name), fields)
        except ValueError as e:  # pydantic's ValidationError
            raise CorruptRecord(f"session {session!r} event {seq}: invalid {type_name} fields ({e})") from e
        return RecordedEvent(session, seq, cause, ms / 1000.0, event)


_FIELDS: dict[type[Event], frozenset[str]] = {}


def _construct(cls: type[Event], data: dict[str, Any]) -> Event:
    """A model from trusted field data without validation (pydantic's ``model_construct``, minus its overhead).

    The checksum vouches that these are the fields we wrote from a validated
    model; if the field names do not match exactly, pydantic validates.
    """
    fields = _FIELDS.get(cls)
    if fields is None:
        fields = _FIELDS[cls] = frozenset(cls.model_fields)
    if data.keys() != fields:
        return cls.model_validate(data)  # a field missing or extra: let pydantic check it properly
    event = cls.__new__(cls)
    object.__setattr__(event, "__dict__", data)
    object.__setattr__(event, "__pydantic_fields_set__", set(data))
    object.__setattr__(event, "__pydantic_extra__", None)
    object.__setattr__(event, "__pydantic_private__", None)
    return event


def _checksum(session: str, seq: int, topic: str, body: bytes) -> int:
    return xxhash.xxh3_64_intdigest(f"{session}\0{seq}\0{topic}\0".encode() + body)


def event_to_json(event: Event) -> dict[str, Any]:
    """An event's fields as JSON-native data (for ``--json`` output)."""
    return dict(event.__dict__)
