"""Judge model outputs against references: extraction, then numeric/letter compare or,
for code, the query's asserts run in the sandbox."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from twt_backend.tasks import get_task


@dataclass
class Verdict:
    answer: str | None
    correct: bool


def judge_outputs(
    task_name: str,
    outputs: Sequence[str],
    payloads: Sequence[dict[str, Any]],
    references: Sequence[str | None],
    workers: int = 4,
    on_done: Callable[[int], None] | None = None,
) -> list[Verdict]:
    """One verdict per output. Code answers run their asserts in the sandbox, in parallel."""
    task = get_task(task_name)
    answers = [task.extract_answer(o, p) for o, p in zip(outputs, payloads, strict=True)]
    if not task.needs_sandbox:
        return [
            Verdict(a, task.is_correct(a, r, p))
            for a, r, p in zip(answers, references, payloads, strict=True)
        ]
    from twt_backend.evaluation.sandbox import run_many
    from twt_backend.tasks.code import build_test_program

    runnable = [i for i, a in enumerate(answers) if a]
    programs = [build_test_program(answers[i] or "", payloads[i]) for i in runnable]
    results = run_many(programs, workers=workers, on_done=on_done)
    passed = {i: r.passed for i, r in zip(runnable, results, strict=True)}
    return [Verdict(a, passed.get(i, False)) for i, a in enumerate(answers)]
