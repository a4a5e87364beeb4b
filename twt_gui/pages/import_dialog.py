"""Import data: choose a file, check the preview and the column mapping, then import."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from twt_backend.errors import TwtError
from twt_backend.ops.projects import FORMATS, ImportResult, ParsedFile
from twt_gui.pages.import_ctl import ImportController, ImportPlan, file_columns, target_fields
from twt_gui.session import ProjectSession

AUTO = "(automatic)"


class ImportDialog(QDialog):
    def __init__(self, session: ProjectSession, parent: QWidget | None = None):
        super().__init__(parent)
        assert session.project is not None
        self.setWindowTitle("Import data")
        self.resize(900, 620)
        self.controller = ImportController(session.project)
        self.parsed: ParsedFile | None = None
        self.result: ImportResult | None = None
        self.path = QLineEdit(placeholderText="a JSONL, JSON or CSV file")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        self.fmt = QComboBox()
        self.fmt.addItems(list(FORMATS))
        self.split = QComboBox()
        self.split.addItems(["from the file", "train", "test"])
        self.mapping: dict[str, QComboBox] = {}
        mapping_box = QGroupBox("Column mapping (generic JSONL/CSV)")
        mapping_form = QFormLayout(mapping_box)
        for name in target_fields(session.project.task):
            combo = QComboBox()
            combo.addItem(AUTO)
            combo.currentIndexChanged.connect(lambda _: self.update_preview())
            self.mapping[name] = combo
            mapping_form.addRow(name, combo)
        self.preview = QTableWidget()
        self.message = QLabel(objectName="fieldError")
        self.message.setWordWrap(True)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Import")
        self.buttons.accepted.connect(self.do_import)
        self.buttons.rejected.connect(self.reject)
        top = QFormLayout()
        row = QHBoxLayout()
        row.addWidget(self.path, 1)
        row.addWidget(browse)
        top.addRow("File", row)
        top.addRow("Format", self.fmt)
        top.addRow("Split", self.split)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(mapping_box)
        layout.addWidget(QLabel("<b>Preview</b> (first rows after conversion)"))
        layout.addWidget(self.preview, 1)
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)
        self.path.editingFinished.connect(self.load_file)
        self.fmt.currentIndexChanged.connect(lambda _: self.update_preview())
        self.split.currentIndexChanged.connect(lambda _: self.update_preview())
        self._ok(False)

    def _ok(self, enabled: bool) -> None:
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(enabled)

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Data file", "", "Data (*.jsonl *.json *.csv)")
        if path:
            self.set_file(Path(path))

    def set_file(self, path: Path) -> None:
        self.path.setText(str(path))
        self.load_file()

    def load_file(self) -> None:
        try:
            columns = file_columns(Path(self.path.text().strip()))
        except (TwtError, OSError) as exc:
            columns = []
            self.message.setText(str(exc))
        for combo in self.mapping.values():
            combo.blockSignals(True)
            combo.clear()
            combo.addItems([AUTO, *columns])
            combo.blockSignals(False)
        self.update_preview()

    def plan(self) -> ImportPlan:
        split = self.split.currentText()
        return ImportPlan(
            Path(self.path.text().strip()),
            self.fmt.currentText(),
            None if split == "from the file" else split,
            {k: c.currentText() for k, c in self.mapping.items() if c.currentText() != AUTO},
        )

    def update_preview(self) -> None:
        self.parsed = None
        self._ok(False)
        if not self.path.text().strip():
            return
        try:
            self.parsed = self.controller.parse(self.plan())
        except (TwtError, OSError) as exc:
            self.message.setText(str(exc))
            self.preview.setRowCount(0)
            return
        rows = self.controller.preview_rows(self.parsed)
        headers = list(dict.fromkeys(k for r in rows for k in r))
        self.preview.setColumnCount(len(headers))
        self.preview.setHorizontalHeaderLabels(headers)
        self.preview.setRowCount(len(rows))
        for i, r in enumerate(rows):
            for j, key in enumerate(headers):
                self.preview.setItem(i, j, QTableWidgetItem(str(r.get(key, ""))[:200]))
        self.message.setText(
            f"{len(self.parsed.queries)} queries read as {self.parsed.format}; ready to import."
        )
        self._ok(True)

    def do_import(self) -> None:
        if self.parsed is None:
            return
        try:
            self.result = self.controller.run(self.parsed)
        except TwtError as exc:
            self.message.setText(str(exc))
            return
        self.accept()
