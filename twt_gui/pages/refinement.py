"""Refinement page: original rationale, student answer and refined rationale side by side."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, Qt, QTimer
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from twt_backend.errors import TwtError
from twt_backend.ops import jobs
from twt_gui.lazy_model import Column, LazySqlModel
from twt_gui.pages.base import Page
from twt_gui.pages.refinement_ctl import RefinementController, word_diff_html
from twt_gui.session import ProjectSession
from twt_gui.widgets import EmptyState, StatePanel, table_view

POLL_MS = 1000
COLUMNS = (
    Column("id", "#", align_right=True),
    Column("query_id", "Query", align_right=True),
    Column("teacher", "Teacher"),
    Column("round", "Round", align_right=True),
    Column("status", "Status"),
    Column("tokens_original", "Tokens before", align_right=True),
    Column("tokens_refined", "Tokens after", align_right=True),
)


def _column(title: str, widget: QWidget) -> QWidget:
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    label = QLabel(f"<b>{title}</b>")
    layout.addWidget(label)
    layout.addWidget(widget, 1)
    box.setProperty("title_label", label)
    return box


class RefinementPage(Page):
    title = "Refinement"
    subtitle = "Teacher-guided compression before stage 2: the refined rationale matches the student's style."

    def __init__(self, session: ProjectSession):
        super().__init__(session)
        self.controller: RefinementController | None = None
        self.model = LazySqlModel(COLUMNS)
        self.table = table_view()
        self.table.setModel(self.model)
        self.table.selectionModel().currentRowChanged.connect(self._show)
        self.original = QPlainTextEdit(readOnly=True)
        self.student = QPlainTextEdit(readOnly=True)
        self.diff = QTextBrowser()
        self.editor = QPlainTextEdit()
        self.editor.setPlaceholderText("edit the refined rationale here, then Save edit")
        self.counts = QLabel()
        self.job_status = QLabel()  # the refinement job's progress, above the page
        self.job_status.hide()
        self.timer = QTimer(self, interval=POLL_MS)
        self.timer.timeout.connect(self.poll_job)
        self._job_active = False
        self.titles = [QLabel() for _ in range(3)]
        columns = QSplitter(Qt.Orientation.Horizontal)
        for title, widget in zip(
            ("Teacher's original", "Student's answer", "Refined (diff against original)"),
            (self.original, self.student, self.diff),
            strict=True,
        ):
            columns.addWidget(_column(title, widget))
        buttons = QHBoxLayout()
        for text, slot in (
            ("Accept", self.accept),
            ("Reject", self.reject),
            ("Save edit", self.save_edit),
            ("Redo", self.redo),
            ("Run refinement job", self.run_job),
        ):
            button = QPushButton(text)
            button.clicked.connect(slot)
            buttons.addWidget(button)
        buttons.addStretch()
        detail = QWidget()
        layout = QVBoxLayout(detail)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.counts)
        layout.addWidget(columns, 3)
        layout.addWidget(self.editor, 1)
        layout.addLayout(buttons)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(detail)
        splitter.setSizes([220, 480])
        self.panel = StatePanel(splitter, EmptyState("", ""))
        self.run_button = self.panel.empty.add_action("Run refinement job", self.run_job)
        self.body.addWidget(self.job_status)
        self.body.addWidget(self.panel, 1)
        self.refresh()

    def activated(self) -> None:
        self.refresh()
        self.poll_job()
        self.timer.start()

    def deactivated(self) -> None:
        self.timer.stop()

    def poll_job(self) -> None:
        """The latest refinement job's progress; the table reloads when it ends."""
        job = self.controller.job() if self.controller else None
        if job is None:
            self.job_status.hide()
            return
        self.job_status.setText(self.controller.job_text(job))  # type: ignore[union-attr]
        self.job_status.show()
        active = job["status"] in jobs.ACTIVE
        if self._job_active and not active:
            self.refresh()
        self._job_active = active

    def refresh(self) -> None:
        project = self.session.project
        self.controller = RefinementController(project) if project else None
        if self.controller is None:
            self.run_button.hide()
            self.panel.show_empty(True, "No project open", "Open a project on the Projects page.")
            return
        if self.controller.count() == 0:
            self.run_button.show()
            self.panel.show_empty(
                True,
                "No refinements yet",
                "After stage 1 training and student inference, each teacher rewrites its "
                "rationale to match the student's style and length. Run the refinement job "
                "(or `twt refine`); the results appear here to accept, edit or redo.",
            )
            return
        self.panel.show_empty(False)
        self.model.set_source(self.controller.source())
        self.model.fetchMore()
        if self.model.rowCount():
            self.table.selectRow(0)

    def current_id(self) -> int | None:
        index = self.table.currentIndex()
        return self.model.row(index.row())["id"] if index.isValid() else None

    def _show(self, current: QModelIndex, previous: QModelIndex) -> None:
        if self.controller is None or not current.isValid():
            return
        detail = self.controller.detail(self.model.row(current.row())["id"])
        self.original.setPlainText(detail["original"] or "")
        self.student.setPlainText(detail["student_output"] or "")
        self.diff.setHtml(word_diff_html(detail["original"] or "", detail["refined"]))
        self.editor.setPlainText(detail["refined"])
        saved = detail["tokens_original"] - detail["tokens_refined"]
        self.counts.setText(
            f"Tokens: original {detail['tokens_original']} · student {detail['tokens_student']}"
            f" · refined {detail['tokens_refined']} ({saved:+d} saved) · status <b>{detail['status']}</b>"
        )

    def _act(self, action) -> None:  # type: ignore[no-untyped-def]
        refinement_id = self.current_id()
        if refinement_id is None:
            return
        row = self.table.currentIndex().row()
        try:
            action(refinement_id)
        except TwtError as exc:  # a rule of ops.refinements: say it, change nothing
            QMessageBox.warning(self, "Refinement", str(exc))
            return
        self.model.reload()
        self.table.selectRow(row)
        self._show(self.table.currentIndex(), QModelIndex())

    def accept(self) -> None:
        if self.controller:
            self._act(self.controller.accept)

    def reject(self) -> None:
        if self.controller:
            self._act(self.controller.reject)

    def redo(self) -> None:
        if self.controller:
            self._act(self.controller.redo)

    def save_edit(self) -> None:
        if self.controller:
            text = self.editor.toPlainText()
            self._act(lambda rid: self.controller.edit(rid, text))  # type: ignore[union-attr]

    def run_job(self) -> None:
        if self.controller is None:
            return
        try:
            job_id = self.controller.start_refine_job()
        except TwtError as exc:
            QMessageBox.warning(self, "Refinement", str(exc))
            return
        self.counts.setText(f"Refinement job {job_id} started.")
        self.poll_job()
        self.timer.start()
