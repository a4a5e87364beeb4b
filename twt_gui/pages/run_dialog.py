""" "New run (ablation)…": start a named run of the project, the app's `twt run --name`.

The paper's ablations as choices: without the compression stage (stage 1 then stage 3,
Table 7), four stages (Table 3), a subset of the teachers (Table 4), the selection strategy
and threshold (Table 5), the refinement method (Table 6). Starting calls
`ops.runs.start_named_run` (the operation behind `twt run --name`) on a worker thread: a
new run's store is seeded with the project's labels first, which may take a moment.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QWidget,
)
from qasync import asyncSlot

from twt_backend.errors import TwtError
from twt_backend.ops.runs import NamedRunStarted, run_choices, start_named_run

PROJECT_SETTING = "(project setting)"


class NewRunDialog(QDialog):
    def __init__(self, project_dir: Path, teachers: list[str], parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("New run (ablation)")
        self.project_dir = Path(project_dir)
        self.started: NamedRunStarted | None = None
        choices = run_choices()
        self.name = QLineEdit()
        self.name.setPlaceholderText("e.g. no-compression, single-gpt, quality-only")
        self.skip_compression = QCheckBox("Without the compression stage (stage 1 → stage 3)")
        self.four_stages = QCheckBox("Four stages")
        self.skip_compression.toggled.connect(lambda on: on and self.four_stages.setChecked(False))
        self.four_stages.toggled.connect(lambda on: on and self.skip_compression.setChecked(False))
        self.teachers = QListWidget()
        self.teachers.setToolTip("Select from these teachers' labels only; none ticked: all.")
        for name in teachers:
            item = QListWidgetItem(name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked)
            self.teachers.addItem(item)
        self.teachers.setMaximumHeight(110)
        self.strategy = QComboBox()
        self.strategy.addItems([PROJECT_SETTING, *choices["strategy"]])
        self.use_threshold = QCheckBox("Threshold s")
        self.threshold = QDoubleSpinBox(minimum=0.0, maximum=1.0, singleStep=0.05, decimals=3)
        self.threshold.setValue(0.95)
        self.threshold.setEnabled(False)
        self.use_threshold.toggled.connect(self.threshold.setEnabled)
        threshold_row = QHBoxLayout()
        threshold_row.addWidget(self.use_threshold)
        threshold_row.addWidget(self.threshold, 1)
        self.refine = QComboBox()
        self.refine.addItems([PROJECT_SETTING, *choices["refine_method"]])
        self.error = QLabel(objectName="fieldError")
        self.error.setWordWrap(True)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Start run")
        self.buttons.accepted.connect(self.start)
        self.buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow(
            QLabel(
                "A named run shares the project's labels and keeps its own selection, "
                "rewrites, adapters and evaluations; compare runs on the Compare page."
            )
        )
        form.addRow("Name", self.name)
        form.addRow("Stages", self.skip_compression)
        form.addRow("", self.four_stages)
        form.addRow("Teachers", self.teachers)
        form.addRow("Selection", self.strategy)
        form.addRow("", threshold_row)
        form.addRow("Refinement", self.refine)
        form.addRow(self.error)
        form.addRow(self.buttons)

    def request(self) -> dict[str, Any]:
        """The arguments of `start_named_run` the dialog's choices make (but the folder)."""
        refine = self.refine.currentText()
        strategy = self.strategy.currentText()
        return {
            "name": self.name.text().strip(),
            "options": {
                "n_stages": 4 if self.four_stages.isChecked() else 3,
                "skip_stages": [2] if self.skip_compression.isChecked() else [],
                "refine": {} if refine == PROJECT_SETTING else {"method": refine},
            },
            "strategy": None if strategy == PROJECT_SETTING else strategy,
            "threshold": self.threshold.value() if self.use_threshold.isChecked() else None,
            "teachers": [
                self.teachers.item(i).text()
                for i in range(self.teachers.count())
                if self.teachers.item(i).checkState() == Qt.CheckState.Checked
            ],
        }

    @asyncSlot()
    async def start(self) -> None:
        request = self.request()
        if not request["name"]:
            self.error.setText("Name the run.")
            return
        self.buttons.setEnabled(False)
        self.error.setText(f"Preparing run {request['name']}…")
        name = request.pop("name")
        try:
            self.started = await asyncio.to_thread(
                start_named_run, self.project_dir, name, **request
            )
        except TwtError as exc:
            self.error.setText(str(exc))
            return
        finally:
            self.buttons.setEnabled(True)
        self.accept()
