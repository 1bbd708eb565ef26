"""Retries with backoff for model calls, recorded with the answer.

A provider's call fails for reasons that pass (429 rate limits, 5xx, time-outs,
a dropped connection) and reasons that do not (400, 401, 404).  The former are
tried again, after ``backoff * 2**n`` seconds (or the server's ``Retry-After``
when it gives one, at most ``MAX_WAIT``), up to ``retries`` more times.  The
SDKs' own retries are turned off so that every attempt is ours to count: the
answer carries how many attempts it took and why each failed one failed, and
a final failure says so in its message (``... (after 3 attempts: HTTP 429,
HTTP 503, HTTP 503)``).  Both are recorded with the effect, so a replay shows
the same history without waiting or calling.

Settings (``TAPE_LLM_RETRIES``, default 2; ``TAPE_LLM_BACKOFF`` seconds,
default 0.5) are parsed here from the ``TAPE_LLM*`` mapping config gives.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import NamedTuple, TypeVar

from tapevm.domain.errors import EffectProviderError
from tapevm.infrastructure.logs import get_logger
from tapevm.infrastructure.models.chat import LLMCallFailed

ENV_RETRIES = "TAPE_LLM_RETRIES"
ENV_BACKOFF = "TAPE_LLM_BACKOFF"
MAX_RETRIES = 10
MAX_WAIT = 30.0

log = get_logger("tapevm.models")
T = TypeVar("T")


class Failure(NamedTuple):
    """How one attempt failed: whether to try again, the reason in a few words (``HTTP 429``), what
    the server or the connection said (for the final error), the server's wait in seconds."""

    retryable: bool
    reason: str
    detail: str = ""
    retry_after: float | None = None


@dataclass(frozen=True)
class RetryPolicy:
    """How many times to try again and how long to wait between tries."""

    retries: int = 2
    backoff: float = 0.5
    sleep: Callable[[float], None] = time.sleep

    @classmethod
    def from_settings(cls, env: Mapping[str, str]) -> RetryPolicy:
        """The policy ``TAPE_LLM_RETRIES``/``TAPE_LLM_BACKOFF`` give; an EffectProviderError naming a bad one."""
        return cls(int(_number(env, ENV_RETRIES, 2, 0, MAX_RETRIES, whole=True)),
                   _number(env, ENV_BACKOFF, 0.5, 0, MAX_WAIT, whole=False))

    def wait(self, retry: int, retry_after: float | None) -> float:
        if retry_after is not None and 0 <= retry_after <= MAX_WAIT:
            return float(retry_after)
        return min(float(self.backoff * 2 ** retry), MAX_WAIT)


def _number(env: Mapping[str, str], name: str, default: float, low: float, high: float, whole: bool) -> int | float:
    value = env.get(name)
    if not value:
        return int(default) if whole else default
    try:
        number = int(value) if whole else float(value)
    except ValueError:
        number = math.nan
    if not low <= number <= high:
        kind = "a whole number" if whole else "a number of seconds"
        raise EffectProviderError(f"{name}={value!r}: give {kind} from {low:g} to {high:g}")
    return number


def with_retries(policy: RetryPolicy, call: Callable[[], T], classify: Callable[[Exception], Failure],
                 describe: Callable[[Failure], str]) -> tuple[T, int, list[str]]:
    """``call()`` tried up to ``1 + policy.retries`` times; (result, attempts, reasons of the failed ones).

    ``classify`` reads a failure; ``describe(failure)`` makes the final error's text (it adds the URL
    and masks secrets).  A failure that is not retryable, or the last one, raises LLMCallFailed.
    """
    retried: list[str] = []
    while True:
        try:
            return call(), len(retried) + 1, retried
        except Exception as e:  # noqa: BLE001 - classify decides; what it does not know is not retried
            failure = classify(e)
            if not failure.retryable or len(retried) >= policy.retries:
                history = f" (after {len(retried) + 1} attempts: {', '.join([*retried, failure.reason])})" \
                    if retried else ""
                raise LLMCallFailed(describe(failure) + history) from None
            wait = policy.wait(len(retried), failure.retry_after)
            log.info("model call failed, retrying", reason=failure.reason, attempt=len(retried) + 1, wait=wait)
            retried.append(failure.reason)
            policy.sleep(wait)
