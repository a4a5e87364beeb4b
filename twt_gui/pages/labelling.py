"""Labelling page: start and stop teacher labelling; live progress, cost and errors."""

from __future__ import annotations

import asyncio
import html
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)
from qasync import asyncSlot

from twt_backend.errors import TwtError
from twt_backend.ops import jobs
from twt_backend.progress import duration, job_progress
from twt_gui.pages.base import Page
from twt_gui.pages.jobs_ctl import cancel_job
from twt_gui.pages.labelling_ctl import LabellingController
from twt_gui.session import ProjectSession
from twt_gui.widgets import EmptyState, StatePanel

POLL_MS = 500


class TeacherBar(QWidget):
    def __init__(self, name: str):
        super().__init__()
        self.bar = QProgressBar()
        self.detail = QLabel()
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        label = QLabel(f"<b>{name}</b>")
        label.setMinimumWidth(140)
        layout.addWidget(label)
        layout.addWidget(self.bar, 1)
        layout.addWidget(self.detail)
        self.detail.setMinimumWidth(330)

    def update_bar(self, bar: dict[str, Any], eta_s: float | None = None) -> None:
        self.bar.setRange(0, max(int(bar.get("total", 0)), 1))
        self.bar.setValue(int(bar.get("done", 0)))
        self.bar.setFormat(f"{bar.get('done', 0)} / {bar.get('total', 0)}")
        self.detail.setText(
            f"failed {bar.get('failed', 0)} · in flight {bar.get('in_flight', 0)}"
            f" · {bar.get('tok/s', 0)} tok/s · {bar.get('cost', '')}"
            + (f" · ETA {duration(eta_s)}" if eta_s is not None else "")
        )


