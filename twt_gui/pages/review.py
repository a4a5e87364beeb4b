"""Review (DCRS) page: filter the generations, see every teacher side by side, decide."""

from __future__ import annotations

import asyncio

from PySide6.QtCore import QModelIndex, Qt, QTimer
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)
from qasync import asyncSlot

from twt_gui.lazy_model import Column, LazySqlModel
from twt_gui.pages.base import Page
from twt_gui.pages.review_ctl import (
    PARSE_STATUSES,
    STATUSES,
    ReviewController,
    ReviewFilter,
    bulk_override,
)
from twt_gui.pages.review_detail import ReviewDetail
from twt_gui.pages.review_stats import ReviewStats
from twt_gui.pages.sample_edit_dialog import SampleEditDialog
from twt_gui.session import ProjectSession
from twt_gui.widgets import EmptyState, StatePanel, table_view

COLUMNS = (
    Column("id", "#", align_right=True),
    Column("query_id", "Query", align_right=True),
    Column("teacher", "Teacher"),
    Column("confidence", "Conf.", align_right=True),
    Column("parse_status", "Parse"),
    Column("decision", "Decision"),
    Column("reason", "Reason"),
    Column("answer", "Answer"),
    Column("rationale", "Rationale"),
)


class ReviewPage(Page):
    title = "Review"
    subtitle = "Curate the distillation set (DCRS): A accept · R reject · N/J next."

    def __init__(self, session: ProjectSession):
        super().__init__(session)
        self.controller: ReviewController | None = None
        self._filter_generation = 0
        self.model = LazySqlModel(COLUMNS)
        self._build()
        self._debounce = QTimer(self, singleShot=True, interval=250)
        self._debounce.timeout.connect(self.apply_filter)
        self.refresh()

    # ---- layout ------------------------------------------------------------------------
    def _build(self) -> None:
        self.teacher = QComboBox()
        self.status = QComboBox()
        self.status.addItems(list(STATUSES))
        self.parse = QComboBox()
        self.parse.addItems(list(PARSE_STATUSES))
        self.min_conf = QDoubleSpinBox(minimum=0.0, maximum=1.0, singleStep=0.05, value=0.0)
        self.max_conf = QDoubleSpinBox(minimum=0.0, maximum=1.0, singleStep=0.05, value=1.0)
        self.search = QLineEdit(placeholderText="search rationale, answer, query")
        bar = QHBoxLayout()
        for label, widget in (
            ("Teacher", self.teacher),
            ("Status", self.status),
            ("Parse", self.parse),
            ("Confidence", self.min_conf),
            ("to", self.max_conf),
        ):
            bar.addWidget(QLabel(label))
            bar.addWidget(widget)
        bar.addWidget(self.search, 1)
        for combo in (self.teacher, self.status, self.parse):
            combo.currentIndexChanged.connect(lambda _: self._debounce.start())
        for spin in (self.min_conf, self.max_conf):
            spin.valueChanged.connect(lambda _: self._debounce.start())
        self.search.textChanged.connect(lambda _: self._debounce.start())

        self.table = table_view()
        self.table.setModel(self.model)
        for column, width in enumerate((60, 60, 110, 60, 90, 130, 120, 110)):
            self.table.setColumnWidth(column, width)
        self.table.selectionModel().currentRowChanged.connect(self._current_changed)
        self.count = QLabel()
        self.detail = ReviewDetail()
        self.stats = ReviewStats()
        actions = self._build_actions()

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.table, 1)
        left_layout.addWidget(self.count)
        left_layout.addLayout(actions)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(left)
        self.splitter.addWidget(self.detail)
        self.splitter.setSizes([620, 560])
        self.tabs = QTabWidget()
        self.tabs.addTab(self.splitter, "Samples")
        self.tabs.addTab(self.stats, "Statistics")
        self.tabs.currentChanged.connect(lambda _: self._refresh_stats())
        content = QWidget()
        layout = QVBoxLayout(content)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.tabs, 1)
        self.panel = StatePanel(content, EmptyState("", ""))
        self.body.addWidget(self.panel, 1)
        for key, slot in (
            ("A", self.accept_current),
            ("R", self.reject_current),
            ("N", self.next_row),
            ("J", self.next_row),
            ("K", self.previous_row),
        ):
            shortcut = QShortcut(QKeySequence(key), self.table)
            shortcut.setContext(Qt.ShortcutContext.WidgetShortcut)
            shortcut.activated.connect(slot)

    def _build_actions(self) -> QVBoxLayout:
        rows = QVBoxLayout()
        row = QHBoxLayout()
        bulk = QHBoxLayout()
        self.note = QLineEdit(placeholderText="note for the decision")
        self.accept_button = QPushButton("Accept (A)")
        self.reject_button = QPushButton("Reject (R)")
        self.clear_button = QPushButton("Clear")
        self.edit_button = QPushButton("Edit…")
        self.bulk_accept = QPushButton("Accept all in filter")
        self.bulk_reject = QPushButton("Reject all in filter")
        self.accept_button.clicked.connect(self.accept_current)
        self.reject_button.clicked.connect(self.reject_current)
        self.clear_button.clicked.connect(lambda: self._decide(None))
        self.edit_button.clicked.connect(self.edit_current)
        self.bulk_accept.clicked.connect(lambda: self.bulk("accept"))
        self.bulk_reject.clicked.connect(lambda: self.bulk("reject"))
        for widget in (self.accept_button, self.reject_button, self.clear_button, self.edit_button):
            row.addWidget(widget)
        bulk.addWidget(self.note, 1)
        bulk.addWidget(self.bulk_accept)
        bulk.addWidget(self.bulk_reject)
        rows.addLayout(row)
        rows.addLayout(bulk)
        return rows

    # ---- data --------------------------------------------------------------------------
    def refresh(self) -> None:
        project = self.session.project
        self.controller = ReviewController(project) if project else None
        if self.controller is None:
            self.panel.show_empty(True, "No project open", "Open a project on the Projects page.")
            self.model.set_source(None)
            return
        if self.controller.total() == 0:
            self.panel.show_empty(
                True,
                "Nothing to review yet",
                "Add teachers on the Setup page, then run labelling on the Labelling page. "
                "Their outputs appear here to accept, reject or edit.",
            )
            self.model.set_source(None)
            return
        self.panel.show_empty(False)
        current = self.teacher.currentText()
        self.teacher.blockSignals(True)
        self.teacher.clear()
        self.teacher.addItems(["all", *self.controller.teachers()])
        self.teacher.setCurrentText(current or "all")
        self.teacher.blockSignals(False)
        self.apply_filter()

    def current_filter(self) -> ReviewFilter:
        teacher = self.teacher.currentText()
        return ReviewFilter(
            teacher=None if teacher in ("", "all") else teacher,
            status=self.status.currentText(),
            parse_status=self.parse.currentText(),
            min_confidence=self.min_conf.value(),
            max_confidence=self.max_conf.value(),
            search=self.search.text(),
        )

    def apply_filter(self) -> None:
        if self.controller is None:
            return
        self._filter_generation += 1
        f = self.current_filter()
        self.model.set_source(self.controller.source(f))
        self.model.fetchMore()
        self._update_count(f)
        can_decide = f.status != "failed"
        for button in (self.bulk_accept, self.bulk_reject, self.accept_button, self.reject_button):
            button.setEnabled(can_decide)
        if self.model.rowCount():
            self.table.selectRow(0)
        if self.tabs.currentWidget() is self.stats:
            self._refresh_stats()

    def _update_count(self, f: ReviewFilter) -> None:
        assert self.controller is not None
        self.filtered = self.controller.count(f)
        self.count.setText(f"{self.filtered} of {self.controller.total()} outputs match the filter")

    def _refresh_stats(self) -> None:
        if self.controller is not None and self.tabs.currentWidget() is self.stats:
            self.stats.show_stats(self.controller.histograms(), self.controller.calibration())

    def _current_changed(self, current: QModelIndex, previous: QModelIndex) -> None:
        if self.controller is None or not current.isValid():
            return
        row = self.model.row(current.row())
        self.detail.show_detail(self.controller.query_detail(row["query_id"]), row["id"])

    def current_id(self) -> int | None:
        index = self.table.currentIndex()
        return self.model.row(index.row())["id"] if index.isValid() else None

    # ---- decisions ---------------------------------------------------------------------
    def accept_current(self) -> None:
        self._decide("accept", advance=True)

    def reject_current(self) -> None:
        self._decide("reject", advance=True)

    def _decide(self, decision: str | None, advance: bool = False) -> None:
        generation_id = self.current_id()
        if self.controller is None or generation_id is None:
            return
        self.controller.override([generation_id], decision, self.note.text().strip() or None)
        self.note.clear()
        row = self.table.currentIndex().row()
        self.model.reload()
        self._update_count(self.current_filter())
        self.session.notify("selections")
        target = min(row + (1 if advance else 0), self.model.rowCount() - 1)
        if target >= 0:
            self.table.selectRow(target)
        if not advance:
            self._current_changed(self.table.currentIndex(), QModelIndex())

    def next_row(self) -> None:
        self._move(1)

    def previous_row(self) -> None:
        self._move(-1)

    def _move(self, step: int) -> None:
        row = self.table.currentIndex().row() + step
        if row >= self.model.rowCount() and self.model.canFetchMore():
            self.model.fetchMore()
        if 0 <= row < self.model.rowCount():
            self.table.selectRow(row)

    def edit_current(self) -> None:
        generation_id = self.current_id()
        if self.controller is None or generation_id is None:
            return
        dialog = SampleEditDialog(self.controller.history(generation_id), self)
        if dialog.exec():
            rationale, answer, note = dialog.values()
            self.controller.edit(generation_id, rationale, answer, note)
            self._current_changed(self.table.currentIndex(), QModelIndex())

    @asyncSlot()
    async def bulk(self, decision: str) -> None:
        if self.controller is None or self.session.root is None:
            return
        f = self.current_filter()
        n = self.filtered
        answer = QMessageBox.question(
            self, "Bulk decision", f"{decision.title()} all {n} outputs matching the filter?"
        )
        if answer != QMessageBox.StandardButton.Yes:
            return
        await self.bulk_apply(f, decision)

    async def bulk_apply(self, f: ReviewFilter, decision: str | None) -> int:
        buttons = (self.bulk_accept, self.bulk_reject, self.accept_button, self.reject_button)
        for button in buttons:
            button.setEnabled(False)
        generation = self._filter_generation
        try:
            note = self.note.text().strip() or None
            assert self.session.root is not None
            changed = await asyncio.to_thread(bulk_override, self.session.root, f, decision, note)
        finally:
            for button in buttons:
                button.setEnabled(True)
        if generation == self._filter_generation:
            self.model.reload()
            self._update_count(f)
        self.session.notify("selections")
        return changed
