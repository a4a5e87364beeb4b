"""Export a trained stage: its LoRA adapter, optionally the merged model, each with a model
card. Layout of the export folder (default ``artifacts/export/stage{N}``)::

    adapter/   the peft adapter (and tokenizer) + README.md   (library_name: peft)
    merged/    base + adapter merged, safetensors + tokenizer + README.md (with --merged)

The export is built in a temporary sibling and swapped in, so a failed export leaves the
previous one as it was. A non-empty folder that is not an earlier export is never touched.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from twt_backend.artifacts import MAX_STAGES, adapter_dir, stage_finished
from twt_backend.config import TrainingConfig
from twt_backend.errors import UsageError
from twt_backend.evaluation.model_card import card_text, read_run_config
from twt_backend.models import resolve_student
from twt_backend.settings import load_config
from twt_backend.store import Project

MARKER = ".twt-export"


def default_export_dir(project: Project, stage: int) -> Path:
    return project.artifacts / "export" / f"stage{stage}"


def check_stage(project: Project, stage: int) -> Path:
    """The stage's trained adapter folder, or a UsageError saying what to run."""
    if not 1 <= stage <= MAX_STAGES:
        raise UsageError(f"--stage: {stage} is not between 1 and {MAX_STAGES}")
    if not stage_finished(project.root, stage):
        raise UsageError(
            f"stage {stage} has not been trained yet (no adapter in "
            f"{adapter_dir(project.root, stage)}); run `twt train {project.root} --stage {stage}`"
        )
    return adapter_dir(project.root, stage)


def base_model_path(project: Project, stage: int) -> str:
    """The base the adapter was trained on: the run's student, else the project's student."""
    candidates = [(read_run_config(project, stage) or {}).get("student_path")]
    try:
        adapter_config = adapter_dir(project.root, stage) / "adapter_config.json"
        candidates.append(json.loads(adapter_config.read_text()).get("base_model_name_or_path"))
    except (OSError, ValueError):
        pass
    for candidate in candidates:
        if candidate and Path(candidate).is_dir():
            return str(candidate)
    return resolve_student(load_config(project, TrainingConfig).student)


def _target(out_dir: Path) -> Path:
    if out_dir.exists():
        if not out_dir.is_dir():
            raise UsageError(f"{out_dir}: exists and is not a folder")
        if any(out_dir.iterdir()) and not (out_dir / MARKER).exists():
            raise UsageError(f"{out_dir}: not empty and not an earlier export; choose another")
    return out_dir


def merge_adapter(base_path: str, adapter: Path, out_dir: Path) -> Path:
    """Base + adapter merged (peft merge_and_unload) into a safetensors folder + tokenizer."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = AutoModelForCausalLM.from_pretrained(base_path)
    merged = PeftModel.from_pretrained(base, str(adapter)).merge_and_unload()
    merged.save_pretrained(out_dir, safe_serialization=True)
    tokenizer_source = adapter if (adapter / "tokenizer_config.json").exists() else base_path
    AutoTokenizer.from_pretrained(str(tokenizer_source)).save_pretrained(out_dir)
    return out_dir


def export_stage(
    project: Project, stage: int, out_dir: str | Path | None = None, merged: bool = False
) -> Path:
    """Write the stage's export folder (see the module doc); returns it."""
    adapter = check_stage(project, stage)
    target = _target(Path(out_dir) if out_dir else default_export_dir(project, stage))
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        shutil.copytree(adapter, staging / "adapter")
        (staging / "adapter" / "README.md").write_text(
            card_text(project, stage, "peft"), encoding="utf-8"
        )
        if merged:
            merge_adapter(base_model_path(project, stage), adapter, staging / "merged")
            (staging / "merged" / "README.md").write_text(
                card_text(project, stage, "transformers"), encoding="utf-8"
            )
        (staging / MARKER).write_text(f"stage {stage}\n", encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
