"""Run a student (optionally with a stage's LoRA adapter) over a set of queries as a job,
in one process or sharded over several with torchrun, writing each answer as it comes.

Two job kinds use it: `infer` (the stage-N student answers the distillation set, rows in
`student_outputs`) and `eval` (the test split, rows in `eval_results`). Both resume:
queries with a stored answer are skipped.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twt_backend.config import GenerationConfig, TrainingConfig, from_dict
from twt_backend.errors import UsageError
from twt_backend.jobs import JobCancelled, JobContext
from twt_backend.settings import load_config
from twt_backend.store import Project


def adapter_for(project: Project, stage: int | str) -> Path | None:
    """The LoRA adapter trained by a stage or a baseline (None for the untrained students:
    stage 0, the vanilla student, and the direct baseline); UsageError when it has not
    been trained."""
    from twt_backend.artifacts import adapter_dir, check_baseline, stage_finished

    if stage == "direct":
        return None
    baseline = isinstance(stage, str) and not stage.isdigit()
    target: int | str = check_baseline(str(stage)) if baseline else int(stage)
    if target == 0:
        return None
    if not stage_finished(project.root, target):
        what, flag = (
            (f"baseline {target}", f"--baseline {target}")
            if baseline
            else (f"stage {target}", f"--stage {target}")
        )
        raise UsageError(
            f"{what} has not been trained yet (no adapter in "
            f"{adapter_dir(project.root, target)}); run `twt train {project.root} {flag}` first"
        )
    return adapter_dir(project.root, target)


def student_name(project: Project, override: str | None = None) -> str:
    return override or load_config(project, TrainingConfig).student


@dataclass
class Item:
    query_id: int
    prompt: str
    payload: dict[str, Any]
    reference: str | None


Writer = Callable[[Project, list[Item], list[Any]], None]


def run_items(
    ctx: JobContext,
    items: list[Item],
    writer: Writer,
    label: str,
    rank: int = 0,
    world_size: int = 1,
) -> None:
    """Generate for this rank's share of `items` and write each batch as it finishes."""
    from twt_backend.evaluation.inference import generate, load_student, shard

    mine = shard(items, rank, world_size)
    gen = from_dict(GenerationConfig, ctx.config.get("generation") or {})
    adapter = ctx.config.get("adapter")
    done = 0

    def on_batch(indices: list[int], completions: list[Any]) -> None:
        nonlocal done
        writer(ctx.project, [mine[i] for i in indices], completions)
        done += len(indices)
        if rank == 0:
            ctx.progress(bars={label: {"done": done * world_size, "total": len(items)}})

    if world_size == 1 and job_engine(ctx) == "vllm":
        from twt_backend.evaluation.vllm_engine import run_on_vllm

        run_on_vllm(ctx, [item.prompt for item in mine], gen, on_batch)
    else:
        model, tokenizer = load_student(ctx.config["student"], adapter)
        generate(
            model,
            tokenizer,
            [item.prompt for item in mine],
            gen,
            on_batch=on_batch,
            should_stop=ctx.cancelled.is_set,
        )
    if ctx.cancelled.is_set():
        raise JobCancelled()


def job_engine(ctx: JobContext) -> str:
    """The student-inference engine of this job ("hf" or "vllm"), from its generation
    settings (`auto`: vLLM where installed with a GPU, or a server URL is set)."""
    from twt_backend.evaluation.vllm_server import resolve_engine

    if "_engine" not in ctx.config:  # resolved once per worker, never stored
        choice = (ctx.config.get("generation") or {}).get("engine") or GenerationConfig.engine
        ctx.config["_engine"] = resolve_engine(choice)
    return str(ctx.config["_engine"])


def launch_shards(ctx: JobContext, nproc: int) -> None:
    """Run this job's items over `nproc` processes with torchrun; each writes its share.

    On vLLM the server shares the work instead (data parallel over `nproc` GPUs): the job
    runs here as one client.
    """
    if job_engine(ctx) == "vllm":
        from twt_backend.jobs import _load_worker

        single = {**ctx.config, "nproc": 1, "data_parallel": nproc}
        _load_worker(ctx.kind)(dataclasses.replace(ctx, config=single))
        return
    argv = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        str(nproc),
        "--nnodes",
        "1",
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(ctx.config.get("master_port", 29531)),
        "-m",
        "twt_backend.evaluation.shard_entry",
        str(ctx.project_dir),
        str(ctx.job_id),
    ]
    with open(ctx.artifact_dir / "shards.log", "ab") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=log, env=os.environ.copy())
        while process.poll() is None:
            if ctx.cancelled.wait(0.5):
                process.terminate()
                process.wait()
                raise JobCancelled()
    if process.returncode != 0:
        raise RuntimeError(
            f"inference shards failed (exit {process.returncode}); see "
            f"{ctx.artifact_dir / 'shards.log'}"
        )
