"""Dialogs of the Projects page: new project."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QWidget,
)

from twt_backend.ops.projects import DB_NAME, TASKS


class NewProjectDialog(QDialog):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("New project")
        self.folder = QLineEdit()
        self.folder.setPlaceholderText("an empty or new folder")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.folder, 1)
        row.addWidget(browse)
        self.task = QComboBox()
        self.task.addItems(list(TASKS))
        self.name = QLineEdit()
        self.name.setPlaceholderText("defaults to the folder name")
        self.error = QLabel(objectName="fieldError")
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self._accept)
        self.buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("Folder", row)
        form.addRow("Task", self.task)
        form.addRow("Name", self.name)
        form.addRow(self.error)
        form.addRow(self.buttons)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Project folder")
        if folder:
            self.folder.setText(folder)

    def problem(self) -> str:
        text = self.folder.text().strip()
        if not text:
            return "Choose a folder for the project."
        if (Path(text) / DB_NAME).exists():
            return "A project already exists in this folder: open it instead."
        return ""

    def _accept(self) -> None:
        problem = self.problem()
        self.error.setText(problem)
        if not problem:
            self.accept()

    def values(self) -> tuple[Path, str, str]:
        return Path(self.folder.text().strip()), self.task.currentText(), self.name.text().strip()
