"""The image file format: one self-describing, checksummed file (see docs/image-format.md).

Layout::

    magic        8 bytes  b"\\x89TVMIMG\\n"
    header_len   4 bytes  big-endian
    header       JSON: format_version (semver), tapevm_version, created_at, description,
                 source_session, source_seq, sections (names, in file order)
    sections     one zstd frame each, back to back
    footer       JSON: {"sections": [{name, offset, length, raw_length, xxh3}], "header_xxh3"}
    trailer     24 bytes: footer length (8, big-endian), xxh3-64 of the footer (8), b"TVMEND\\r\\n"

A reader checks the magic, the trailer, the footer's checksum and the header's,
then each section's xxh3 (of its compressed bytes) before decompressing it.
Every defect is one :class:`ImageError` naming the file; nothing else escapes.

Versions: the major number of ``format_version`` changes when an older reader
could not read the file.  A newer major is refused; older ones are brought up
to date by the upcasters in :data:`UPCASTERS` (one per major, applied in turn),
so the rest of tapevm only ever sees the current format.  The container
(magic, trailer, footer) is the same in every version so far; upcasters
rewrite the header and section contents.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import orjson
import xxhash
import zstandard

from tapevm.domain.content import canonical_bytes
from tapevm.domain.errors import ImageError, ImageNotFound, TapeError, UsageError
from tapevm.domain.state import decode_blob
from tapevm.projections.image_state_codec import encode_image_state
from tapevm.projections.state_codec import decode_state, encode_blobs, encode_nodes, frame_state

MAGIC = b"\x89TVMIMG\n"
END_MAGIC = b"TVMEND\r\n"
TRAILER = 24
FORMAT_VERSION = "3.0.0"
CURRENT_MAJOR = 3
ZSTD_LEVEL = 9  # images are written once and read often: ~25% smaller than level 3, decompresses faster
MAX_HEADER = 1 << 20
MAX_TIME = 253402300799.0  # 9999-12-31T23:59:59Z: the last time an ISO date (and every platform's time_t) shows

Sections = dict[str, bytes]
Upcaster = Callable[[dict[str, Any], Sections], tuple[dict[str, Any], Sections]]

UPCASTERS: dict[int, Upcaster] = {}
"""major -> function taking (header, decompressed sections) of that major to the next major."""


def upcaster(from_major: int) -> Callable[[Upcaster], Upcaster]:
    """Register the migration of images of major version ``from_major`` to ``from_major + 1``."""

    def register(fn: Upcaster) -> Upcaster:
        UPCASTERS[from_major] = fn
        return fn

    return register


@dataclass
class ImageFile:
    """An image read and checked: its header, its footer and its sections (decompressed, current format)."""

    path: str
    header: dict[str, Any]
    footer: dict[str, Any]
    sections: Sections = field(default_factory=dict)
    stored_version: str = FORMAT_VERSION

    @property
    def size(self) -> int:
        return Path(self.path).stat().st_size


def _checksum(data: bytes) -> str:
    return xxhash.xxh3_64_hexdigest(data)


def parse_version(text: Any, path: str) -> tuple[int, int, int]:
    try:
        major, minor, patch = (int(x) for x in str(text).split("."))
        return major, minor, patch
    except ValueError:
        raise ImageError(f"{path}: not a tapevm image (bad format version {text!r})") from None


_TEXT_KEYS = ("tapevm_version", "description", "source_session")


def header_problem(header: Any) -> str | None:
    """Why the values of a header are not what readers show and load, or None.

    A header is shown by ``info`` and ``list`` and copied into ``ImageLoaded``:
    a ``created_at`` of 1e300 or "yesterday" made them fail with a traceback (and
    a load commit a marker no one can show), so readers and the writer refuse it.
    Absent keys are allowed (old images); keys this tapevm does not know are ignored.
    """
    if type(header) is not dict:
        return "the header is not a JSON object"
    created = header.get("created_at", 0.0)
    if type(created) not in (int, float) or not 0 <= created <= MAX_TIME:
        return f"created_at {str(created)[:40]!r} is not a time in seconds since the epoch (up to the year 9999)"
    seq = header.get("source_seq", 0)
    if type(seq) is not int or seq < 0:
        return f"source_seq {str(seq)[:40]!r} is not an event number"
    for key in _TEXT_KEYS:
        if type(header.get(key, "")) is not str:
            return f"{key} is not a string"
    if header.get("source_chain_link") is not None and type(header["source_chain_link"]) is not str:
        return "source_chain_link is not a string"
    return None


# -- writing ------------------------------------------------------------------------------------
def header_bytes(header: dict[str, Any]) -> bytes:
    """The header as stored, refused here when a reader would refuse it.

    Every limit the reader enforces is checked before anything is written: an
    image that cannot be read back must never replace one that can.
    """
    try:
        head = orjson.dumps(header)
    except orjson.JSONEncodeError as e:
        raise UsageError(f"the image header cannot be stored as JSON ({e})") from None
    if len(head) > MAX_HEADER:
        raise UsageError(f"the image header would be {len(head):,} bytes, over the limit of {MAX_HEADER:,} bytes "
                         "(1 MiB) that image readers accept: shorten the description")
    return head


def encode_image(header: dict[str, Any], sections: Sections, level: int = ZSTD_LEVEL) -> bytes:
    """The bytes of an image of ``sections`` (uncompressed; each is compressed here)."""
    header = {**header, "sections": list(sections)}
    head = header_bytes(header)
    out = bytearray(MAGIC)
    out += len(head).to_bytes(4, "big")
    out += head
    compressor = zstandard.ZstdCompressor(level=level)
    index = []
    for name, raw in sections.items():
        body = compressor.compress(raw)
        index.append({"name": name, "offset": len(out), "length": len(body), "raw_length": len(raw),
                      "xxh3": _checksum(body)})
        out += body
    footer = orjson.dumps({"sections": index, "header_xxh3": _checksum(head)})
    out += footer
    out += len(footer).to_bytes(8, "big") + xxhash.xxh3_64_intdigest(footer).to_bytes(8, "big") + END_MAGIC
    return bytes(out)


def refuse_to_replace(path: str | Path, magic: bytes) -> None:
    """Raise UsageError when ``path`` exists and is not a file starting with ``magic``.

    An image target is often typed next to the store it came from (``tape image
    save s.db``): renaming an image over a SQLite store, or over any file that is
    not an image, would destroy data the user never asked to lose.
    """
    if not str(path).strip() or str(path) == ".":  # (Path("") is ".", the current directory)
        raise UsageError("the image file name is blank: give the image a file name")
    target = Path(path)
    try:
        if not target.exists():
            return
        if target.is_dir():
            raise UsageError(f"{path} is a directory: give the image a file name")
        if not target.is_file():
            raise UsageError(f"{path} exists and is not a regular file: refusing to replace it with an image")
        with target.open("rb") as f:
            start = f.read(len(magic))
    except OSError as e:
        raise ImageError(f"cannot check {path} before replacing it: {e.strerror}") from None
    if start != magic:
        raise UsageError(f"{path} exists and is not a tapevm image: refusing to replace it "
                         "(remove it first, or choose another file name)")


def write_atomically(path: str | Path, data: bytes, replaces_only: bytes | None = None) -> None:
    """Write to a temporary file in the same directory, fsync it, rename it over ``path``, fsync the directory.

    With ``replaces_only``, an existing ``path`` is replaced only if it starts with
    those bytes, checked just before the rename (callers check it too before they
    encode, so that a refusal costs nothing); the temporary file is removed on refusal.
    """
    target = Path(path)
    if not target.parent.is_dir():  # a mistyped directory is not made on the way: say so
        raise UsageError(f"cannot write {path}: there is no directory {str(target.parent)!r} (create it first)")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as e:
        raise ImageError(f"cannot write {path}: {e.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if replaces_only is not None:
            try:
                refuse_to_replace(target, replaces_only)
            except TapeError:
                Path(tmp).unlink(missing_ok=True)
                raise
        os.replace(tmp, target)
        dir_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise ImageError(f"cannot write {path}: {e.strerror}") from None


def write_image(path: str | Path, header: dict[str, Any], sections: Sections,
                check: Callable[[bytes], None] | None = None) -> int:
    """Write an image atomically; returns its size in bytes.

    An existing file at ``path`` is replaced only if it is an image (its magic number).
    ``check`` sees the encoded image before anything is written, and may refuse it by raising.
    """
    problem = header_problem(header)
    if problem is not None:
        raise UsageError(f"bad image header: {problem}")
    refuse_to_replace(path, MAGIC)  # before the (possibly long) encoding
    data = encode_image({"format_version": FORMAT_VERSION, **header}, sections)
    if check is not None:
        check(data)
    write_atomically(path, data, replaces_only=MAGIC)
    return len(data)


# -- reading ------------------------------------------------------------------------------------
def _read_bytes(path: str | Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise ImageNotFound(f"no such image file: {path}") from None
    except IsADirectoryError:
        raise ImageError(f"{path} is a directory, not an image file") from None
    except OSError as e:
        raise ImageError(f"cannot read {path}: {e.strerror}") from None


def decode_image(data: bytes, path: str, sections: tuple[str, ...] | None = None) -> ImageFile:
    """Check ``data`` and decompress the named sections (all when None), upcast to the current format."""
    header, footer, index, version, bounds = _container(data, path)
    major = parse_version(version, path)[0]
    problem = header_problem(header)
    if problem is not None:
        raise ImageError(f"{path}: damaged image (header: {problem})")
    if major > CURRENT_MAJOR:
        raise ImageError(f"{path}: image format {version} is newer than this tapevm reads "
                         f"({FORMAT_VERSION}); upgrade tapevm to load it")
    if major < 1 or (major < CURRENT_MAJOR and any(m not in UPCASTERS for m in range(major, CURRENT_MAJOR))):
        raise ImageError(f"{path}: image format {version} is not supported by this tapevm")
    wanted = tuple(index) if sections is None or major < CURRENT_MAJOR else sections
    raw = _sections(data, path, index, wanted, bounds)
    image = ImageFile(path, header, footer, raw, stored_version=version)
    while major < CURRENT_MAJOR:
        try:
            image.header, image.sections = UPCASTERS[major](image.header, image.sections)
        except ImageError:
            raise
        except Exception as e:  # noqa: BLE001 - an old file we cannot migrate is a damaged file
            raise ImageError(f"{path}: cannot migrate image format {version}: {type(e).__name__}: {e}") from None
        major += 1
    return image


class _Container(NamedTuple):
    """An image's frame, read and checked: what lies around and between its sections."""

    header: dict[str, Any]
    footer: dict[str, Any]
    entries: dict[str, Any]    # the footer's section entries by name
    version: Any               # the header's format_version, as stored
    bounds: tuple[int, int]    # sections lie between the end of the header and the start of the footer


