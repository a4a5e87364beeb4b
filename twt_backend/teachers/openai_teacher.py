"""OpenAI and every OpenAI-compatible server (vLLM, Ollama, llama.cpp, `transformers serve`)."""

from __future__ import annotations

from typing import Any

from twt_backend import secrets
from twt_backend.config import TeacherConfig
from twt_backend.teachers import auth
from twt_backend.teachers.base import (
    Completion,
    PermanentError,
    TransientError,
    status_error,
)

PLACEHOLDER_KEY = "EMPTY"  # the SDK wants a key; the request hook never sends this one


def chat_completion(text: str, choice: Any, usage: Any, logprobs: bool) -> Completion:
    """A Completion from one choice and the usage of an OpenAI-style chat response."""
    return Completion(
        text=text,
        tokens_in=int(getattr(usage, "prompt_tokens", 0) or 0),
        tokens_out=int(getattr(usage, "completion_tokens", 0) or 0),
        logprob_mean=mean_logprob(getattr(choice, "logprobs", None)) if logprobs else None,
        finish_reason=_text_or_none(getattr(choice, "finish_reason", None)),
    )


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def mean_logprob(logprobs: Any) -> float | None:
    content = getattr(logprobs, "content", None) if logprobs is not None else None
    if not content:
        return None
    values = [item.logprob for item in content if getattr(item, "logprob", None) is not None]
    return sum(values) / len(values) if values else None


class OpenAITeacher:
    """One `AsyncOpenAI` client per teacher; the engine owns retries (`max_retries=0`)."""

    def __init__(self, config: TeacherConfig):
        self.config = config
        self.client: Any = None
        self._errors: Any = None

    async def load(self) -> None:
        import openai

        key = secrets.api_key(self.config)
        self._errors = openai
        self.client = openai.AsyncOpenAI(
            api_key=key or PLACEHOLDER_KEY,  # never None: the SDK would read OPENAI_API_KEY
            # explicit, so that OPENAI_BASE_URL cannot send the default key elsewhere
            base_url=self.config.base_url or secrets.DEFAULT_BASE_URL["openai"],
            max_retries=0,
            timeout=self.config.timeout_s,
            http_client=openai.DefaultAsyncHttpxClient(event_hooks=auth.event_hooks(key)),
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
            response = await self.client.chat.completions.create(
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
            usage = response.usage
            if not isinstance(text, str):
                raise TypeError("no message content")
        except (AttributeError, IndexError, TypeError) as exc:
            raise TransientError(f"malformed response: {exc}") from None
        return chat_completion(text, choice, usage, logprobs)

    def _map_error(self, exc: Exception) -> Exception:
        errors = self._errors
        if isinstance(exc, errors.APIStatusError):
            message = _error_message(exc)
            return status_error(exc.status_code, message, exc.response.headers)
        if isinstance(exc, errors.APITimeoutError):
            return TransientError(f"timeout after {self.config.timeout_s:g} s")
        if isinstance(exc, errors.APIConnectionError):
            return TransientError(f"connection error: {exc}")
        if isinstance(exc, (errors.APIResponseValidationError, ValueError)):
            return TransientError(f"malformed response: {type(exc).__name__}")
        if isinstance(exc, errors.OpenAIError):
            return PermanentError(f"{type(exc).__name__}: {exc}")
        return exc

    async def aclose(self) -> None:
        if self.client is not None:
            await self.client.close()


def _error_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])[:500]
    return str(getattr(exc, "message", exc))[:500]
