"""The paper's baselines, and the prompt each trained student is asked with.

All baselines train a fresh LoRA adapter from the base student on the distillation set G:

- ``kd``, standard knowledge distillation: answer-only fine-tuning on the teachers' labels,
  [x; y] with the prompt of HaRD's answer-only stage.
- ``dss``, distilling step-by-step (Hsieh et al., 2023): rationale and label as two tasks in
  one training set, told apart by a task prefix: ``[label] x -> y`` and
  ``[rationale] x -> r`` (equal weight: each sample gives one example of each task; a sample
  without a rationale gives only the label example). At inference only the label task is
  asked, so the student answers without a rationale.

The vanilla student is stage 0 (`twt eval --stage 0`), and full-reasoning fine-tuning only
is HaRD stage 1 itself ([x; r; y] from the base student): `twt eval --stage 1` (alias
`--method sft`) stores it as ``stage1``, which reports label "Full-reasoning SFT" when no
separate ``sft`` result exists.
"""

from __future__ import annotations

from typing import Any

from twt_backend.errors import UsageError
from twt_backend.selection.samples import effective_samples
from twt_backend.store import Project
from twt_backend.tasks import get_task, mode_for_stage
from twt_backend.tasks.base import TaskType
from twt_backend.training.settings import BASELINES, Target, check_baseline

LABEL_PREFIX = "[label] "
RATIONALE_PREFIX = "[rationale] "

__all__ = ["BASELINES", "baseline_examples", "inference_prompt", "target_mode"]


def target_mode(target: Target, n_stages: int = 3) -> str | None:
    """The student format a stage or baseline answers in (None: the vanilla student)."""
    if isinstance(target, str) and not target.isdigit():
        check_baseline(target)
        return "answer"
    return None if int(target) == 0 else mode_for_stage(int(target), n_stages)


def inference_prompt(task: TaskType, payload: dict[str, Any], target: Target, n_stages: int) -> str:
    """The prompt a trained stage or baseline (or the vanilla student, 0) is asked with."""
    if target == "dss":
        return _dss_prompt(task, payload, LABEL_PREFIX)
    mode = target_mode(target, n_stages)
    return task.vanilla_prompt(payload) if mode is None else task.student_prompt(payload, mode)


def _dss_prompt(task: TaskType, payload: dict[str, Any], prefix: str) -> str:
    return f"{prefix}{task.query_text(payload)}\n"


def baseline_examples(project: Project, name: str) -> list[dict[str, Any]]:
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
            prompt = task.student_prompt(payload, "answer")
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
