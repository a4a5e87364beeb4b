"""Edit a sample's rationale and answer; every version is kept (sample_edits)."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLineEdit,
    QListWidget,
    QPlainTextEdit,
    QWidget,
)


class SampleEditDialog(QDialog):
    def __init__(self, history: list[dict[str, Any]], parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Edit sample")
        self.resize(720, 560)
        self.history = history
        self.versions = QListWidget()
        for version in history:
            label = "original" if version["version"] == 0 else f"v{version['version']}"
            note = f" — {version['note']}" if version.get("note") else ""
            self.versions.addItem(f"{label} {version.get('created_at') or ''}{note}")
        self.versions.currentRowChanged.connect(self._load_version)
        self.rationale = QPlainTextEdit()
        self.answer = QLineEdit()
        self.note = QLineEdit()
        self.note.setPlaceholderText("why this edit (kept in the history)")
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("History", self.versions)
        form.addRow("Rationale", self.rationale)
        form.addRow("Answer", self.answer)
        form.addRow("Note", self.note)
        form.addRow(buttons)
        self.versions.setMaximumHeight(110)
        self.versions.setCurrentRow(len(history) - 1)

    def _load_version(self, row: int) -> None:
        if 0 <= row < len(self.history):
            self.rationale.setPlainText(self.history[row]["rationale"] or "")
            self.answer.setText(self.history[row]["answer"] or "")

    def values(self) -> tuple[str, str, str | None]:
        return self.rationale.toPlainText(), self.answer.text(), self.note.text().strip() or None
