"""Teacher providers behind one async interface; the name-to-class table lives here only.

Provider modules are imported on demand and do their heavy imports in `load()`, so
importing this package costs nothing.
"""

from __future__ import annotations

import importlib

from twt_backend.config import PROVIDERS as CONFIG_PROVIDERS
from twt_backend.config import TeacherConfig
from twt_backend.errors import UsageError
from twt_backend.teachers.base import (
    Completion,
    PermanentError,
    RateLimitedError,
    Teacher,
    TeacherError,
    TransientError,
)

PROVIDERS: dict[str, str] = {
    "openai": "twt_backend.teachers.openai_teacher:OpenAITeacher",
    "mistral": "twt_backend.teachers.mistral_teacher:MistralTeacher",
    "local": "twt_backend.teachers.local_teacher:LocalTeacher",
    "replay": "twt_backend.teachers.replay_teacher:ReplayTeacher",
}
assert set(PROVIDERS) == set(CONFIG_PROVIDERS)


def make_teacher(config: TeacherConfig) -> Teacher:
    """A teacher for a config, not yet loaded (call `await teacher.load()`)."""
    if config.provider not in PROVIDERS:
        raise UsageError(
            f"unknown provider {config.provider!r}: choose one of {', '.join(PROVIDERS)}"
        )
    module_name, class_name = PROVIDERS[config.provider].split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(config)  # type: ignore[no-any-return]


__all__ = [
    "PROVIDERS",
    "Completion",
    "PermanentError",
    "RateLimitedError",
    "Teacher",
    "TeacherError",
    "TransientError",
    "make_teacher",
]
