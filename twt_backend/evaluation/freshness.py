"""Which stored outputs are current: the adapter a method answers with now, and whether that
adapter still matches its training data.

A method's outputs are stale when they were made by another adapter than the current one
(the stage or baseline was retrained: its weights hash differs), or when the adapter was
trained on data that is no longer the stage's data (a selection redone, a refinement
method changed or a rewrite edited since): that stage must be retrained, and its outputs
asked again. Reports never mix stale outputs with current ones.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from twt_backend.artifacts import (
    BASELINES,
    Target,
    adapter_dir,
    run_config_path,
    stage_finished,
)
from twt_backend.errors import UsageError
from twt_backend.evaluation.provenance import adapter_sha256
from twt_backend.store import Project

DATA_KEYS = ("data", "eval_data")  # run config: its training and held-out examples


def method_target(method: str) -> Target | None:
    """The trained target of a method name (``stage2``, ``stage3@answer`` -> 2, 3; ``kd``);
    None for the untrained students (stage 0, direct) and anything else."""
    base = method.partition("@")[0]
    if base.startswith("stage") and base[5:].isdigit():
        return int(base[5:]) or None
    return base if base in BASELINES else None


def current_adapter(project: Project, method: str) -> Path | None:
    target = method_target(method)
    if target is None or not stage_finished(project.root, target):
        return None
    return adapter_dir(project.root, target)


def current_adapter_sha256(project: Project, method: str) -> str | None:
    """The weights hash of the adapter a method answers with now (None: untrained)."""
    return adapter_sha256(current_adapter(project, method))


def _trained_on(project: Project, target: Target) -> tuple[dict[str, Any], set[str]] | None:
    """(run settings, the examples it trained on as canonical JSON), when recorded."""
    path = run_config_path(project.root, target)
    if not path.is_file():
        return None
    config = json.loads(path.read_text(encoding="utf-8"))
    examples: set[str] = set()
    for key in DATA_KEYS:
        data = Path(config.get(key) or "")
        if not data.is_file():
            if key == "data":
                return None
            continue
        with open(data, encoding="utf-8") as handle:
            examples.update(_example_key(json.loads(line)) for line in handle if line.strip())
    return config.get("settings", {}), examples


def _example_key(example: dict[str, Any]) -> str:
    return json.dumps([example.get("query_id"), example.get("prompt"), example.get("target")])


def training_data_changed(project: Project, method: str) -> bool:
    """True when the method's adapter was trained on other examples than its stage's data
    now (selection redone, refinement changed); False when unknown or unchanged."""
    target = method_target(method)
    if target is None or current_adapter(project, method) is None:
        return False
    trained = _trained_on(project, target)
    if trained is None:
        return False
    settings, examples = trained
    from twt_backend.baseline_data import baseline_examples
    from twt_backend.stage_data import stage_examples

    prompt_mode = settings.get("training", {}).get("prompt_mode") or "stage"
    try:
        if isinstance(target, str):
            now = baseline_examples(project, target, prompt_mode)
        else:
            n_stages = int(settings.get("n_stages") or project.get_meta("n_stages") or 3)
            failed = settings.get("training", {}).get("failed_rewrites") or "keep"
            now = stage_examples(project, target, n_stages, prompt_mode, failed)
    except UsageError:  # no data at all now
        return True
    return {_example_key(e) for e in now} != examples
