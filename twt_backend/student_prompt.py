"""What a student is asked: the prompt of a HaRD stage, a baseline or the vanilla student,
and how a prompt is rendered for the student's tokenizer.

Training and inference (evaluation, the student's answers between stages, live
evaluation) both take their prompts from here, so the student is asked the way it learnt.
"""

from __future__ import annotations

from typing import Any

from twt_backend.artifacts import Target, check_baseline
from twt_backend.tasks import mode_for_stage
from twt_backend.tasks.base import DEFAULT_PROMPT_MODE, DIRECT, TaskType

# distilling step-by-step tells its two tasks apart by a prefix (see `training.baselines`)
LABEL_PREFIX = "[label] "
RATIONALE_PREFIX = "[rationale] "


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
        return dss_prompt(task, payload, LABEL_PREFIX)
    if target == DIRECT:
        return task.direct_prompt(payload)
    mode = target_mode(target, n_stages)
    if mode is None:
        return task.vanilla_prompt(payload, prompt_mode)
    return task.student_prompt(payload, mode, prompt_mode)


def dss_prompt(task: TaskType, payload: dict[str, Any], prefix: str) -> str:
    """A distilling step-by-step prompt: the task prefix, then the query."""
    return f"{prefix}{task.query_text(payload)}\n"


def format_prompt(tokenizer: Any, prompt: str) -> str:
    """The prompt as the student sees it: its chat template when it has one.

    Training and inference must both use this, so the student is asked the way it learnt.
    A default system prompt that the template adds on its own (SmolLM2's "You are a helpful
    AI assistant named SmolLM, ...") is replaced by an empty system turn: it says nothing
    about the task, and every prompt token costs the student's inference and training time.
    """
    if not getattr(tokenizer, "chat_template", None):
        return (tokenizer.bos_token or "") + prompt
    user = [{"role": "user", "content": prompt}]
    rendered = str(tokenizer.apply_chat_template(user, tokenize=False, add_generation_prompt=True))
    try:
        bare = str(
            tokenizer.apply_chat_template(
                [{"role": "system", "content": ""}, *user],
                tokenize=False,
                add_generation_prompt=True,
            )
        )
    except Exception:  # noqa: BLE001 - a template without a system role keeps its own form
        return rendered
    return bare if len(bare) < len(rendered) else rendered