def _container(data: bytes, path: str) -> _Container:
    """The header, footer and section index of ``data``, with their checksums checked."""
    if not data.startswith(MAGIC):
        raise ImageError(f"{path}: not a tapevm image (bad magic number)")
    if len(data) < len(MAGIC) + 4 + TRAILER:
        raise ImageError(f"{path}: truncated image ({len(data)} bytes)")
    if data[-8:] != END_MAGIC:
        raise ImageError(f"{path}: truncated or damaged image (no end marker)")
    footer_len = int.from_bytes(data[-24:-16], "big")
    footer_end = len(data) - TRAILER
    footer_start = footer_end - footer_len
    head_len = int.from_bytes(data[8:12], "big")
    if head_len > MAX_HEADER or 12 + head_len > footer_start or footer_start < 12:
        raise ImageError(f"{path}: damaged image (header or footer out of bounds)")
    footer_bytes = data[footer_start:footer_end]
    if xxhash.xxh3_64_intdigest(footer_bytes) != int.from_bytes(data[-16:-8], "big"):
        raise ImageError(f"{path}: damaged image (footer checksum mismatch)")
    head = data[12:12 + head_len]
    try:
        footer = orjson.loads(footer_bytes)
        if footer["header_xxh3"] != _checksum(head):
            raise ImageError(f"{path}: damaged image (header checksum mismatch)")
        header = orjson.loads(head)
        index = {s["name"]: s for s in footer["sections"]}
        version = header["format_version"]
    except ImageError:
        raise
    except (orjson.JSONDecodeError, KeyError, TypeError) as e:
        raise ImageError(f"{path}: damaged image (unreadable header or footer: {e})") from None
    return _Container(header, footer, index, version, (12 + head_len, footer_start))


