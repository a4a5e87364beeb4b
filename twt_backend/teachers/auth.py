"""The one Authorization header a teacher may send, enforced on its HTTP client.

The SDKs add credentials of their own: without a key both insist on one (the openai SDK
then reads OPENAI_API_KEY, the mistral SDK MISTRAL_API_KEY), and the openai SDK also
sends an Authorization found in OPENAI_CUSTOM_HEADERS. So each teacher gets an HTTP
client whose request hook sets the header to exactly what `secrets.api_key` decided:
`Bearer <key>`, or no Authorization at all for a custom endpoint with no key source
(local servers need none). It runs on every request the SDK sends, redirects included.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

RequestHook = Callable[[Any], Awaitable[None]]


def authorization_hook(key: str | None) -> RequestHook:
    """An httpx request hook that leaves `Bearer <key>` (or no Authorization) on a request."""
    header = f"Bearer {key}" if key else None

    async def set_authorization(request: Any) -> None:
        if "authorization" in request.headers:
            del request.headers["authorization"]
        if header is not None:
            request.headers["Authorization"] = header

    return set_authorization


def event_hooks(key: str | None) -> dict[str, list[RequestHook]]:
    """`event_hooks=` for an httpx async client of a teacher with this key (or none)."""
    return {"request": [authorization_hook(key)]}
