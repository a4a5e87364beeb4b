"""Projects controller: open, create, recent projects, the demo project, the queries list."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings

from twt_backend.ops.projects import Project, project_summary, queries_page
from twt_gui.lazy_model import RowSource
from twt_gui.session import ProjectSession

RECENT_KEY = "projects/recent"
MAX_RECENT = 10
TEXT_FIELDS = ("question", "text", "prompt", "stem", "query", "problem", "description")


def query_text(payload: str | None) -> str:
    """A one-line readable form of a query payload (its question/text field, else the JSON)."""
    if not payload:
        return ""
    try:
        data = json.loads(payload)
    except ValueError:
        return payload
    if isinstance(data, dict):
        for key in TEXT_FIELDS:
            value = data.get(key)
            if isinstance(value, str) and value.strip():
                return value
            if isinstance(value, dict) and isinstance(value.get("stem"), str):
                return value["stem"]
    return json.dumps(data, ensure_ascii=False)


def queries_source(project: Project, split: str | None = None) -> RowSource:
    def fetch(after_id: int, limit: int) -> list[dict[str, Any]]:
        rows = queries_page(project, split, after_id, limit)
        for row in rows:
            row["text"] = query_text(row.pop("payload"))
        return rows

    return fetch


def demo_project_path() -> Path | None:
    """The demo project (created on first use), or None while the back end lacks it."""
    try:
        from twt_backend.demo import ensure_demo_project
    except ImportError:
        return None
    return Path(ensure_demo_project())


class ProjectsController:
    def __init__(self, session: ProjectSession, settings: QSettings | None = None):
        self.session = session
        self.settings = settings or QSettings()

    # ---- recent ------------------------------------------------------------------------
    def recent(self) -> list[str]:
        value = self.settings.value(RECENT_KEY, [])
        paths = [value] if isinstance(value, str) else list(value or [])
        return [p for p in paths if (Path(p) / "project.sqlite").exists()]

    def _remember(self, root: Path) -> None:
        path = str(root.resolve())
        paths = [path] + [p for p in self.recent() if p != path]
        self.settings.setValue(RECENT_KEY, paths[:MAX_RECENT])

    # ---- open / create -----------------------------------------------------------------
    def open(self, root: str | Path) -> Project:
        project = self.session.open(root)
        self._remember(project.root)
        return project

    def create(self, root: str | Path, task: str, name: str | None = None) -> Project:
        project = self.session.create(root, task, name or None)
        self._remember(project.root)
        return project

    def open_demo(self) -> Project | None:
        path = demo_project_path()
        return self.open(path) if path else None

    # ---- what the page shows -----------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        project = self.session.project
        if project is None:
            return {}
        return project_summary(project)

    def queries(self, split: str | None = None) -> RowSource | None:
        project = self.session.project
        return queries_source(project, split) if project else None
