"""tapevm's loggers: structlog, imported when something is logged, not when tapevm is.

Importing structlog costs every ``tape`` command about 70 ms (its console
renderer imports rich's tracebacks and pygments, its stdlib module asyncio),
a fifth of a ``tape eval``, while a command that goes well logs nothing at the
default level.  So each module's logger is a :class:`LazyLogger`: a call below
the threshold (``warning``, or ``debug`` under ``tape --debug``) returns at once
while nothing has imported structlog, hence nobody can have configured it to
want more; anything else imports structlog, configures tapevm's default if the
application configured nothing (key=value lines on stderr: structlog's own
default would print every level to stdout, into a program's output), and from
then on every call goes to structlog as it is configured, so an application's
``structlog.configure`` and ``structlog.testing.capture_logs`` see everything.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
_settings: dict[str, Any] = {"level": logging.WARNING, "sort_keys": True, "json": False}


def configure(level: int, sort_keys: bool = True, force: bool = False, json: bool = False) -> None:
    """tapevm's default configuration: ``level`` and up on stderr, as key=value lines, or with ``json``
    one JSON object a line with its level and an ISO time in UTC (``tape`` under ``TAPE_LOG_FORMAT=json``).

    Applied when structlog is first needed (at once when ``force``: ``tape`` configures
    it for its own process, where no application can have configured it).
    """
    _settings.update(level=level, sort_keys=sort_keys, json=json)
    if force or "structlog" in sys.modules:
        _structlog(force=force)


def _structlog(force: bool = False) -> Any:
    import structlog

    if force or not structlog.is_configured():
        structlog.configure(
            wrapper_class=structlog.make_filtering_bound_logger(_settings["level"]),
            logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
            processors=[structlog.processors.add_log_level, structlog.processors.TimeStamper(fmt="iso", utc=True),
                        structlog.processors.JSONRenderer(sort_keys=bool(_settings["sort_keys"]))]
            if _settings["json"] else
            [structlog.processors.add_log_level,
             structlog.processors.KeyValueRenderer(sort_keys=bool(_settings["sort_keys"]))],
        )
    return structlog


def _ignored(*args: Any, **kwargs: Any) -> None:
    return None


class LazyLogger:
    """A named structlog logger, created on the first call that is not below the threshold."""

    __slots__ = ("_logger", "_name")

    def __init__(self, name: str) -> None:
        self._name = name
        self._logger: Any = None

    def __getattr__(self, method: str) -> Any:
        if self._logger is None:
            if "structlog" not in sys.modules and _LEVELS.get(method, logging.CRITICAL) < _settings["level"]:
                return _ignored
            self._logger = _structlog().get_logger(self._name)
        return getattr(self._logger, method)


def get_logger(name: str) -> LazyLogger:
    return LazyLogger(name)
