"""The open project, shared by every page: one store connection on the GUI thread."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal

from twt_backend.ops.projects import Project


class ProjectSession(QObject):
    """Holds the open project and tells pages when it changes or its data moved."""

    project_changed = Signal()
    data_changed = Signal(str)  # the table that changed: "queries", "generations", ...

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.project: Project | None = None

    @property
    def root(self) -> Path | None:
        return self.project.root if self.project else None

    def open(self, root: str | Path) -> Project:
        project = Project.open(root)
        self._replace(project)
        return project

    def create(self, root: str | Path, task: str, name: str | None = None) -> Project:
        project = Project.create(root, task, name)
        self._replace(project)
        return project

    def close(self) -> None:
        self._replace(None)

    def notify(self, table: str) -> None:
        self.data_changed.emit(table)

    def _replace(self, project: Project | None) -> None:
        if self.project is not None:
            self.project.close()
        self.project = project
        self.project_changed.emit()
