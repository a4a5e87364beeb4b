"""The paper's baselines, and the prompt each student is asked with.

The trained baselines train a fresh LoRA adapter from the base student on the distillation
set G:

- ``kd``, standard knowledge distillation: answer-only fine-tuning on the teachers' labels,
  [x; y] with the prompt of HaRD's answer-only stage (the shared instruction by default).
- ``dss``, distilling step-by-step (Hsieh et al., 2023): rationale and label as two tasks in
  one training set, told apart by a task prefix: ``[label] x -> y`` and
  ``[rationale] x -> r`` (equal weight: each sample gives one example of each task; a sample
  without a rationale gives only the label example). At inference only the label task is
  asked, so the student answers without a rationale.

Two baselines need no training: the vanilla student is stage 0 (`twt eval --stage 0`), the
untrained student asked with the very prompt of the stages (the paper's vanilla student,
which reasons), and ``direct`` is the untrained student told to answer at once without
explanation (`twt eval --method direct`). Full-reasoning fine-tuning only is HaRD stage 1
itself ([x; r; y] from the base student): `twt eval --stage 1` (alias
`--method sft`) stores it as ``stage1``, which reports label "Full-reasoning SFT" when no
separate ``sft`` result exists.
"""

from __future__ import annotations

from typing import Any

from twt_backend.errors import UsageError
from twt_backend.selection.samples import effective_samples
from twt_backend.store import Project
from twt_backend.tasks import get_task, mode_for_stage
from twt_backend.tasks.base import DEFAULT_PROMPT_MODE, DIRECT, TaskType
from twt_backend.training.settings import BASELINES, Target, check_baseline

LABEL_PREFIX = "[label] "
RATIONALE_PREFIX = "[rationale] "

__all__ = ["BASELINES", "DIRECT", "baseline_examples", "inference_prompt", "target_mode"]


def target_mode(target: Target, n_stages: int = 3) -> str | None:
    """The student format a stage or baseline answers in (None: an untrained student)."""
    if target == DIRECT:
        return None
    if isinstance(target, str) and not target.isdigit():
        check_baseline(target)
        return "answer"
    return None if int(target) == 0 else mode_for_stage(int(target), n_stages)


def inference_prompt(
    task: TaskType,
    payload: dict[str, Any],
    target: Target,
    n_stages: int,
    prompt_mode: str = DEFAULT_PROMPT_MODE,
) -> str:
    """The prompt a stage or baseline (0: the vanilla student) is asked with, under a
    prompt mode (see `tasks.base`); dss and direct always use their own."""
    if target == "dss":
        return _dss_prompt(task, payload, LABEL_PREFIX)
    if target == DIRECT:
        return task.direct_prompt(payload)
    mode = target_mode(target, n_stages)
    if mode is None:
        return task.vanilla_prompt(payload, prompt_mode)
    return task.student_prompt(payload, mode, prompt_mode)


def _dss_prompt(task: TaskType, payload: dict[str, Any], prefix: str) -> str:
    return f"{prefix}{task.query_text(payload)}\n"


def baseline_examples(
    project: Project, name: str, prompt_mode: str = DEFAULT_PROMPT_MODE
) -> list[dict[str, Any]]:
    """The training examples of a baseline: dicts with prompt, target, query_id,
    generation_id and task ("label" or, for dss, "rationale")."""
    check_baseline(name)
    task = get_task(project.task)
    examples = []
    for sample in effective_samples(project):
        payload = sample["payload"]
        ids = {"query_id": sample["query_id"], "generation_id": sample["generation_id"]}
        label = task.student_target(None, sample["answer"], "answer")
        if name == "kd":
            prompt = task.student_prompt(payload, "answer", prompt_mode)
            examples.append({"prompt": prompt, "target": label, "task": "label", **ids})
            continue
        prompt = _dss_prompt(task, payload, LABEL_PREFIX)
        examples.append({"prompt": prompt, "target": label, "task": "label", **ids})
        rationale = (sample["rationale"] or "").strip()
        if rationale:
            prompt = _dss_prompt(task, payload, RATIONALE_PREFIX)
            examples.append({"prompt": prompt, "target": rationale, "task": "rationale", **ids})
    if not examples:
        raise UsageError(f"baseline {name}: no training examples in the store; run `twt select`")
    return examples
