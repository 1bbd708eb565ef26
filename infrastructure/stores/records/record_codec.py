"""The record codec: one committed transaction <-> one stored row.

Every transaction a session commits (a form, a session action) is stored as ONE
row of the eventsourcing library's ``stored_events`` table: a *commit record*
holding its events.  One row per commit rather than per event is what makes
appends cheap (one index entry and one checksum per form, not per event) and
small (zstd sees a whole form at once); events keep their own gapless numbers.

Row layout::

    originator_id       the session's stream id
    originator_version  the event number of the commit's FIRST event
    topic               "commit:<format>:<event count>"  (so the head is known without decoding)
    state               byte 0      flags: bit 0 (1) = zstd-compressed JSON, else plain JSON;
                                    bit 7 (0x80) = a chain link follows the checksum;
                                    bit 6 (0x40) = the link is keyed (TAPE_CHAIN_KEY)
                        bytes 1-8   xxh3-64 (big-endian) of  stream \\0 first \\0 topic \\0 body
                        [bytes 9-40 the hash-chain link, when bit 7 is set: see chain_link.py]
                        then        body

    body = {"c": cause, "t": recorded_at_ms, "e": [[type name, schema version, {fields}], ...]}

``c`` and ``t`` are shared by the commit's events (``cs``/``ts`` lists replace
them in the rare commit whose events differ).  Pipeline on write (reversed on
read), as in the eventsourcing library's mapper: pydantic fields -> JSON
(orjson) -> zstd above a size threshold -> checksum in front.  The checksum
covers the stream id and event number too, so a record copied or moved to
another place fails its check.  No pickle anywhere: a record is JSON you can
read with ``zstd -d`` and ``jq`` once the 9-byte header is skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import orjson
import xxhash
import zstandard
from eventsourcing.persistence import StoredEvent

from tapevm.domain.errors import CorruptRecord, TapeError
from tapevm.domain.events import Draft, Event, RecordedEvent, draft_of
from tapevm.domain.ports import DecodedEvent
from tapevm.domain.state import paused_gc
from tapevm.domain.upcasting import event_class, upcast

PLAIN = 0
ZSTD = 1
HEADER_SIZE = 9
# The tamper-evident hash chain (chain_link.py) lives in the header.
LINKED = 0x80          # flags bit: a 32-byte chain link follows the checksum
KEYED = 0x40           # flags bit: the link is a keyed BLAKE2b (needs TAPE_CHAIN_KEY to check)
LINK_SIZE = 32
LINKED_HEADER_SIZE = HEADER_SIZE + LINK_SIZE
COMPRESSION_MASK = 0x0F
COMMIT_FORMAT = 1
TOPIC_PREFIX = f"commit:{COMMIT_FORMAT}:"
COMPRESS_THRESHOLD = 256  # bytes of JSON; below this zstd's frame overhead is not worth it
MAX_EVENT = 2**63 - 1  # the largest event number a store can hold (SQLite's and PostgreSQL's 64-bit integers)
ZSTD_LEVEL = 3
MAX_DECODED_BYTES = 1 << 30  # PostgreSQL cannot store a larger field either
# A record whose JSON is at least this long (a form that defined thousands of values, an image's
# content) is parsed with the cyclic GC paused: the collections its thousands of new containers
# trigger would walk every live object of the process each time (opening a session loaded from
# an image of 100,000 bindings spent two thirds of its time in them).
LARGE_RECORD = 64 * 1024

# link(stream, first, topic, body) -> (the record's chain link, whether it is keyed)
Linker = Callable[[str, int, str, bytes], tuple[bytes, bool]]


def commit_topic(count: int) -> str:
    return f"{TOPIC_PREFIX}{count}"


def topic_event_count(topic: str) -> int:
    """How many events a commit row holds, read from its topic."""
    if not isinstance(topic, str):  # a damaged SQLite file can hand back any type
        raise CorruptRecord(f"malformed commit record topic {topic!r:.80}")
    fmt_and_count = topic.rsplit(":", 2)
    if len(fmt_and_count) != 3 or fmt_and_count[0] != "commit":
        raise CorruptRecord(f"not a tapevm commit record (topic {topic!r})")
    try:
        fmt, count = int(fmt_and_count[1]), int(fmt_and_count[2])
    except ValueError:
        raise CorruptRecord(f"malformed commit record topic {topic!r}") from None
    if fmt > COMMIT_FORMAT:
        raise CorruptRecord(f"commit format {fmt} is newer than this tapevm understands; upgrade tapevm")
    if not 1 <= count <= MAX_EVENT:  # a record holds at least one event, and no more than a stream can
        raise CorruptRecord(f"malformed commit record topic {topic!r}")
    return count


def check_record_span(first: object, count: int) -> None:
    """Refuse (CorruptRecord) a record whose events ``first..first+count-1`` are not event numbers.

    A SQLite file edited by hand can hold any value in the event number column (text, a number
    past 2**63-1 once its count is added): arithmetic on it, or handing it back to SQL, failed
    with a TypeError or an OverflowError instead of naming the damage.
    """
    if type(first) is not int or not 0 <= first <= MAX_EVENT - count + 1:  # (0: the library's own rows may)
        raise CorruptRecord(f"malformed event number {first!r:.40} in the store (a record of {count} events)")


class RecordCodec:
    """Encodes and decodes commit records; stateless apart from zstd contexts and caches."""

    def __init__(self, compress_threshold: int = COMPRESS_THRESHOLD) -> None:
        self.compress_threshold = compress_threshold
        self._compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
        self._decompressor = zstandard.ZstdDecompressor()
        self._current: dict[tuple[str, int], bool] = {}  # (type, version) -> is the current version

    # -- write ----------------------------------------------------------------
    def encode(self, events: Sequence[RecordedEvent], link: Linker | None = None) -> StoredEvent:
        """One commit record for ``events`` (consecutive events of one stream).

        ``link(stream, first, topic, body)`` returns the record's chain link and
        whether it is keyed (see chain_link.py); without it the record has none.
        """
        first = events[0]
        body: dict[str, Any] = {"e": [draft_of(r.event) for r in events]}
        causes = {r.cause for r in events}
        times = {int(r.recorded_at * 1000) for r in events}
        if len(causes) == 1:
            body["c"] = first.cause
        else:
            body["cs"] = [r.cause for r in events]
        if len(times) == 1:
            body["t"] = int(first.recorded_at * 1000)
        else:
            body["ts"] = [int(r.recorded_at * 1000) for r in events]
        return self._record(first.session, first.seq, len(events), body, link)

    def encode_drafts(self, stream: str, first: int, cause: int, recorded_at: float, drafts: Sequence[Draft],
                      link: Linker | None = None) -> StoredEvent:
        """One commit record for ``drafts``, numbered from ``first``, sharing one cause and time.

        The write path of a form: byte for byte the record :meth:`encode` makes
        of the same events as RecordedEvents with models, without building them.
        """
        body = {"e": drafts, "c": cause, "t": int(recorded_at * 1000)}
        return self._record(stream, first, len(drafts), body, link)

    def _record(self, stream: str, first: int, count: int, body: dict[str, Any], link: Linker | None) -> StoredEvent:
        data = orjson.dumps(body)
        flags = PLAIN
        if len(data) >= self.compress_threshold:
            data = self._compressor.compress(data)
            flags = ZSTD
        topic = commit_topic(count)
        checksum = _checksum(stream, first, topic, data)
        chain = b""
        if link is not None:
            chain, keyed = link(stream, first, topic, data)
            flags |= LINKED | (KEYED if keyed else 0)
        return StoredEvent(
            originator_id=stream,
            originator_version=first,
            topic=topic,
            state=bytes((flags,)) + checksum.to_bytes(8, "big") + chain + data,
        )

    # -- read -----------------------------------------------------------------
    def decode_fields(self, stream: str, first: int, topic: str, state: bytes) -> list[DecodedEvent]:
        """Check one commit record and return its events as plain field dicts.

        Any defect is a CorruptRecord naming the stream and the events the
        record holds.  This is the hot path of every fold: no model objects.
        """
        try:
            count = topic_event_count(topic)
        except (ValueError, IndexError):
            raise CorruptRecord(f"session {stream!r} event {first}: malformed topic {topic!r}") from None
        except CorruptRecord as e:
            raise CorruptRecord(f"session {stream!r} event {first}: {e}") from None
        try:
            check_record_span(first, count)
        except CorruptRecord as e:
            raise CorruptRecord(f"session {stream!r}: {e}") from None
        where = f"session {stream!r} event {first}" if count == 1 else f"session {stream!r} events {first}-{first + count - 1}"
        try:
            if len(state) < HEADER_SIZE:
                raise CorruptRecord(f"record is truncated ({len(state)} bytes)")
            data = record_body(state)
            if _checksum(stream, first, topic, data) != int.from_bytes(state[1:HEADER_SIZE], "big"):
                raise CorruptRecord("checksum mismatch (the record was altered or damaged)")
            flags = state[0] & COMPRESSION_MASK
            if flags == ZSTD:
                declared = zstandard.get_frame_parameters(data).content_size
                if MAX_DECODED_BYTES < declared < zstandard.CONTENTSIZE_ERROR:  # a damaged header: no petabyte allocations
                    raise CorruptRecord(f"record declares {declared} bytes uncompressed (more than any record holds)")
                data = self._decompressor.decompress(data)
            elif flags != PLAIN:
                raise CorruptRecord(f"unknown record flags {flags}")
            if len(data) < LARGE_RECORD:
                body = orjson.loads(data)
            else:  # thousands of new containers: see LARGE_RECORD
                with paused_gc():
                    body = orjson.loads(data)
            entries = body["e"]
            if len(entries) != count:
                raise CorruptRecord(f"holds {len(entries)} events, its topic says {count}")
            causes = body["cs"] if "cs" in body else [body["c"]] * count
            times = body["ts"] if "ts" in body else [body["t"]] * count
            out: list[DecodedEvent] = []
            current = self._current
            for i, (type_name, version, fields) in enumerate(entries):
                if not isinstance(fields, dict):
                    raise CorruptRecord(f"event {first + i} has fields that are not an object")
                key = (type_name, version)
                ok = current.get(key)
                if ok is None:
                    ok = current[key] = event_class(type_name).version == version
                if not ok:
                    fields = upcast(type_name, version, fields)
                out.append((first + i, type_name, fields, causes[i], times[i]))
            return out
        except CorruptRecord as e:
            raise CorruptRecord(f"{where}: {e}") from None
        except TapeError as e:
            raise type(e)(f"{where}: {e}") from None
        except (ValueError, KeyError, TypeError, IndexError, zstandard.ZstdError) as e:
            raise CorruptRecord(f"{where}: undecodable record ({type(e).__name__}: {e})") from None
        except MemoryError:
            raise CorruptRecord(f"{where}: record too large to decode in memory") from None

    def decode(self, stream: str, first: int, topic: str, state: bytes) -> list[RecordedEvent]:
        """Check and decode one commit record into RecordedEvents."""
        out = []
        for seq, type_name, fields, cause, ms in self.decode_fields(stream, first, topic, state):
            try:
                event = _construct(event_class(type_name), fields)
            except ValueError as e:  # pydantic's ValidationError: its first line counts the errors
                summary = str(e).strip().splitlines()[0]
                raise CorruptRecord(f"session {stream!r} event {seq}: invalid {type_name} fields ({summary})") from None
            out.append(RecordedEvent(stream, seq, cause, ms / 1000.0, event))
        return out


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
        return cls.model_validate(data)
    event = cls.__new__(cls)
    object.__setattr__(event, "__dict__", data)
    object.__setattr__(event, "__pydantic_fields_set__", set(data))
    object.__setattr__(event, "__pydantic_extra__", None)
    object.__setattr__(event, "__pydantic_private__", None)
    return event


def record_body(state: bytes) -> bytes:
    """The body of a stored record (after its header, whose size depends on the link flag)."""
    return state[LINKED_HEADER_SIZE:] if state[0] & LINKED else state[HEADER_SIZE:]


def record_link(state: bytes) -> bytes | None:
    """The chain link stored in a record's header, or None when it has none."""
    return state[HEADER_SIZE:LINKED_HEADER_SIZE] if state and state[0] & LINKED else None


def _checksum(stream: str, first: int, topic: str, body: bytes) -> int:
    return xxhash.xxh3_64_intdigest(f"{stream}\0{first}\0{topic}\0".encode() + body)