def _sections(data: bytes, path: str, index: dict[str, Any], wanted: tuple[str, ...],
              bounds: tuple[int, int]) -> Sections:
    """The ``wanted`` sections of ``index`` present in ``data``, each checked and decompressed."""
    decompressor = zstandard.ZstdDecompressor()
    raw: Sections = {}
    for name in wanted:
        entry = index.get(name)
        if entry is None:
            continue
        try:
            offset, length = int(entry["offset"]), int(entry["length"])
            if offset < bounds[0] or offset + length > bounds[1]:
                raise ImageError(f"{path}: damaged image (section {name!r} out of bounds)")
            body = data[offset:offset + length]
            if _checksum(body) != entry["xxh3"]:
                raise ImageError(f"{path}: damaged image (section {name!r} checksum mismatch)")
            raw[name] = decompressor.decompress(body, max_output_size=int(entry["raw_length"]))
        except ImageError:
            raise
        except (zstandard.ZstdError, KeyError, TypeError, ValueError) as e:
            raise ImageError(f"{path}: damaged image (section {name!r}: {e})") from None
    return raw


def read_image(path: str | Path, sections: tuple[str, ...] | None = None) -> ImageFile:
    """Read and check the image at ``path`` (only the named sections are decompressed)."""
    return decode_image(_read_bytes(path), str(path), sections)


