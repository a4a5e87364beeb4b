"""Live evaluation inside training: the model being trained answers the validation slice.

Each time the Trainer evaluates (every `eval_steps` steps, and at each epoch end: this
callback asks for that evaluation too), the current adapter generates greedy answers to the
held-out queries in eval mode, which are judged like `twt eval` does; rank 0 writes
``eval_accuracy`` (0..1) and ``eval_output_tokens`` (mean generated tokens) at that step,
beside the Trainer's ``eval_loss``. When the slice is the project's validation split there
is no eval dataset (no eval_loss) and the Trainer never evaluates: the callback then runs
at the same moments itself (every `eval_steps` steps, or `every_steps`, and at the end of
the epoch or of training).

With several processes the queries are sharded across the ranks (each generates its share
with its own full copy of the weights, so no collective runs inside generation), the
outputs are gathered on rank 0, which judges and writes; the other ranks go on once rank 0
has judged (the next step's gradient all-reduce waits for it). Where the weights are sharded
(ZeRO-3, FSDP) generation would need every rank in every forward pass, so live accuracy is
skipped there (eval_loss still runs) and the log says so.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from twt_backend.config import GenerationConfig
from twt_backend.jobs import JobContext

log = logging.getLogger(__name__)


class LiveEvalCallback(TrainerCallback):  # type: ignore[misc]
    def __init__(
        self,
        ctx: JobContext,
        items: list[dict[str, Any]],
        task_name: str,
        generation: GenerationConfig,
        log_path: Path,
        sharded_weights: bool = False,
        every_steps: int = 0,
    ):
        self.every_steps = every_steps  # when the Trainer does not evaluate (no eval data)
        self.ctx = ctx
        self.items = items
        self.task_name = task_name
        self.generation = generation
        self.log_path = log_path
        self.sharded_weights = sharded_weights
        self.last_step = -1

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.items and self.sharded_weights and state.is_world_process_zero:
            self.ctx.log("live accuracy is off with ZeRO-3/FSDP (sharded weights); eval_loss runs")

    def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        if self.items and args.eval_strategy != "no" and state.global_step != self.last_step:
            control.should_evaluate = True
        elif self._driving(args):
            self.on_evaluate(args, state, control, **kwargs)
        return control

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        every = self.every_steps
        if self._driving(args) and every > 0 and state.global_step % every == 0:
            self.on_evaluate(args, state, control, **kwargs)
        return control

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self._driving(args):
            self.on_evaluate(args, state, control, **kwargs)  # the last point, once

    def _driving(self, args: Any) -> bool:
        """True when this callback times the live evaluation itself (see module doc)."""
        return bool(self.items) and args.eval_strategy == "no"

    def on_evaluate(
        self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any
    ) -> None:
        if not self.items or self.sharded_weights or state.global_step == self.last_step:
            return
        self.last_step = state.global_step
        tokenizer = kwargs["processing_class"]
        mine = self.items[args.process_index :: args.world_size]
        outputs = [
            (item["query_id"], c.text, c.tokens)
            for item, c in zip(mine, self._generate(model, tokenizer, mine), strict=True)
        ]
        outputs = _gather(outputs, args.world_size)
        if state.is_world_process_zero:
            self._write(state.global_step, outputs)

    def _generate(self, model: Any, tokenizer: Any, items: list[dict[str, Any]]) -> list[Any]:
        """Greedy answers with the LoRA active, in eval mode; training mode and the
        tokenizer's (right) padding side are restored afterwards."""
        from twt_backend.evaluation.inference import generate

        was_training = model.training
        padding_side = tokenizer.padding_side
        model.eval()
        tokenizer.padding_side = "left"
        try:
            return generate(model, tokenizer, [item["prompt"] for item in items], self.generation)
        finally:
            tokenizer.padding_side = padding_side
            if was_training:
                model.train()

    def _write(self, step: int, outputs: list[tuple[int, str, int]]) -> None:
        from twt_backend.evaluation.judge import judge_outputs

        by_id = {item["query_id"]: item for item in self.items}
        items = [by_id[query_id] for query_id, _, _ in outputs]
        verdicts = judge_outputs(
            self.task_name,
            [text for _, text, _ in outputs],
            [item["payload"] for item in items],
            [item["reference"] for item in items],
        )
        n = len(outputs)
        values = {
            "eval_accuracy": sum(v.correct for v in verdicts) / n,
            "eval_output_tokens": sum(tokens for _, _, tokens in outputs) / n,
        }
        self.ctx.metrics(step, values)
        with open(self.log_path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"step": step, **values, "eval_queries": n}) + "\n")
        self.ctx.log(
            f"step {step}: validation accuracy {values['eval_accuracy']:.3f} on {n} queries, "
            f"{values['eval_output_tokens']:.1f} output tokens"
        )


def _gather(outputs: list[Any], world_size: int) -> list[Any]:
    """Every rank's outputs on every rank (in rank order); a no-op on one process."""
    if world_size <= 1:
        return outputs
    import torch.distributed as dist

    if not dist.is_initialized():
        return outputs
    gathered: list[Any] = [None] * world_size
    dist.all_gather_object(gathered, outputs)
    return [row for part in gathered for row in part]
