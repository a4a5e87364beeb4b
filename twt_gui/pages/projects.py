"""Projects page: create, open, recent, demo, import; lists the open project's queries."""

from __future__ import annotations

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMenu,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from twt_backend.errors import TwtError
from twt_gui.lazy_model import Column, LazySqlModel
from twt_gui.pages.base import Page
from twt_gui.pages.project_dialogs import NewProjectDialog
from twt_gui.pages.projects_ctl import ProjectsController
from twt_gui.session import ProjectSession
from twt_gui.widgets import EmptyState, StatePanel, table_view

QUERY_COLUMNS = (
    Column("id", "#", align_right=True),
    Column("source_id", "Source id"),
    Column("split", "Split"),
    Column("reference", "Reference"),
    Column("text", "Query"),
)


class ProjectsPage(Page):
    title = "Projects"
    subtitle = "Create or open a project, import unlabeled queries, browse them."

    def __init__(self, session: ProjectSession, settings: QSettings | None = None):
        super().__init__(session)
        self.controller = ProjectsController(session, settings)
        self._build_toolbar()
        self.info = QLabel(objectName="projectInfo")
        self.body.addWidget(self.info)
        self.model = LazySqlModel(QUERY_COLUMNS)
        self.table = table_view()
        self.table.setModel(self.model)
        self.table.setColumnWidth(0, 60)
        self.table.setColumnWidth(1, 140)
        self.table.setColumnWidth(2, 60)
        self.table.setColumnWidth(3, 120)
        content = QWidget()
        layout = QVBoxLayout(content)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table)
        empty = EmptyState("", "")
        self.empty_new = empty.add_action("New project…", self.new_project)
        self.empty_open = empty.add_action("Open project…", self.open_dialog)
        self.empty_import = empty.add_action("Import data…", self.import_dialog)
        self.panel = StatePanel(content, empty)
        self.body.addWidget(self.panel, 1)
        self.refresh()

    def _build_toolbar(self) -> None:
        bar = QHBoxLayout()
        for text, slot in (
            ("New…", self.new_project),
            ("Open…", self.open_dialog),
            ("Demo project", self.open_demo),
            ("Import data…", self.import_dialog),
        ):
            button = QPushButton(text)
            button.clicked.connect(slot)
            bar.addWidget(button)
        self.import_button = button
        self.recent_button = QPushButton("Recent")
        self.recent_menu = QMenu(self)
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        self.recent_button.setMenu(self.recent_menu)
        bar.addWidget(self.recent_button)
        bar.addStretch()
        bar.addWidget(QLabel("Split"))
        self.split = QComboBox()
        self.split.addItems(["all", "train", "test"])
        self.split.currentTextChanged.connect(lambda _: self.refresh())
        bar.addWidget(self.split)
        self.body.addLayout(bar)

    # ---- actions -----------------------------------------------------------------------
    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        paths = self.controller.recent()
        if not paths:
            self.recent_menu.addAction("No recent projects").setEnabled(False)
        for path in paths:
            self.recent_menu.addAction(path, lambda p=path: self._open(p))

    def new_project(self) -> None:
        dialog = NewProjectDialog(self)
        if dialog.exec():
            folder, task, name = dialog.values()
            self._guard(lambda: self.controller.create(folder, task, name))

    def open_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open project folder")
        if folder:
            self._open(folder)

    def open_demo(self) -> None:
        if self._guard(self.controller.open_demo) is None and self.session.project is None:
            QMessageBox.information(self, "Demo project", "The demo project is not available.")

    def import_dialog(self) -> None:
        if self.session.project is None:
            QMessageBox.information(self, "Import", "Open or create a project first.")
            return
        from twt_gui.pages.import_dialog import ImportDialog

        dialog = ImportDialog(self.session, self)
        if dialog.exec():
            self.session.notify("queries")
            self.refresh()

    def _open(self, path: str) -> None:
        self._guard(lambda: self.controller.open(path))

    def _guard(self, action):  # type: ignore[no-untyped-def]
        try:
            return action()
        except TwtError as exc:
            QMessageBox.warning(self, "TwT Studio", str(exc))
            return None

    # ---- view --------------------------------------------------------------------------
    def refresh(self) -> None:
        summary = self.controller.summary()
        if not summary:
            self.info.setText("")
            self.model.set_source(None)
            self.panel.show_empty(
                True,
                "No project open",
                "Create a project for your task (code, choice or math), open an existing "
                "project folder, or try the demo project.",
            )
            self.empty_import.hide()
            return
        splits = ", ".join(f"{n} {s}" for s, n in sorted(summary["splits"].items())) or "none"
        self.info.setText(
            f"<b>{summary['name']}</b> · task <b>{summary['task']}</b> · queries: {splits} · "
            f"teachers: {summary['teachers']} · generations: {summary['generations']}"
            f"<br><span style='color:gray'>{summary['root']}</span>"
        )
        split = self.split.currentText()
        self.model.set_source(self.controller.queries(None if split == "all" else split))
        self.model.fetchMore()
        if summary["queries"] == 0:
            self.empty_import.show()
            self.panel.show_empty(
                True,
                "No queries yet",
                "Import a data file (MBPP, CommonsenseQA, GSM8K, or any JSONL/CSV with a "
                "column mapping) to start. The teachers will label these queries.",
            )
        else:
            self.panel.show_empty(False)
