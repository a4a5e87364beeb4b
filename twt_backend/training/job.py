"""The "train" job: prepare a stage's data and run config, start the launcher, follow it.

The launcher runs in its own session and dies with this worker (parent-death signal);
a cancel of the job forwards one SIGINT to the launcher's process group (the trainer
saves a checkpoint and stops), then kills it after a grace period. Running the job again
(same id) resumes from the stage's last checkpoint.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from twt_backend import artifacts as paths
from twt_backend.baseline_data import baseline_examples
from twt_backend.errors import TwtError, UsageError
from twt_backend.jobs import JobCancelled, JobContext, get_job, same_code_env
from twt_backend.models import resolve_student
from twt_backend.stage_data import stage_examples
from twt_backend.store import Project
from twt_backend.store.backup import backup_project
from twt_backend.training.launch import launch_argv, world_size, write_distributed_config
from twt_backend.training.run_settings import RunSettings, settings_from_config
from twt_backend.training.validation import (
    choose_validation,
    live_eval_items,
    live_max_new_tokens,
)

CHILD_GRACE_S = 10.0


def stage_student(project_root: Path, settings: RunSettings) -> tuple[str, str | None]:
    """The base model path and the adapter to start from (the previous stage's, see
    `RunSettings.previous_stage`; none for stage 1 and the baselines)."""
    if settings.stage <= 1:
        return resolve_student(settings.training.student), None
    previous = settings.previous_stage
    adapter = paths.adapter_dir(project_root, previous)
    config_path = paths.run_config_path(project_root, previous)
    if not paths.stage_finished(project_root, previous) or not config_path.is_file():
        raise UsageError(
            f"stage {settings.stage} starts from the stage-{previous} adapter: "
            f"train stage {previous} first (`twt train DIR --stage {previous}`)"
        )
    previous_config = json.loads(config_path.read_text(encoding="utf-8"))
    return str(previous_config["student_path"]), str(adapter)


def run_examples(project: Project, settings: RunSettings) -> list[dict[str, Any]]:
    """The training examples of the stage or baseline (validation slice included)."""
    prompt_mode = settings.training.prompt_mode
    if settings.baseline:
        return baseline_examples(project, settings.baseline, prompt_mode)
    return stage_examples(
        project,
        settings.stage,
        settings.n_stages,
        prompt_mode,
        settings.training.failed_rewrites,
    )


def preflight(project: Project, settings: RunSettings) -> int:
    """Refuse a stage that cannot start (before any job exists); the number of examples."""
    if settings.stage > 1:
        stage_student(project.root.resolve(), settings)  # needs the previous adapter
    return len(run_examples(project, settings))


def prepare_checkpoints(folder: Path, job_id: int) -> bool:
    """Keep the checkpoints of this job (resume); drop another job's (a new job of the
    target exists only when the last one finished, or on a restart the user asked for:
    `ops.jobs.start_or_resume`). True to resume."""
    owner = folder / "JOB"
    if owner.is_file() and owner.read_text().strip() != str(job_id):
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    owner.write_text(f"{job_id}\n")
    return any(folder.glob("checkpoint-*"))


def write_run_config(ctx: JobContext, project: Project, settings: RunSettings) -> Path:
    root = project.root.resolve()
    target = settings.target
    folder = paths.stage_dir(root, target)
    folder.mkdir(parents=True, exist_ok=True)
    student_path, init_adapter = stage_student(root, settings)
    examples = run_examples(project, settings)
    training = settings.training
    train, held, held_ids = choose_validation(project, examples, training.eval_size, training.seed)
    live = live_eval_items(project, held_ids, target, settings.n_stages, training.prompt_mode)
    checkpoints = paths.checkpoints_dir(root, target)
    resume = prepare_checkpoints(checkpoints, ctx.job_id)
    dist_config = write_distributed_config(settings.launch, folder / "distributed")
    run_config: dict[str, Any] = {
        "settings": settings.to_config(),
        "project": str(root),
        "task": project.task,
        "job_id": ctx.job_id,
        "stage_dir": str(folder),
        "student_path": student_path,
        "init_adapter": init_adapter,
        "data": str(_write_jsonl(folder / "train_data.jsonl", train)),
        "eval_data": str(_write_jsonl(folder / "eval_data.jsonl", held)),
        "live_eval": str(_write_jsonl(folder / "live_eval.jsonl", live)),
        "live_eval_max_new_tokens": live_max_new_tokens(
            project.task, target, settings.n_stages, training.eval_max_new_tokens
        ),
        "n_examples": len(examples),
        "n_train_examples": len(train),
        "n_validation_queries": len(held_ids),
        "checkpoints": str(checkpoints),
        "adapter": str(paths.adapter_dir(root, target)),
        "merged": str(paths.merged_dir(root, target)),
        "distributed_config": str(dist_config) if dist_config else None,
        "resume": resume,
    }
    path = paths.run_config_path(root, target)
    path.write_text(json.dumps(run_config, indent=2, sort_keys=True), encoding="utf-8")
    ctx.log(
        f"{settings.label}: {len(train)} training examples, "
        + (
            f"{len(held_ids)} validation queries"
            if held_ids
            else "no live validation (no validation split; nothing held out)"
        )
        + f", student {student_path}"
        + (f", from adapter {init_adapter}" if init_adapter else "")
        + (", resuming from the last checkpoint" if resume else "")
    )
    return path


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    with open(path, "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(row) + "\n" for row in rows)
    return path


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    return same_code_env(env)


def _parent_death_preexec() -> Callable[[], None] | None:
    """Linux: the launcher gets SIGTERM (torchrun then stops its workers) if we die."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    prctl = ctypes.CDLL("libc.so.6", use_errno=True).prctl  # loaded before fork

    def apply() -> None:  # between fork and exec: one system call, nothing else
        prctl(1, int(signal.SIGTERM), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG

    return apply


def start_launcher(argv: list[str], cwd: Path, log_path: Path) -> subprocess.Popen[bytes]:
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            argv,
            cwd=str(cwd),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_parent_death_preexec(),  # noqa: PLW1509 - one prctl call
            env=_child_env(),
        )


