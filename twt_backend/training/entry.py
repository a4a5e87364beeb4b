"""The training process the launcher starts (one per rank):

    python -m twt_backend.training.entry --config artifacts/stages/stage1/run_config.json

The run config is written by the train job (`twt_backend.training.job`). Exit codes:
0 trained and saved, 130 stopped by SIGINT after saving a checkpoint, 1 failed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from twt_backend.log_setup import configure_logging

if TYPE_CHECKING:
    from twt_backend.jobs import JobContext
    from twt_backend.training.live_eval import LiveEvalCallback
    from twt_backend.training.run_settings import RunSettings

CANCELLED_EXIT = 130
LIVE_BATCH = 32  # live validation answers its slice in one batch up to this size (decoding
# on a CPU is memory-bound: a batch reads the weights once per step)


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """Linux: get `sig` when the parent process dies (no orphan trainers after a kill -9)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    parent = os.getppid()
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, int(sig), 0, 0, 0)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(CANCELLED_EXIT)


def read_examples(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def run(run_config: dict[str, Any], stop: threading.Event) -> int:
    from twt_backend.jobs import JobContext
    from twt_backend.stage_data import tokenize_examples
    from twt_backend.training import engine
    from twt_backend.training.callbacks import StopCallback, StoreCallback
    from twt_backend.training.packing import tokens_callback
    from twt_backend.training.run_settings import settings_from_config

    settings = settings_from_config(run_config["settings"])
    training = settings.training
    stage_dir = Path(run_config["stage_dir"])
    ctx = JobContext(
        Path(run_config["project"]),
        int(run_config["job_id"]),
        "train",
        run_config["settings"],
        stage_dir,
    )
    tokenizer = engine.load_tokenizer(run_config["student_path"])
    train_features = tokenize_examples(
        tokenizer, read_examples(Path(run_config["data"])), training.max_length
    )
    eval_features = _held_out_features(tokenizer, run_config, training.max_length)
    model = engine.load_base(
        run_config["student_path"], settings.lora, engine.bf16_enabled(training.bf16)
    )
    packed = engine.use_packing(model, training)
    model = engine.add_lora(model, settings.lora, run_config.get("init_adapter"))
    dist_config = run_config.get("distributed_config")
    args = engine.training_arguments(
        training,
        settings.launch,
        Path(run_config["checkpoints"]),
        Path(dist_config) if dist_config else None,
        has_eval=bool(eval_features),
        packed=packed,
    )
    metrics_log = stage_dir / "train_metrics.jsonl"
    throughput = tokens_callback()
    callbacks = [
        throughput,
        StoreCallback(ctx, settings.target, metrics_log),
        _live_eval(ctx, run_config, settings, metrics_log),
        StopCallback(stop),
    ]
    trainer = engine.build_trainer(
        model, tokenizer, args, train_features, eval_features, callbacks, packed=packed
    )
    resume = bool(run_config.get("resume")) and any(
        Path(run_config["checkpoints"]).glob("checkpoint-*")
    )
    result = trainer.train(resume_from_checkpoint=True if resume else None)
    record = _write_rank_file(run_config, trainer, result.metrics, packed, throughput)
    if trainer.is_world_process_zero():
        _report_throughput(ctx, trainer, record)
    if stop.is_set():
        return CANCELLED_EXIT
    _save_adapter(run_config, trainer)
    if trainer.is_world_process_zero() and training.merge_export:
        merged = Path(run_config["merged"])
        shutil.rmtree(merged, ignore_errors=True)
        engine.export_merged(run_config["student_path"], Path(run_config["adapter"]), merged)
    return 0


def _held_out_features(
    tokenizer: Any, run_config: dict[str, Any], max_length: int
) -> list[dict[str, list[int]]]:
    """The validation slice's examples, tokenised (for eval_loss); [] when none."""
    from twt_backend.stage_data import tokenize_example

    path = run_config.get("eval_data")
    if not path:
        return []
    features = [tokenize_example(tokenizer, ex, max_length) for ex in read_examples(Path(path))]
    return [f for f in features if f is not None]


def _live_eval(
    ctx: JobContext, run_config: dict[str, Any], settings: RunSettings, metrics_log: Path
) -> LiveEvalCallback:
    from twt_backend.config import GenerationConfig
    from twt_backend.training.live_eval import LiveEvalCallback

    path = run_config.get("live_eval")
    items = read_examples(Path(path)) if path else []
    generation = GenerationConfig(
        temperature=0.0,
        max_new_tokens=int(run_config.get("live_eval_max_new_tokens", 256)),
        batch_size=max(settings.training.batch_size, min(len(items), LIVE_BATCH)),
    )
    return LiveEvalCallback(
        ctx,
        items,
        run_config["task"],
        generation,
        metrics_log,
        sharded_weights=settings.launch.distributed in ("zero3", "fsdp"),
        every_steps=settings.training.eval_steps,
    )


def _write_rank_file(
    run_config: dict[str, Any],
    trainer: Any,
    metrics: dict[str, Any],
    packed: bool,
    throughput: Any,
) -> dict[str, Any]:
    """Per-rank summary: steps, a digest of the LoRA weights, throughput and padding."""
    from twt_backend.training.engine import trainable_digest
    from twt_backend.training.packing import attention_implementation

    digest, total = trainable_digest(trainer.model)
    folder = Path(run_config["stage_dir"]) / "ranks"
    folder.mkdir(parents=True, exist_ok=True)
    rank = trainer.args.process_index
    record = {
        "rank": rank,
        "world_size": trainer.args.world_size,
        "global_step": trainer.state.global_step,
        "trainable_sha256": digest,
        "trainable_sum": total,
        "train_loss": metrics.get("train_loss"),
        "train_runtime_s": metrics.get("train_runtime"),
        "tokens_seen_all_ranks": trainer.state.num_input_tokens_seen,
        "rank_tokens": trainer.data_collator.tokens,
        "rank_positions": trainer.data_collator.positions,
        "padding_fraction": trainer.data_collator.padding_fraction,
        "real_tokens_per_s": throughput.per_second,  # this session, all ranks
        "padding_free": packed,
        "attention": attention_implementation(trainer.model),
    }
    (folder / f"rank{rank}.json").write_text(json.dumps(record, indent=2), encoding="utf-8")
    return record


def _report_throughput(ctx: JobContext, trainer: Any, record: dict[str, Any]) -> None:
    """The stage's padding share (of rank 0's batches) and real (non-padding) tokens/s of
    all ranks, on the job's summary: metrics at the last step and a `train_summary` event."""
    summary = {
        "padding_fraction": record["padding_fraction"],
        "real_tokens_per_s": record["real_tokens_per_s"],
    }
    ctx.metrics(trainer.state.global_step, summary)
    ctx.event(
        "train_summary",
        **summary,
        padding_free=record["padding_free"],
        attention=record["attention"],
        world_size=record["world_size"],
    )


def _save_adapter(run_config: dict[str, Any], trainer: Any) -> None:
    """Save into a temporary sibling, then swap it in (never half an adapter)."""
    adapter = Path(run_config["adapter"])
    staging = adapter.with_name(adapter.name + ".saving")
    if trainer.is_world_process_zero():
        shutil.rmtree(staging, ignore_errors=True)
    trainer.accelerator.wait_for_everyone()
    trainer.save_model(str(staging))
    trainer.accelerator.wait_for_everyone()
    if trainer.is_world_process_zero():
        shutil.rmtree(adapter, ignore_errors=True)
        os.replace(staging, adapter)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m twt_backend.training.entry")
    parser.add_argument("--config", required=True, help="run_config.json written by the job")
    args = parser.parse_args(argv)
    configure_logging("worker")
    die_with_parent()
    stop = threading.Event()

    def on_sigint(signum: int, frame: object) -> None:
        stop.set()  # finish the step, save a checkpoint, exit 130; SIGKILL ends it at once

    signal.signal(signal.SIGINT, on_sigint)
    run_config = json.loads(Path(args.config).read_text(encoding="utf-8"))
    return run(run_config, stop)


if __name__ == "__main__":
    sys.exit(main())
