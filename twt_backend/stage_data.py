"""Stage datasets G, G', G'' from the store, and their tokenisation for causal-LM SFT.

Stage 1 trains on [x; r; y] (the teachers' rationales, as edited), the compressed stages on
[x; r^T; y] with r^T the round's refined rationale (a manual edit wins over the teacher's
rewrite; only refinements with status ok or accepted count), the last stage on [x; y]. A
sample without a usable rewrite (failed, pending, rejected) keeps the rationale it had
before the round, as the paper keeps all N samples, unless the training setting
`failed_rewrites` is "drop".
By default x is the same prompt in every stage (prompt mode "shared": one instruction, so
only the target differs and a shorter answer is a learnt habit); prompt mode "stage" gives
each stage its own hint instead. The loss covers the target only: prompt and padding tokens
get the label -100.
"""

from __future__ import annotations

from typing import Any

from twt_backend.errors import UsageError
from twt_backend.selection.samples import effective_samples
from twt_backend.store import Project, refinements_repo
from twt_backend.student_prompt import format_prompt
from twt_backend.tasks import get_task, mode_for_stage
from twt_backend.tasks.base import DEFAULT_PROMPT_MODE

IGNORE_INDEX = -100


def refined_rationales(project: Project, round_: int) -> dict[int, str]:
    """generation_id -> refined rationale of a refinement round (edit wins over rewrite).

    Rows that are ok or accepted count, and so does a hand edit of a failed rewrite;
    rejected rows never do (the rule lives with the others in store/refinements_repo.py).
    """
    return refinements_repo.trained_texts(project, round_)


def kept_rationales(project: Project, round_: int, drop: bool = False) -> dict[int, str | None]:
    """generation_id -> the rationale a compressed stage of refinement round `round_`
    trains on, for the samples that have a usable rewrite of that round, and for the
    others: the rationale of the round before (round 1: the sample's own stage-1
    rationale), or None when failed rewrites are dropped."""
    refined: dict[int, str | None] = dict(refined_rationales(project, round_))
    earlier = kept_rationales(project, round_ - 1, drop) if round_ > 1 else {}
    for sample in effective_samples(project):
        gid = sample["generation_id"]
        if gid not in refined:
            refined[gid] = None if drop else earlier.get(gid, sample["rationale"])
    return refined


def failed_rewrite_counts(project: Project, round_: int, drop: bool = False) -> dict[str, int]:
    """Samples of G without a usable rewrite of a round: kept (trained on the earlier
    rationale) or dropped."""
    usable = refined_rationales(project, round_)
    missing = {s["generation_id"] for s in effective_samples(project)} - set(usable)
    return {"kept": 0 if drop else len(missing), "dropped": len(missing) if drop else 0}


def stage_examples(
    project: Project,
    stage: int,
    n_stages: int = 3,
    prompt_mode: str = DEFAULT_PROMPT_MODE,
    failed_rewrites: str = "keep",
) -> list[dict[str, Any]]:
    """The examples of a HaRD stage: dicts with prompt, target, query_id, generation_id.

    A compressed stage uses refinement round `stage - 1`; a sample without a usable
    refinement of that round keeps its rationale of the round before (`kept_rationales`),
    or is left out when `failed_rewrites` is "drop". `prompt_mode` is "shared" or "stage".
    """
    mode = mode_for_stage(stage, n_stages)
    task = get_task(project.task)
    refined: dict[int, str | None] = {}
    if mode == "compressed":
        if not refined_rationales(project, stage - 1):
            raise UsageError(
                f"stage {stage}: no usable rewrite of refinement round {stage - 1}; "
                "run `twt refine` first"
            )
        refined = kept_rationales(project, stage - 1, failed_rewrites == "drop")
    examples = []
    for sample in effective_samples(project):
        rationale = sample["rationale"]
        if mode == "compressed":
            rationale = refined.get(sample["generation_id"])
            if rationale is None:
                continue
        examples.append(
            {
                "prompt": task.student_prompt(sample["payload"], mode, prompt_mode),
                "target": task.student_target(rationale, sample["answer"], mode),
                "query_id": sample["query_id"],
                "generation_id": sample["generation_id"],
            }
        )
    if not examples:
        hint = "run `twt refine` first" if mode == "compressed" else "run `twt select` first"
        raise UsageError(f"stage {stage}: no training examples in the store; {hint}")
    return examples


def tokenize_example(
    tokenizer: Any, example: dict[str, Any], max_length: int
) -> dict[str, list[int]] | None:
    """input_ids and labels (-100 over the prompt); None when no target token fits."""
    prompt_ids = tokenizer(format_prompt(tokenizer, example["prompt"]), add_special_tokens=False)[
        "input_ids"
    ]
    target_ids = tokenizer(example["target"], add_special_tokens=False)["input_ids"]
    input_ids = (prompt_ids + target_ids + [tokenizer.eos_token_id])[:max_length]
    if len(input_ids) <= len(prompt_ids):
        return None
    labels = [IGNORE_INDEX] * len(prompt_ids) + input_ids[len(prompt_ids) :]
    return {"input_ids": input_ids, "labels": labels}


def tokenize_examples(
    tokenizer: Any, examples: list[dict[str, Any]], max_length: int
) -> list[dict[str, list[int]]]:
    features = [tokenize_example(tokenizer, ex, max_length) for ex in examples]
    kept = [f for f in features if f is not None]
    if not kept:
        raise UsageError(f"no example keeps a target token within max_length {max_length}")
    return kept


def make_collator(tokenizer: Any) -> Any:
    """Pads each batch to its longest example (right side); labels padded with -100."""
    from transformers import DataCollatorForSeq2Seq

    tokenizer.padding_side = "right"
    return DataCollatorForSeq2Seq(
        tokenizer, padding="longest", label_pad_token_id=IGNORE_INDEX, return_tensors="pt"
    )


class CountingCollator:
    """Wraps a collator and counts real tokens and padded positions of the batches it made."""

    def __init__(self, collate: Any):
        self.collate = collate
        self.positions = 0
        self.tokens = 0

    def __call__(self, features: list[dict[str, Any]]) -> Any:
        batch = self.collate(features)
        self.positions += int(batch["attention_mask"].numel())
        self.tokens += int(batch["attention_mask"].sum())
        return batch

    @property
    def padding_fraction(self) -> float:
        return 1.0 - self.tokens / self.positions if self.positions else 0.0


def padding_fraction(batches: list[dict[str, Any]]) -> float:
    """Share of padding positions among all positions of collated batches."""
    total = sum(int(b["attention_mask"].numel()) for b in batches)
    real = sum(int(b["attention_mask"].sum()) for b in batches)
    return (total - real) / total if total else 0.0
