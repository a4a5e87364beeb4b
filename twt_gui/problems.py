"""Problems of the open project (missing keys, models, packages, no GPU) shown above the
pages they concern, each with its fix. The checks are `twt_backend.problems`' (cheap: no
torch import); they rerun when the project, its teachers or its settings change."""

from __future__ import annotations

import html

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from twt_backend.ops.problems import Problem, check_project
from twt_gui.session import ProjectSession

# Which problem areas each page shows (Refinement runs the student for its answers; the
# Training page also evaluates).
PAGE_AREAS: dict[str, tuple[str, ...]] = {
    "Setup": ("teachers", "student", "selection"),
    "Labelling": ("teachers", "selection"),
    "Review": ("selection",),
    "Refinement": ("student", "gpu"),
    "Training": ("student", "gpu"),
}
WATCHED_TABLES = ("teachers", "settings")
ICONS = {"error": "⛔", "warning": "⚠", "info": "ℹ"}


class ProblemsModel(QObject):
    """The latest problems of the session's project."""

    changed = Signal()

    def __init__(self, session: ProjectSession):
        super().__init__(session)
        self.session = session
        self.problems: list[Problem] = []
        session.project_changed.connect(self.recheck)
        session.data_changed.connect(self._data_changed)
        self.recheck()

    def _data_changed(self, table: str) -> None:
        if table in WATCHED_TABLES:
            self.recheck()

    def recheck(self) -> None:
        project = self.session.project
        self.problems = check_project(project) if project is not None else []
        self.changed.emit()

    def for_page(self, title: str) -> list[Problem]:
        areas = PAGE_AREAS.get(title, ())
        return [p for p in self.problems if p.area in areas]


class ProblemsBanner(QFrame):
    """A strip above the current page listing its problems and their fixes."""

    def __init__(self, model: ProblemsModel, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("problemsBanner")
        self.model = model
        self.page_title = ""
        self.hidden_pages: set[str] = set()
        self.text = QLabel(objectName="problemsText")
        self.text.setWordWrap(True)
        self.text.setTextFormat(Qt.TextFormat.RichText)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.hide_button = QPushButton("Hide")
        self.hide_button.setToolTip("Hide these notes on this page until the app restarts")
        self.hide_button.clicked.connect(self._hide_for_page)
        self.setup_button = QPushButton("Open Setup")
        row = QHBoxLayout()
        row.addWidget(self.text, 1)
        buttons = QVBoxLayout()
        buttons.addWidget(self.setup_button)
        buttons.addWidget(self.hide_button)
        buttons.addStretch()
        row.addLayout(buttons)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(18, 8, 18, 8)
        layout.addLayout(row)
        model.changed.connect(self.update_view)
        self.setVisible(False)

    def show_page(self, title: str) -> None:
        self.page_title = title
        self.update_view()

    def shown(self) -> list[Problem]:
        if self.page_title in self.hidden_pages:
            return []
        return self.model.for_page(self.page_title)

    def update_view(self) -> None:
        problems = self.shown()
        self.setVisible(bool(problems))
        if not problems:
            return
        worst = problems[0].severity
        self.setProperty("severity", worst)
        self.style().unpolish(self)
        self.style().polish(self)
        self.text.setText("<br>".join(_line(p) for p in problems))
        self.setup_button.setVisible(
            self.page_title != "Setup" and any(p.area != "gpu" for p in problems)
        )

    def _hide_for_page(self) -> None:
        self.hidden_pages.add(self.page_title)
        self.update_view()


def problems_html(problems: list[Problem], has_project: bool = True) -> str:
    """Every problem with its fix, for the Help ▸ Check dialog."""
    if not has_project:
        return "No project is open."
    if not problems:
        return "No problems found: keys, models and packages are in place."
    return "<br><br>".join(_line(p) for p in problems)


def _line(problem: Problem) -> str:
    return (
        f"{ICONS.get(problem.severity, '')} <b>{html.escape(problem.message)}</b> "
        f"Fix: {html.escape(problem.fix)}"
    )
