"""Comparing teachers' answers per task, for the `hard` strategy and the agreement filter.

Math and choice answers are compared with the task's own `is_correct` (numeric for math,
by letter for choice). Code answers cannot be compared by running them here, so two
programs agree when their normalised text is equal (trailing spaces and blank lines
dropped); functionally equal programs written differently therefore disagree.
"""

from __future__ import annotations

from twt_backend.selection.decide import Matcher


def normalise_code(code: str) -> str:
    lines = (line.rstrip() for line in code.replace("\r\n", "\n").strip().split("\n"))
    return "\n".join(line for line in lines if line)


def _same_code(a: str, b: str, payload: dict) -> bool:
    return normalise_code(a) == normalise_code(b)


def answer_matcher(task_name: str) -> Matcher:
    """A function telling whether two answers to the same query agree."""
    if task_name == "code":
        return _same_code
    from twt_backend.tasks import get_task

    task = get_task(task_name)

    def same(a: str, b: str, payload: dict) -> bool:
        try:
            return bool(task.is_correct(a, b, payload))
        except Exception:  # noqa: BLE001 - an unparseable answer agrees with nothing
            return False

    return same
