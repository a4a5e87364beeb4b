"""Trainer callbacks: live metrics into the store (rank 0) and a clean stop on cancel."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from twt_backend.jobs import JobContext

TEST_PAUSE_VAR = "TWT_TEST_PAUSE_AFTER_STEP"  # tests only: see StopCallback.on_save
LOGGED = ("loss", "learning_rate", "grad_norm", "epoch", "eval_loss", "train_loss")
LOSSES = ("loss", "eval_loss", "train_loss")


class StoreCallback(TrainerCallback):  # type: ignore[misc]
    """Writes step, loss, learning rate, grad norm, tokens/s, epoch and ETA to the store,
    and the phase of the run in its progress snapshot: training, evaluating (the Trainer's
    evaluation and the live validation after it), saving (a checkpoint; the adapter after
    the last step). The train job itself writes "loading" until the trainer begins."""

    def __init__(self, ctx: JobContext, stage: int | str, log_path: Path):
        self.ctx = ctx
        self.stage = stage  # a stage number, or a baseline's name
        self.label = f"baseline {stage}" if isinstance(stage, str) else f"stage {stage}"
        self.log_path = log_path
        self.phase = "loading"
        self._last_values: dict[str, float] = {}
        self._start_time = 0.0
        self._start_step = 0
        self._last_time = 0.0
        self._last_tokens = 0

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._start_time = self._last_time = time.monotonic()
        self._start_step = state.global_step
        self._last_tokens = state.num_input_tokens_seen
        self.phase = "training"
        if state.is_world_process_zero:
            self._progress(state, {}, force=True)

    # ---- phase: written at once when it changes. A step's events come in this order:
    # step_begin, step_end, log, evaluation (prediction steps, then on_evaluate and the
    # live validation), save; a save right after an evaluation shows as "evaluating".
    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._set_phase(state, "training")

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if control.should_evaluate:
            self._set_phase(state, "evaluating")
        elif control.should_save:
            self._set_phase(state, "saving")

    def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if control.should_evaluate:
            self._set_phase(state, "evaluating")

    def on_prediction_step(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._set_phase(state, "evaluating")

    def _set_phase(self, state: Any, phase: str) -> None:
        if phase != self.phase:
            self.phase = phase
            if state.is_world_process_zero:
                self._progress(state, self._last_values, force=True)

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        if not state.is_world_process_zero or not logs or not any(k in logs for k in LOSSES):
            return
        now = time.monotonic()
        values = {k: float(logs[k]) for k in LOGGED if isinstance(logs.get(k), (int, float))}
        tokens = state.num_input_tokens_seen
        if now > self._last_time and tokens > self._last_tokens:
            values["tokens_per_s"] = (tokens - self._last_tokens) / (now - self._last_time)
            self._last_time, self._last_tokens = now, tokens
        done = state.global_step - self._start_step
        if done > 0 and state.max_steps > 0 and "loss" in values:
            per_step = (now - self._start_time) / done
            values["eta_s"] = max(0.0, per_step * (state.max_steps - state.global_step))
        self.ctx.metrics(state.global_step, values)
        with open(self.log_path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"step": state.global_step, **values}) + "\n")
        self._last_values = values
        self._progress(state, values)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.phase = "saving"  # the adapter (and the merged model) is saved next
        if state.is_world_process_zero:
            self._progress(state, {}, force=True)

    def _progress(self, state: Any, values: dict[str, float], force: bool = False) -> None:
        bar: dict[str, Any] = {"done": state.global_step, "total": state.max_steps}
        if "loss" in values:
            bar["loss"] = round(values["loss"], 4)
        if "tokens_per_s" in values:
            bar["tok/s"] = round(values["tokens_per_s"], 1)
        if "eta_s" in values:
            bar["eta_s"] = round(values["eta_s"])
        self.ctx.progress(
            force=force,
            stage=self.stage,
            phase=self.phase,
            bars={"train": bar},
            message=f"{self.label}: step {state.global_step}/{state.max_steps}",
        )


class StopCallback(TrainerCallback):  # type: ignore[misc]
    """When `stop` is set (SIGINT), save a checkpoint at the end of this step and stop.

    With several processes the ranks agree first (one tiny all-reduce a step), so they all
    stop after the same step instead of one waiting forever for the others.
    """

    def __init__(self, stop: threading.Event):
        self.stop = stop

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        if self._agreed_stop(args):
            control.should_save = True
            control.should_training_stop = True
        return control

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        """Test-only hook, off unless TWT_TEST_PAUSE_AFTER_STEP=K is in the environment: once
        the checkpoint of step K is saved, touch `paused-at-step-K` in the checkpoints folder
        and wait for a cancel or a kill, so a test's kill -9 lands mid-run on any machine."""
        if os.environ.get(TEST_PAUSE_VAR) == str(state.global_step):
            if state.is_world_process_zero:
                (Path(args.output_dir) / f"paused-at-step-{state.global_step}").touch()
            self.stop.wait()
        return control

    def _agreed_stop(self, args: Any) -> bool:
        stop = self.stop.is_set()
        if args.world_size <= 1:
            return stop
        import torch
        import torch.distributed as dist

        if not dist.is_initialized():
            return stop
        flag = torch.tensor([1.0 if stop else 0.0], device=args.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item() > 0)
