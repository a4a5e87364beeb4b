"""The one async interface every teacher provider implements, and its error types."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from twt_backend.config import TeacherConfig


@dataclass(slots=True)
class Completion:
    """One teacher answer. `parsed`, when set, is a ready triplet (replay) to store as is."""

    text: str
    tokens_in: int = 0
    tokens_out: int = 0
    logprob_mean: float | None = None
    parsed: Any = None  # tasks.base.ParsedOutput | None
    finish_reason: str | None = None  # "length": cut at max_tokens (stored as "truncated")


class TeacherError(Exception):
    """A request that failed; `retryable` says whether trying again may help."""

    retryable = False

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class TransientError(TeacherError):
    """5xx, timeouts, connection errors, malformed bodies: retry with backoff."""

    retryable = True


class RateLimitedError(TransientError):
    """429: retry after the server's Retry-After when it gave one."""


class PermanentError(TeacherError):
    """Bad request, authentication, unknown model: retrying will not help."""


class Teacher(Protocol):
    """A teacher provider. `load()` does the heavy imports and opens clients."""

    config: TeacherConfig

    async def load(self) -> None: ...

    async def complete(
        self,
        messages: list[dict[str, Any]],
        *,
        max_tokens: int,
        temperature: float,
        logprobs: bool = False,
        query: dict[str, Any] | None = None,
    ) -> Completion: ...

    async def aclose(self) -> None: ...


def retry_after_seconds(headers: Any) -> float | None:
    """Seconds to wait from `Retry-After` / `retry-after-ms` headers, when present."""
    if headers is None:
        return None
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        from datetime import datetime, timezone
        from email.utils import parsedate_to_datetime

        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def status_error(status: int, message: str, headers: Any = None) -> TeacherError:
    """The error type of an HTTP status."""
    text = f"HTTP {status}: {message}"
    if status == 429:
        return RateLimitedError(text, retry_after_seconds(headers))
    if status >= 500 or status in (408, 409):
        return TransientError(text, retry_after_seconds(headers))
    return PermanentError(text)
