"""Task types: prompts, teacher-output parsing, student formats and scoring per kind of query."""

from __future__ import annotations

from twt_backend.errors import UsageError
from twt_backend.tasks.base import (
    MODES,
    PARSE_STATUSES,
    Criterion,
    ParsedOutput,
    TaskType,
    mode_for_stage,
)
from twt_backend.tasks.choice import ChoiceTask
from twt_backend.tasks.code import CodeTask
from twt_backend.tasks.math import MathTask

TASK_NAMES = ("code", "choice", "math")
_TASKS: dict[str, type[TaskType]] = {"code": CodeTask, "choice": ChoiceTask, "math": MathTask}


def get_task(name: str) -> TaskType:
    """The task type called `name` ("code", "choice" or "math"); UsageError otherwise."""
    task_class = _TASKS.get(name) if isinstance(name, str) else None
    if task_class is None:
        raise UsageError(f"unknown task type {name!r}; expected one of {', '.join(TASK_NAMES)}")
    return task_class()


__all__ = [
    "MODES",
    "PARSE_STATUSES",
    "TASK_NAMES",
    "Criterion",
    "ParsedOutput",
    "TaskType",
    "get_task",
    "mode_for_stage",
]
