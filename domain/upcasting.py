"""Upcasters: turn an event stored at an older schema version into the current one.

Stored events are never rewritten.  When an event class's fields change, its
``version`` is bumped and a function from the old field dict to the new one is
registered here; decoding applies the chain ``v1 -> v2 -> ... -> current``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tapevm.domain.errors import SchemaVersionError, UnknownEventType
from tapevm.domain.events import EVENT_TYPES, Event

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]

_UPCASTERS: dict[tuple[str, int], Upcaster] = {}


def upcaster(type_name: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Register ``fn`` to lift ``type_name`` data from ``from_version`` to the next."""

    def register(fn: Upcaster) -> Upcaster:
        _UPCASTERS[(type_name, from_version)] = fn
        return fn

    return register


def event_class(type_name: str) -> type[Event]:
    try:
        return EVENT_TYPES[type_name]
    except KeyError:
        raise UnknownEventType(
            f"unknown event type {type_name!r}: the store was written by another tapevm; upgrade tapevm"
        ) from None


def upcast(type_name: str, version: int, data: dict[str, Any]) -> dict[str, Any]:
    """Lift ``data`` stored at ``version`` to the class's current version."""
    current = event_class(type_name).version
    if version > current:
        raise SchemaVersionError(
            f"{type_name} version {version} is newer than this tapevm understands ({current}); upgrade tapevm"
        )
    while version < current:
        try:
            data = _UPCASTERS[(type_name, version)](data)
        except KeyError:
            raise SchemaVersionError(f"no upcaster registered for {type_name} v{version}") from None
        version += 1
    return data


# -- the upcasters of tapevm's own events ------------------------------------------------
@upcaster("ContentStored", 1)
def _content_stored_v1(data: dict[str, Any]) -> dict[str, Any]:
    """Version 2 only added entries that version 1 never holds (file versions stored as pieces)."""
    return data


@upcaster("FactAsserted", 1)
def _fact_asserted_v1(data: dict[str, Any]) -> dict[str, Any]:
    """Version 2 added the fact's evidence (none before)."""
    return {**data, "evidence": None}


@upcaster("ContentStored", 2)
def _content_stored_v2(data: dict[str, Any]) -> dict[str, Any]:
    """Version 3 only added entries that version 2 never holds (file versions stored as splices or zstd patches)."""
    return data