class LabellingPage(Page):
    title = "Labelling"
    subtitle = "Teachers label the queries with rationale, answer and confidence."

    def __init__(self, session: ProjectSession):
        super().__init__(session)
        self.controller: LabellingController | None = None
        self.job_id: int | None = None
        self.bars: dict[str, TeacherBar] = {}
        self.timer = QTimer(self, interval=POLL_MS)
        self.timer.timeout.connect(self.poll)
        content = QWidget()
        layout = QVBoxLayout(content)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._build_options())
        self.status = QLabel("No labelling run yet.")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        progress = QGroupBox("Progress per teacher")
        self.bars_layout = QVBoxLayout(progress)
        layout.addWidget(progress)
        self.totals = QLabel()
        layout.addWidget(self.totals)
        layout.addWidget(self._build_errors(), 1)
        self.panel = StatePanel(content, EmptyState("", ""))
        self.body.addWidget(self.panel, 1)
        self.refresh()

    def _build_options(self) -> QGroupBox:
        box = QGroupBox("Run")
        grid = QGridLayout(box)
        self.teacher_list = QListWidget()
        self.teacher_list.setMaximumHeight(90)
        self.split = QComboBox()
        self.split.addItems(["train", "test", "all"])
        self.limit = QSpinBox(minimum=0, maximum=10_000_000, specialValueText="all")
        self.budget = QDoubleSpinBox(minimum=0.0, maximum=1e6, decimals=2, prefix="$ ")
        self.budget.setSpecialValueText("no budget")
        self.start_button = QPushButton("Start labelling", objectName="primary")
        self.stop_button = QPushButton("Stop")
        self.select_button = QPushButton("Run selection (DCRS)")
        self.start_button.clicked.connect(self.start)
        self.stop_button.clicked.connect(self.stop)
        self.select_button.clicked.connect(self.run_selection)
        grid.addWidget(QLabel("Teachers"), 0, 0)
        grid.addWidget(self.teacher_list, 0, 1, 3, 1)
        for row, (label, widget) in enumerate(
            (("Split", self.split), ("Queries", self.limit), ("Budget", self.budget))
        ):
            grid.addWidget(QLabel(label), row, 2)
            grid.addWidget(widget, row, 3)
        buttons = QVBoxLayout()
        for button in (self.start_button, self.stop_button, self.select_button):
            buttons.addWidget(button)
        grid.addLayout(buttons, 0, 4, 3, 1)
        grid.setColumnStretch(1, 1)
        return box

    def _build_errors(self) -> QGroupBox:
        box = QGroupBox("Errors")
        layout = QVBoxLayout(box)
        self.errors = QTableWidget(0, 5)
        self.errors.setHorizontalHeaderLabels(["#", "Teacher", "Query", "Attempts", "Error"])
        self.errors.horizontalHeader().setStretchLastSection(True)
        self.errors.verticalHeader().setVisible(False)
        self.retry_button = QPushButton("Retry failed")
        self.retry_button.clicked.connect(self.retry)
        layout.addWidget(self.errors, 1)
        layout.addWidget(self.retry_button, 0, Qt.AlignmentFlag.AlignRight)
        return box

    # ---- state -------------------------------------------------------------------------
    def refresh(self) -> None:
        project = self.session.project
        self.controller = LabellingController(project) if project else None
        if self.controller is None:
            self.timer.stop()
            self.panel.show_empty(True, "No project open", "Open a project on the Projects page.")
            return
        teachers = self.controller.teachers()
        if not teachers:
            self.panel.show_empty(
                True,
                "No teachers yet",
                "Add at least one teacher on the Setup page (an OpenAI-compatible server, "
                "Mistral, a local model, or a replay file), then come back to start labelling.",
            )
            return
        self.panel.show_empty(False)
        self.teacher_list.clear()
        for teacher in teachers:
            item = QListWidgetItem(
                f"{teacher['name']}  ({teacher['provider']}: {teacher['model']})"
            )
            item.setData(Qt.ItemDataRole.UserRole, teacher["name"])
            item.setCheckState(
                Qt.CheckState.Checked if teacher["enabled"] else Qt.CheckState.Unchecked
            )
            self.teacher_list.addItem(item)
        job = self.controller.reattach()
        self.job_id = job["id"] if job else None
        self.poll()

    def activated(self) -> None:
        self.refresh()
        self.timer.start()

    def deactivated(self) -> None:
        if not self._running():
            self.timer.stop()

    def _running(self) -> bool:
        if self.controller is None or self.job_id is None:
            return False
        return self.controller.job(self.job_id)["status"] in jobs.ACTIVE

    def poll(self) -> None:
        if self.controller is None or self.panel.is_empty:
            return
        job = self.controller.job(self.job_id) if self.job_id else None
        running = bool(job and job["status"] in jobs.ACTIVE)
        self.start_button.setEnabled(not running)
        self.stop_button.setEnabled(running)
        if job:
            progress = job["progress"]
            readable = job_progress(job)
            self.status.setText(
                f"Job {job['id']}: <b>{job['status']}</b> — {html.escape(readable.after_status())}"
                f"<br>{html.escape(str(progress.get('message', '')))}"
                + (f"<br><span style='color:#c0392b'>{job['error']}</span>" if job["error"] else "")
            )
            etas = {bar.label: bar.eta_s for bar in readable.bars}
            self._show_bars(progress.get("bars", {}), etas)
            estimate = progress.get("estimate_usd")
        else:
            estimate = None
        self._show_totals(estimate)
        self._show_errors()

    def _show_bars(
        self, bars: dict[str, dict[str, Any]], etas: dict[str, float | None] | None = None
    ) -> None:
        for name, bar in bars.items():
            if name not in self.bars:
                self.bars[name] = TeacherBar(name)
                self.bars_layout.addWidget(self.bars[name])
            self.bars[name].update_bar(bar, (etas or {}).get(name))

    def _show_totals(self, estimate: float | None) -> None:
        assert self.controller is not None
        t = self.controller.totals()
        budget = self.budget.value()
        text = (
            f"Outputs: {t['ok']} ok, {t['failed']} failed · tokens in {t['tokens_in']:,}"
            f" / out {t['tokens_out']:,} · cost <b>${t['cost']:.4f}</b>"
        )
        if budget:
            text += f" of ${budget:.2f} budget"
        if estimate is not None:
            text += f" · this run estimated ${estimate:.4f}"
        self.totals.setText(text)

    def _show_errors(self) -> None:
        assert self.controller is not None
        rows = self.controller.errors()
        self.errors.setRowCount(len(rows))
        for i, row in enumerate(rows):
            for j, key in enumerate(("id", "teacher", "query_id", "attempts", "error")):
                self.errors.setItem(i, j, QTableWidgetItem(str(row[key] or "")))
        self.retry_button.setEnabled(bool(rows))

    # ---- actions -----------------------------------------------------------------------
    def chosen_teachers(self) -> list[str]:
        items = (self.teacher_list.item(i) for i in range(self.teacher_list.count()))
        return [
            str(item.data(Qt.ItemDataRole.UserRole))
            for item in items
            if item.checkState() == Qt.CheckState.Checked
        ]

    def start(self, teachers: list[str] | None = None) -> int | None:
        if self.controller is None:
            return None
        split = self.split.currentText()
        try:
            self.job_id = self.controller.start(
                teachers or self.chosen_teachers() or None,
                self.limit.value() or None,
                None if split == "all" else split,
                self.budget.value() or None,
            )
        except TwtError as exc:
            QMessageBox.warning(self, "Labelling", str(exc))
            return None
        self.bars.clear()
        while self.bars_layout.count():
            self.bars_layout.takeAt(0).widget().deleteLater()
        self.timer.start()
        self.poll()
        return self.job_id

    def retry(self) -> None:
        if self.controller is not None:
            self.start(self.controller.failed_teachers())

    def run_selection(self) -> None:
        if self.controller is not None:
            try:
                job_id = self.controller.start_selection()
            except TwtError as exc:
                QMessageBox.warning(self, "Selection", str(exc))
                return
            self.status.setText(f"Selection job {job_id} started; see the Review page.")

    @asyncSlot()
    async def stop(self) -> None:
        if self.job_id is None or self.session.root is None:
            return
        self.stop_button.setEnabled(False)
        try:
            await asyncio.to_thread(cancel_job, self.session.root, self.job_id)
        finally:
            self.poll()
