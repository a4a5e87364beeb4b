"""A Hugging Face model card (README.md with YAML front matter) for an exported stage:
the run's configuration (never a secret) and the comparison of stages and baselines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from twt_backend.artifacts import MAX_STAGES, run_config_path, stage_finished
from twt_backend.evaluation.report import comparison, config_summary, display_name
from twt_backend.evaluation.report_html import TABLE_HEADERS, comparison_cells
from twt_backend.store import Project

TAGS = ["twt", "distillation", "habitual-reasoning-distillation", "lora", "text-generation"]
TRAINING_KEYS = ("student", "epochs", "max_steps", "batch_size", "grad_accum", "lr", "max_length")
LORA_KEYS = ("rank", "alpha", "dropout", "target_modules")
USAGE = {
    "peft": "from peft import AutoPeftModelForCausalLM\n"
    'model = AutoPeftModelForCausalLM.from_pretrained("path/to/this/folder")',
    "transformers": "from transformers import AutoModelForCausalLM\n"
    'model = AutoModelForCausalLM.from_pretrained("path/to/this/folder")',
}


def read_run_config(project: Project, stage: int) -> dict[str, Any] | None:
    """The stage's run_config.json written by the train job, or None (absent or unreadable)."""
    path = run_config_path(project.root, stage)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def stage_settings(project: Project, stage: int) -> dict[str, Any]:
    """Training and LoRA settings of the stage's run, else the project's saved ones."""
    summary = config_summary(project)
    settings = (read_run_config(project, stage) or {}).get("settings") or {}
    return {
        "training": settings.get("training") or summary["training"],
        "lora": settings.get("lora") or summary["lora"],
        "n_stages": settings.get("n_stages") or summary["n_stages"],
    }


def hub_name(student: str) -> str | None:
    """A hub repository id (`owner/name`), or None for a local folder."""
    if Path(student).expanduser().exists() or student.startswith(("/", ".", "~")):
        return None
    return student if student.count("/") == 1 else None


def _md_table(headers: tuple[str, ...] | list[str], rows: list[list[str]]) -> str:
    def line(cells: Any) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    return "\n".join([line(headers), line(["---"] * len(headers)), *map(line, rows)])


def _stages_section(project: Project, n_stages: int) -> str:
    lines = []
    for stage in range(1, MAX_STAGES + 1):
        if not stage_finished(project.root, stage):
            continue
        run = read_run_config(project, stage) or {}
        name, _ = display_name(f"stage{stage}", {"sft"}, n_stages)
        examples = f", {run['n_examples']} training examples" if "n_examples" in run else ""
        lines.append(f"- {name}{examples}")
    return "\n".join(lines) or "- no stage trained yet"


def card_text(project: Project, stage: int, library_name: str) -> str:
    """The full README.md of an export: YAML front matter, configuration, results."""
    from huggingface_hub import ModelCard, ModelCardData

    summary = config_summary(project)
    settings = stage_settings(project, stage)
    training, lora = settings["training"], settings["lora"]
    student = str(training.get("student", ""))
    base = hub_name(student)
    data = ModelCardData(
        base_model=base, library_name=library_name, tags=TAGS, pipeline_tag="text-generation"
    )
    stage_label, _ = display_name(f"stage{stage}", {"sft"}, settings["n_stages"])
    teachers = _md_table(
        ("Teacher", "Provider", "Model"),
        [[t["name"], t["provider"], t["model"]] for t in summary["teachers"]],
    )
    selection = summary["selection"]
    rows = comparison(project)
    results = (
        f"On {rows[0]['n']} test queries answered by every method; changes against the best "
        f"baseline.\n\n" + _md_table(TABLE_HEADERS, [comparison_cells(r) for r in rows])
        if rows
        else "Not evaluated yet (`twt eval DIR --stage N`)."
    )
    body = f"""
# {summary["project"]}: {stage_label}

A {summary["task"]} student distilled with TwT Studio (*TwT: Thinking without Tokens by
Habitual Reasoning Distillation with Multi-Teachers' Guidance*, Xu et al., 2025).
Base model: {base or Path(student).name or "unknown"}.
{"LoRA adapter for the base model." if library_name == "peft" else "LoRA merged into the base."}

## Training configuration

{_md_table(("Setting", "Value"), [[k, training.get(k)] for k in TRAINING_KEYS if k in training])}

LoRA: {", ".join(f"{k} {lora.get(k)}" for k in LORA_KEYS if k in lora)}.

## Teachers

{teachers if summary["teachers"] else "No teachers configured."}

## Sample selection

Strategy {selection["strategy"]}, confidence threshold {selection["threshold"]}, diversity
among at least {selection["min_teachers"]} kept teachers, embedder {selection["embedder"]}.

## Stages ({settings["n_stages"]}-stage variant)

{_stages_section(project, settings["n_stages"])}

## Results

{results}

## Use

```python
{USAGE[library_name]}
```

Inference settings of the evaluation: temperature {summary["generation"]["temperature"]}, top-p
{summary["generation"]["top_p"]}, at most {summary["generation"]["max_new_tokens"]} new tokens.
"""
    return ModelCard(f"---\n{data.to_yaml()}\n---\n{body}").content
