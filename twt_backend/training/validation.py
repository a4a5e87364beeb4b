"""The validation slice: queries of G held out of training.

The same queries serve the Trainer's eval_loss (their examples) and the live evaluation
(their prompts, answered by the model being trained and judged against a reference). The
slice is chosen per query, so no sample of a held-out query is trained on. A query without
a reference answer (unlabeled data, the usual case) is judged against the answer of its
first selected teacher sample instead: live accuracy then measures agreement with the
teachers, which is what the student is taught.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from twt_backend.selection.samples import effective_samples
from twt_backend.store import Project
from twt_backend.tasks import get_task
from twt_backend.training.baselines import inference_prompt, target_mode
from twt_backend.training.settings import Target

REASONING_TOKENS = 256
ANSWER_TOKENS = 32


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


def live_eval_items(
    project: Project, query_ids: list[int], target: Target, n_stages: int
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
                "prompt": inference_prompt(task, payload, target, n_stages),
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
