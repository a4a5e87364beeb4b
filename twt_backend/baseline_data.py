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

from twt_backend.artifacts import BASELINES, check_baseline
from twt_backend.errors import UsageError
from twt_backend.selection.samples import effective_samples
from twt_backend.store import Project
from twt_backend.student_prompt import LABEL_PREFIX, RATIONALE_PREFIX, dss_prompt
from twt_backend.tasks import get_task
from twt_backend.tasks.base import DEFAULT_PROMPT_MODE

__all__ = ["BASELINES", "baseline_examples"]


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
        prompt = dss_prompt(task, payload, LABEL_PREFIX)
        examples.append({"prompt": prompt, "target": label, "task": "label", **ids})
        rationale = (sample["rationale"] or "").strip()
        if rationale:
            prompt = dss_prompt(task, payload, RATIONALE_PREFIX)
            examples.append({"prompt": prompt, "target": rationale, "task": "rationale", **ids})
    if not examples:
        raise UsageError(f"baseline {name}: no training examples in the store; run `twt select`")
    return examples
