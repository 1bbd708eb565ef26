"""What the two SDK providers share: how a failure reads, masked and cut, and how an SDK error is classified.

The OpenAI and Anthropic SDKs raise errors of the same shape (a status error
with the HTTP response, a time-out, a connection error) from different
classes; each provider hands its classes to :func:`classify_sdk_error`.
Every text a provider reports passes through its secrets before it is cut
(``domain/secrets.py``), so a cut never keeps half a key.
"""

from __future__ import annotations

from typing import Any

from tapevm.domain.secrets import Secrets, shortened
from tapevm.infrastructure.models.retries import Failure

SHOWN_CHARS = 200  # of a server's text in an error: enough to read its reason
RETRYABLE_STATUS = frozenset({408, 409, 429})


def classify_sdk_error(error: Exception, status_error: type[Exception], timeout_error: type[Exception],
                       connection_error: type[Exception]) -> Failure:
    """One failed attempt as a :class:`Failure`: 429, 408, 409 and 5xx, time-outs and connection errors retry."""
    if isinstance(error, status_error):
        status = int(getattr(error, "status_code", 0))
        response = getattr(error, "response", None)
        body = getattr(response, "text", "") if response is not None else ""
        retryable = status in RETRYABLE_STATUS or status >= 500
        return Failure(retryable, f"HTTP {status}", body or str(error), _retry_after(response))
    if isinstance(error, timeout_error):
        return Failure(True, "timed out", str(error))
    if isinstance(error, connection_error):
        cause = error.__cause__ or error.__context__
        return Failure(True, "cannot connect", f"{error}{': ' + str(cause) if cause else ''}")
    return Failure(False, type(error).__name__, str(error))


def _retry_after(response: Any) -> float | None:
    """The server's ``Retry-After`` in seconds (``retry-after-ms`` too), None when absent or unreadable."""
    if response is None:
        return None
    headers = getattr(response, "headers", {})
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value:
            try:
                return float(value) * scale
            except ValueError:
                return None
    return None


def failure_text(secrets: Secrets, where: str, failure: Failure) -> str:
    """``HTTP 429 from <url>: <server text>``, masked then cut, on one line."""
    what = f"{failure.reason} from" if failure.reason.startswith("HTTP") else f"{failure.reason}:"
    detail = shortened(" ".join(secrets.mask(failure.detail).split()), SHOWN_CHARS)
    return f"{what} {secrets.mask(where)}: {detail}" if detail else f"{what} {secrets.mask(where)}"
