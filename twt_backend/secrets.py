"""API keys: looked up from an environment variable or the OS keyring, never stored.

Every key this process has looked up is remembered (in memory only) so that `scrub()`
can remove it from any text before it is stored, logged or printed: error messages
of some gateways echo the request headers.
"""

from __future__ import annotations

import os
import re
import threading
from typing import Any

from twt_backend.errors import UsageError

REDACTED = "[REDACTED]"
# Conventional variables the SDKs read when a teacher names none.
DEFAULT_KEY_ENV = {"openai": "OPENAI_API_KEY", "mistral": "MISTRAL_API_KEY"}
# Things that look like keys even when we never saw them (e.g. from another process).
_KEY_LIKE = re.compile(r"(?i)\b(?:sk|rk|pk)-[A-Za-z0-9_\-]{16,}|\bBearer\s+[A-Za-z0-9._\-]{8,}")
_MIN_KEY_LEN = 6  # shorter "keys" (placeholders such as "EMPTY") would scrub ordinary words

_known: set[str] = set()
_lock = threading.Lock()


def remember(key: str | None) -> None:
    """Make `scrub()` remove this key from now on."""
    if key and len(key) >= _MIN_KEY_LEN:
        with _lock:
            _known.add(key)


def scrub(text: Any) -> str:
    """The text with every known key (and anything shaped like a key) replaced."""
    result = "" if text is None else str(text)
    with _lock:
        known = sorted(_known, key=len, reverse=True)
    for key in known:
        if key in result:
            result = result.replace(key, REDACTED)
    return _KEY_LIKE.sub(REDACTED, result)


def keyring_key(service: str, username: str) -> str | None:
    import keyring  # imported here: it probes the OS backends on import
    from keyring.errors import KeyringError

    try:
        return keyring.get_password(service, username)
    except KeyringError as exc:
        raise UsageError(f"keyring service {service!r}: {exc}") from None


def api_key(teacher: Any, required: bool = False) -> str | None:
    """The key of a teacher config: its env var, else its keyring entry, else the default env.

    Raises UsageError naming the variable (never a value) when a named source is empty,
    or when `required` and nothing is configured.
    """
    value: str | None = None
    if teacher.api_key_env:
        value = os.environ.get(teacher.api_key_env)
        if not value:
            raise UsageError(
                f"teacher {teacher.name}: environment variable {teacher.api_key_env} is not set"
            )
    elif teacher.keyring_service:
        value = keyring_key(teacher.keyring_service, teacher.name)
        if not value:
            raise UsageError(
                f"teacher {teacher.name}: no key in keyring service "
                f"{teacher.keyring_service!r} for user {teacher.name!r}"
            )
    else:
        default_env = DEFAULT_KEY_ENV.get(teacher.provider)
        value = os.environ.get(default_env) if default_env else None
        if not value and required:
            raise UsageError(
                f"teacher {teacher.name}: no API key; name its environment variable with "
                "--api-key-env"
            )
    remember(value)
    return value