def verify_image(path: str | Path) -> ImageFile:
    """Read and check every section (raises ImageError on the first defect)."""
    return read_image(path, None)


# -- migrations -----------------------------------------------------------------------------------
@upcaster(1)
def _v1_to_v2(header: dict[str, Any], sections: Sections) -> tuple[dict[str, Any], Sections]:
    """Format 1 kept the whole state as one JSON document ``{structure, nodes: {key: node}, blobs}``.

    Format 2 splits the blobs into their own section and stores nodes as their
    canonical bytes (no JSON parse per node on load: loading got ~5x faster).
    """
    doc = orjson.loads(sections["state"])
    nodes = encode_nodes(((key, canonical_bytes(node)) for key, node in doc["nodes"].items()), keyless=True)
    structure = doc["structure"]
    structure.setdefault("snapshots", {})
    new_sections: Sections = {"state": frame_state(orjson.dumps(structure), nodes),
                              "blobs": encode_blobs((k, decode_blob(e, d)) for k, e, d in doc["blobs"])}
    if "history" in sections:
        new_sections["history"] = sections["history"]
    return {**header, "format_version": "2.0.0", "migrated_from": header.get("format_version")}, new_sections


@upcaster(2)
def _v2_to_v3(header: dict[str, Any], sections: Sections) -> tuple[dict[str, Any], Sections]:
    """Format 2 kept the bindings as one JSON object per namespace (names and values interleaved).

    Format 3 stores them column by column (``projections/image_state_codec.py``): names
    together, a kind byte per binding, each kind's values together, which zstd compresses
    better (random values: a quarter smaller) and which loads as fast.
    """
    new_sections = dict(sections)
    new_sections["state"] = encode_image_state(decode_state(sections["state"]))
    migrated_from = header.get("migrated_from", header.get("format_version"))
    return {**header, "format_version": "3.0.0", "migrated_from": migrated_from}, new_sections

