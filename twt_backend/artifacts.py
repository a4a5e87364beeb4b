"""Where a project's trained stages and baselines keep their artifacts.

Per stage, under ``artifacts/stages/stage{N}/``: ``adapter/`` (the LoRA adapter and the
tokenizer), ``run_config.json``, ``train.log``, ``checkpoints/`` (of the job named in
``checkpoints/JOB``), ``merged/`` (optional merged model) and ``distributed/`` (generated
DeepSpeed / FSDP / accelerate configs). A baseline's artifacts live the same way under
``artifacts/baselines/{name}/``: the path helpers take a stage number or a baseline name.
"""

from __future__ import annotations

import json
from pathlib import Path

from twt_backend.errors import UsageError

MAX_STAGES = 4
BASELINES = ("kd", "dss")  # trained baselines; stage 0 (vanilla) and stage 1 (SFT) need no run

Target = int | str  # a HaRD stage number or a baseline name


def check_baseline(name: str) -> str:
    if name not in BASELINES:
        raise UsageError(f"unknown baseline {name!r}; expected one of {', '.join(BASELINES)}")
    return name


def stage_dir(project_root: str | Path, stage: Target) -> Path:
    """A stage's folder (`stages/stage{N}`), or a baseline's (`baselines/{name}`)."""
    if isinstance(stage, str) and not stage.isdigit():
        return Path(project_root) / "artifacts" / "baselines" / check_baseline(stage)
    return Path(project_root) / "artifacts" / "stages" / f"stage{int(stage)}"


def adapter_dir(project_root: str | Path, stage: Target) -> Path:
    """The trained LoRA adapter of a stage (what inference and the next stage load)."""
    return stage_dir(project_root, stage) / "adapter"


def checkpoints_dir(project_root: str | Path, stage: Target) -> Path:
    return stage_dir(project_root, stage) / "checkpoints"


def merged_dir(project_root: str | Path, stage: Target) -> Path:
    return stage_dir(project_root, stage) / "merged"


def run_config_path(project_root: str | Path, stage: Target) -> Path:
    return stage_dir(project_root, stage) / "run_config.json"


def stage_finished(project_root: str | Path, stage: Target) -> bool:
    return (adapter_dir(project_root, stage) / "adapter_config.json").is_file()


LEGACY_PROMPT_MODE = "stage"  # what a run config without a prompt mode was trained with


def trained_prompt_mode(project_root: str | Path, stage: Target) -> str | None:
    """The prompt mode a stage or baseline was trained with (its run config), if any."""
    path = run_config_path(project_root, stage)
    if not path.is_file():
        return None
    config = json.loads(path.read_text(encoding="utf-8"))
    training = config.get("settings", {}).get("training", {})
    return str(training.get("prompt_mode") or LEGACY_PROMPT_MODE)
