"""The validation queries of live evaluation: the project's validation split, never a slice
of the distillation set.

When the project has a `validation` split with reference answers, live evaluation asks up
to `eval_size` of those queries. Without one there is no live validation (the training
log says so): no training example is ever held out silently. Import a validation split
(`twt import DIR FILE --split validation`) to watch accuracy while training.
`split_examples` (a per-query hold-out of G) stays for callers that ask for it by name.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from twt_backend.artifacts import Target
from twt_backend.selection.samples import effective_samples
from twt_backend.store import Project
from twt_backend.student_prompt import inference_prompt, target_mode
from twt_backend.tasks import get_task
from twt_backend.tasks.base import DEFAULT_PROMPT_MODE

REASONING_TOKENS = 256
ANSWER_TOKENS = 32
VALIDATION_SPLIT = "validation"


def split_eval(items: list[Any], eval_size: int, seed: int) -> tuple[list[Any], list[Any]]:
    """Hold out up to `eval_size` items, never more than a tenth of them (deterministic)."""
    count = min(eval_size, len(items) // 10)
    if count <= 0:
        return items, []
    ranked = sorted(range(len(items)), key=lambda i: _rank(seed, items[i], i))
    held = set(ranked[:count])
    return [x for i, x in enumerate(items) if i not in held], [items[i] for i in sorted(held)]


def _rank(seed: int, item: Any, index: int) -> str:
    """A stable pseudo-random rank: a query id keeps its rank whatever else is in the set,
    so the stages (whose sets differ a little) hold out mostly the same queries."""
    key = item if isinstance(item, (int, str)) else index
    return hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()


def split_examples(
    examples: list[dict[str, Any]], eval_size: int, seed: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[int]]:
    """(training examples, held-out examples, held-out query ids), split by query."""
    query_ids = sorted({int(e["query_id"]) for e in examples})
    _, held_ids = split_eval(query_ids, eval_size, seed)
    held = set(held_ids)
    train = [e for e in examples if int(e["query_id"]) not in held]
    return train, [e for e in examples if int(e["query_id"]) in held], held_ids


def validation_split_ids(project: Project, eval_size: int, seed: int) -> list[int]:
    """Up to `eval_size` queries of the validation split with a reference (a stable,
    seeded choice), in id order; [] without such a split or when `eval_size` is 0."""
    if eval_size <= 0:
        return []
    ids = [
        int(row["id"])
        for row in project.rows(
            "SELECT id FROM queries WHERE split = ? AND reference IS NOT NULL ORDER BY id",
            (VALIDATION_SPLIT,),
        )
    ]
    return sorted(sorted(ids, key=lambda i: _rank(seed, i, i))[:eval_size])


def choose_validation(
    project: Project, examples: list[dict[str, Any]], eval_size: int, seed: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[int]]:
    """(training examples, held-out examples, live-validation query ids): every example is
    trained on and nothing is held out; the validation queries come from the validation
    split, none without one."""
    return examples, [], validation_split_ids(project, eval_size, seed)


def live_eval_items(
    project: Project,
    query_ids: list[int],
    target: Target,
    n_stages: int,
    prompt_mode: str = DEFAULT_PROMPT_MODE,
) -> list[dict[str, Any]]:
    """Per held-out query: query_id, prompt (as the stage or baseline is asked), payload and
    reference (the query's own, else the first selected teacher answer)."""
    if not query_ids:
        return []
    task = get_task(project.task)
    teacher_answers: dict[int, str] = {}
    for sample in effective_samples(project):
        teacher_answers.setdefault(int(sample["query_id"]), sample["answer"])
    marks = ",".join("?" * len(query_ids))
    rows = project.rows(
        f"SELECT id, payload, reference FROM queries WHERE id IN ({marks}) ORDER BY id",
        tuple(query_ids),
    )
    items = []
    for row in rows:
        payload = json.loads(row["payload"])
        items.append(
            {
                "query_id": row["id"],
                "prompt": inference_prompt(task, payload, target, n_stages, prompt_mode),
                "payload": payload,
                "reference": row["reference"] or teacher_answers.get(row["id"]),
            }
        )
    return items


def live_max_new_tokens(task_name: str, target: Target, n_stages: int, setting: int) -> int:
    """`setting` when set; else 256 for reasoning formats and code, 32 for short answers."""
    if setting > 0:
        return setting
    if target_mode(target, n_stages) == "answer" and not get_task(task_name).needs_sandbox:
        return ANSWER_TOKENS
    return REASONING_TOKENS
