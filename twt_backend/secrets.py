"""API keys: looked up from an environment variable or the OS keyring, never stored.

The rule of where a key goes (docs/security.md, "API keys"): a provider's default variable
(OPENAI_API_KEY, MISTRAL_API_KEY) is sent only to that provider's default endpoint; a
teacher with a custom base URL sends a key only from a source named on it (`api_key_env`
or the keyring), otherwise no Authorization header at all.

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
# The endpoints those variables belong to; a teacher without a base URL talks to these.
DEFAULT_BASE_URL = {"openai": "https://api.openai.com/v1", "mistral": "https://api.mistral.ai"}
_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
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


def is_default_endpoint(teacher: Any) -> bool:
    """Whether the teacher talks to its provider's own default endpoint (no base URL, or
    exactly that URL): the only place the provider's default variable is sent to."""
    if not teacher.base_url:
        return True
    default = DEFAULT_BASE_URL.get(teacher.provider)
    return default is not None and _normal_url(teacher.base_url) == _normal_url(default)


def _normal_url(url: str) -> str:
    url = url.strip().rstrip("/").lower()
    return url.removesuffix("/v1")


def key_source(teacher: Any) -> str:
    """Where the key of this teacher comes from, in words (never the key)."""
    if teacher.provider not in DEFAULT_KEY_ENV:
        return f"no key needed ({teacher.provider} provider)"
    if teacher.api_key_env:
        return f"key from ${teacher.api_key_env}"
    if teacher.keyring_service:
        return "key from keyring"
    if is_default_endpoint(teacher):
        return f"key from ${DEFAULT_KEY_ENV[teacher.provider]}"
    return "no key sent (custom endpoint, no key source named)"


def api_key(teacher: Any, required: bool = True) -> str | None:
    """The key of a teacher config: its named variable, else its keyring entry, else (only for
    the provider's default endpoint) the provider's default variable; None for a custom
    endpoint without a named source: no key is sent there.

    Raises UsageError naming the variable (never a value) when a named source is empty,
    or when `required` and the default endpoint has no key.
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
    elif is_default_endpoint(teacher) and teacher.provider in DEFAULT_KEY_ENV:
        default_env = DEFAULT_KEY_ENV[teacher.provider]
        value = os.environ.get(default_env)
        if not value and required:
            raise UsageError(
                f"teacher {teacher.name}: no API key; set {default_env} or name another "
                "variable with --api-key-env"
            )
    remember(value)
    return value


def looks_like_key(value: str) -> bool:
    """A value that is a key rather than the name of a variable holding one: shaped like a
    known key, or a long run of mixed letters and digits with no word breaks."""
    if _KEY_LIKE.search(value):
        return True
    for part in re.split(r"[_\-\s]+", value):
        if len(part) >= 20 and re.search(r"\d", part) and re.search(r"[A-Za-z]", part):
            return True
    return False


def check_variable_name(value: str) -> None:
    """Refuse a value that is not an environment variable name, never echoing it: a key pasted
    here would otherwise land in the project and in the error message."""
    if not _VAR_NAME.fullmatch(value) or looks_like_key(value):
        remember(value)
        raise UsageError(
            "api_key_env: not an environment variable name (the value is not shown and was "
            "not stored): give the NAME of a variable that holds the key, such as "
            "OPENAI_API_KEY, or store the key in the OS keyring"
        )
