"""The demo project: a project in the user's data folder filled with the bundled samples.

Light on purpose (no torch): the desktop app calls it at start-up.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from twt_backend.errors import UsageError
from twt_backend.importers import import_file
from twt_backend.store import DB_NAME, TASKS, Project

APP_NAME = "twt-studio"


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
    """Create the demo project if needed and import the sample queries; idempotent.

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
    return root
