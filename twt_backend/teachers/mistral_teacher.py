"""Mistral through the `mistralai` SDK (3.x: `mistralai.client.Mistral`)."""

from __future__ import annotations

from typing import Any

from twt_backend import secrets
from twt_backend.config import TeacherConfig
from twt_backend.teachers import auth
from twt_backend.teachers.base import Completion, PermanentError, TransientError, status_error
from twt_backend.teachers.openai_teacher import PLACEHOLDER_KEY, chat_completion


def server_url(base_url: str | None) -> str | None:
    """The SDK adds `/v1/...` itself: drop a trailing `/v1` from an OpenAI-style base URL."""
    if not base_url:
        return None
    url = base_url.rstrip("/")
    return url[: -len("/v1")] if url.endswith("/v1") else url


class MistralTeacher:
    def __init__(self, config: TeacherConfig):
        self.config = config
        self.client: Any = None
        self._errors: Any = None
        self._http: Any = None

    async def load(self) -> None:
        import httpx2
        from mistralai.client import Mistral, errors

        key = secrets.api_key(self.config)
        self._errors = errors
        # the SDK's own default client, plus the hook that sets the one allowed Authorization
        self._http = httpx2.AsyncClient(follow_redirects=True, event_hooks=auth.event_hooks(key))
        self.client = Mistral(
            api_key=key or PLACEHOLDER_KEY,  # never None: the SDK would read MISTRAL_API_KEY
            server_url=server_url(self.config.base_url),
            timeout_ms=int(self.config.timeout_s * 1000),
            async_client=self._http,
        )

    async def complete(
        self,
        messages: list[dict[str, Any]],
        *,
        max_tokens: int,
        temperature: float,
        logprobs: bool = False,
        query: dict[str, Any] | None = None,
    ) -> Completion:
        extra: dict[str, Any] = {"logprobs": True} if logprobs else {}
        try:
            response = await self.client.chat.complete_async(
                model=self.config.model,
                messages=messages,
                max_tokens=max_tokens,
                temperature=temperature,
                top_p=self.config.top_p,
                **extra,
            )
        except Exception as exc:  # noqa: BLE001 - mapped to the engine's error types
            raise self._map_error(exc) from None
        try:
            choice = response.choices[0]
            text = choice.message.content
            if not isinstance(text, str):  # content chunks: keep the text parts
                text = "".join(getattr(part, "text", "") or "" for part in text or [])
            usage = response.usage
        except (AttributeError, IndexError, TypeError) as exc:
            raise TransientError(f"malformed response: {exc}") from None
        return chat_completion(text, choice, usage, logprobs)

    def _map_error(self, exc: Exception) -> Exception:
        errors = self._errors
        if isinstance(exc, errors.ResponseValidationError):
            return TransientError("malformed response")
        if isinstance(exc, errors.MistralError):
            return status_error(exc.status_code, _short(exc.body or exc.message), exc.headers)
        if isinstance(exc, errors.NoResponseError):
            return TransientError(f"no response: {exc}")
        name = type(exc).__name__
        if "Timeout" in name:
            return TransientError(f"timeout after {self.config.timeout_s:g} s")
        if any(word in name for word in ("Connect", "Network", "Protocol", "Read", "Remote")):
            return TransientError(f"connection error: {name}")
        if isinstance(exc, ValueError):
            return TransientError(f"malformed response: {name}")
        if isinstance(exc, errors.MistralError) or "mistral" in type(exc).__module__:
            return PermanentError(f"{name}: {exc}")
        return exc

    async def aclose(self) -> None:
        if self.client is not None:
            await self.client.__aexit__(None, None, None)
        if self._http is not None:
            await self._http.aclose()


def _short(text: Any) -> str:
    return str(text)[:500]