def follow(ctx: JobContext, child: subprocess.Popen[bytes], grace_s: float = CHILD_GRACE_S) -> int:
    """Wait for the launcher; on cancel send its group one SIGINT, then SIGKILL after grace."""
    interrupted_at: float | None = None
    while child.poll() is None:
        if ctx.cancelled.is_set() and interrupted_at is None:
            _signal_group(child.pid, signal.SIGINT)
            interrupted_at = time.monotonic()
        if interrupted_at is not None and time.monotonic() - interrupted_at > grace_s:
            _signal_group(child.pid, signal.SIGKILL)
        time.sleep(0.2)
    return int(child.returncode)


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _log_tail(path: Path, lines: int = 1) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])


def run_job(ctx: JobContext) -> None:
    settings = settings_from_config(ctx.config)
    project = ctx.project
    target, label = settings.target, settings.label
    if paths.stage_finished(project.root, target):  # a retrain replaces the stage's adapter
        backup_project(project, f"before-retrain-{label}")
    config_path = write_run_config(ctx, project, settings)
    argv = launch_argv(
        settings.launch,
        ["--config", str(config_path)],
        json.loads(config_path.read_text())["distributed_config"],
    )
    ctx.log(f"launch ({world_size(settings.launch)} process(es)): {shlex.join(argv)}")
    log_path = paths.stage_dir(project.root, target) / "train.log"
    ctx.progress(
        force=True, stage=target, phase="loading", message=f"{label}: starting the trainer"
    )
    code = follow(ctx, start_launcher(argv, project.root, log_path))
    if ctx.cancelled.is_set() or code == 130:
        raise JobCancelled()
    if code != 0:
        raise TwtError(
            f"{label}: the trainer exited with code {code} ({log_path}): {_log_tail(log_path)}"
        )
    adapter = paths.adapter_dir(project.root, target)
    if not paths.stage_finished(project.root, target):
        raise TwtError(f"{label}: the trainer ended without saving {adapter}")
    ctx.event("stage_trained", stage=target, adapter=str(adapter))
    message = f"{label} trained: adapter in {adapter}{_throughput_note(project.root, target)}"
    ctx.progress(force=True, **{**_current_progress(ctx), "message": message})


def _throughput_note(project_root: Path, target: int | str) -> str:
    """ ", padding 0.0%, 812 real tokens/s" from rank 0's summary ("" when absent)."""
    path = paths.stage_dir(project_root, target) / "ranks" / "rank0.json"
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        per_second = record["real_tokens_per_s"]
        return f", padding {record['padding_fraction']:.1%}, {per_second:.0f} real tokens/s"
    except (OSError, ValueError, KeyError, TypeError):
        return ""


def _current_progress(ctx: JobContext) -> dict[str, Any]:
    return dict(get_job(ctx.project, ctx.job_id)["progress"])
